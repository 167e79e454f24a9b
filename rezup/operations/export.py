"""Export: a revision's pins in a standard format, for tools other than rezup: its PEP 751
``pylock.<venv>.toml``, or a requirements file with hashes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Optional, Union

from rezup.ground import newest, paths
from rezup.ground.errors import ContainerError
from rezup.operations.inspect import containers, find_revision
from rezup.stages import standard_locks
from rezup.stages.disk_state import RevisionDir
from rezup.stages.plan import Plan, VenvPlan

if TYPE_CHECKING:
    from rezup.stages.http_remote import UrlRevision

log = logging.getLogger("rezup")

FORMATS = ("pylock", "requirements")


def export(
    name: str,
    stamp: Optional[str] = None,
    *,
    venv: str = paths.REZ_VENV,
    format: str = "pylock",
) -> str:
    """The pins of venv ``venv`` of revision ``stamp`` of container ``name`` (default: the
    local revision ``rezup use --local`` enters, else the remote's newest; see
    ``inspect.find_revision``) in ``format``:
    ``pylock`` (the revision's ``pylock.<venv>.toml`` as it is) or ``requirements`` (the
    plan's pinned lines with their hashes). Writes nothing. Raises ContainerError."""
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}")
    revision = _revision(name, stamp)
    plan, planned = _plan_and_venv(revision, venv)
    if format == "requirements":
        return standard_locks.requirements_export(plan, planned, revision.dirname())
    text = _read_lock(revision, planned.name)
    if text is not None:
        return text
    return _lock_now(revision, plan, planned)


def _read_lock(revision: Union[RevisionDir, UrlRevision], venv: str) -> Optional[str]:
    if isinstance(revision, RevisionDir):
        return standard_locks.read_lock(revision.path(), venv)
    return standard_locks.read_by(revision.text, revision.plan()).get(venv)


def _revision(name: str, stamp: Optional[str]) -> Union[RevisionDir, UrlRevision]:
    if stamp is None:
        local = containers(name)[0]
        try:
            chosen, _ = newest.newest_usable(str(local.revisions()))
        except OSError as exc:
            raise ContainerError(f"cannot read {local.revisions()}: {exc}") from None
        if chosen is not None:
            return local.revision(chosen)
    return find_revision(name, stamp)


def _plan_and_venv(revision: Union[RevisionDir, UrlRevision], venv: str) -> tuple[Plan, VenvPlan]:
    where = f"revision {revision.dirname()} of {revision.container().name()}"
    if not revision.is_ready():
        raise ContainerError(f"{where} is {revision.state() or 'missing'}, not ready")
    if not revision.has_plan():
        raise ContainerError(
            f"{where} has no plan.lock (made by rezup 2.x): it has no pins to export; "
            "`rezup add` makes a revision that has"
        )
    plan = revision.plan()
    for planned in plan.venvs:
        if planned.name == venv:
            return plan, planned
    names = ", ".join(repr(v.name) for v in plan.venvs)
    raise ContainerError(f"{where} has no venv {venv!r} (its venvs: {names})")


def _lock_now(revision: Union[RevisionDir, UrlRevision], plan: Plan, venv: VenvPlan) -> str:
    """The standard lock of a revision made before rezup wrote them, made now by uv (for this
    machine's interpreter of the plan's version, from the plan's indexes, uv's cache first)
    and not saved: export writes nothing."""
    from rezup.tools.pythons import planned_python

    log.info(
        "revision %s has no %s (made before rezup wrote standard locks): making it now; "
        "it is not saved",
        revision.dirname(),
        paths.pylock_filename(venv.name),
    )
    python = planned_python(venv.python, venv.python_request, venv.python_version, venv.name)
    body = standard_locks.compile_body(
        venv, python=python, options=plan.uv_options, env=dict(plan.uv_env)
    )
    return standard_locks.lock_text(body, standard_locks.tool_table(plan, venv, revision.dirname()))
