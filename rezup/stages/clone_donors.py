"""Choosing the donor of a clone: a ready revision whose venvs a new revision can be made from
(see ``clone``), by its plan (``identical_revision``) or, before the resolve, by its recipe
(``likely_donor``); and the claim that keeps it from being removed while it is cloned.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from rezup.ground import locations, paths, revision_json
from rezup.ground.errors import BuildError, RevisionGoneError, one_line
from rezup.stages import donor_index
from rezup.stages.path_rewrite import CloneError
from rezup.tools.production import pyvenv_version

if TYPE_CHECKING:
    from rezup.stages.plan import Plan

log = logging.getLogger("rezup")


def identical_revision(
    revisions_dir: Path,
    plan_digest: str,
    *,
    plan: Optional[Plan] = None,
    target: Optional[Path] = None,
    allow_editables: bool = False,
    limit: int = 32,
) -> Optional[Path]:
    """The newest ready revision that a revision of plan ``plan_digest`` in ``revisions_dir``
    can be cloned from (see ``clone_venvs``), or None: one of that container, or, when
    ``plan`` is given, of any container of the root whose plan differs only by the
    container's name (``donor_index``, ``Plan.build_digest``).

    It must be ready (``revision.json`` readable; never one being built, retired or in a
    container being dropped), hold the ``plan.lock`` its ``revision.json`` names, and each of
    its venvs must run on the interpreter the plan names (it exists, and has the plan's minor
    version) and be on the filesystem of ``target`` (the new revision's folder, which need not
    exist yet; default: ``revisions_dir``). ``plan`` is the new plan (read from the donor's
    ``plan.lock`` when not given).

    A plan with editable installs, or with a local package that has no hash, is never cloned
    unless ``allow_editables``: their files may have changed since the donor was built
    (entry points, metadata), which a new build would pick up and a clone would not.

    Only the ``limit`` newest ready revisions are looked at, so that a container of thousands
    of revisions costs no more than a few reads of ``revision.json``.
    """
    if os.name == "nt":  # the production scripts are .exe launchers that embed the path
        return None
    revisions_dir = Path(revisions_dir)
    if (revisions_dir.parent / paths.DROPPED_MARKER).exists():  # a drop is under way
        return None
    try:
        device = _device(Path(target) if target is not None else revisions_dir)
    except OSError:
        return None
    candidates = donor_index.donors(
        revisions_dir.parent.parent,
        donor_index.plan_key(plan.build_digest) if plan is not None else None,
        revisions_dir.parent.name,
        skip=Path(target) if target is not None else None,
        scan=limit,
    )
    for candidate in candidates:  # any container of the root, then this one's older ones
        why_not = _unfit(candidate, plan_digest, plan, device, allow_editables)
        if why_not is None:
            return candidate
        log.debug("revision %s cannot be cloned: %s", _named(candidate), why_not)
    return None


def _named(revision: Path) -> str:
    """ "STAMP of CONTAINER", for a revision that may be of another container."""
    return f"{revision.name} of {revision.parent.parent.name}"


def can_clone(revision: Path, plan_digest: str, *, target: Path) -> bool:
    """Whether a revision of plan ``plan_digest`` at ``target`` can be cloned from the ready
    ``revision`` (as ``identical_revision`` judges each of its candidates)."""
    if os.name == "nt" or (revision.parent.parent / paths.DROPPED_MARKER).exists():
        return False
    try:
        device = _device(Path(target))
    except OSError:
        return False
    why_not = _unfit(revision, plan_digest, None, device, False)
    if why_not is not None:
        log.debug("revision %s cannot be cloned: %s", revision.name, why_not)
    return why_not is None


def _device(path: Path) -> int:
    """The filesystem of ``path``, or of its nearest existing parent."""
    path = Path(os.path.abspath(path))
    for candidate in (path, *path.parents):
        try:
            return os.stat(candidate).st_dev
        except FileNotFoundError:
            continue
    raise FileNotFoundError(errno.ENOENT, "no such folder", str(path))


def _unfit(
    revision: Path, plan_digest: str, plan: Optional[Plan], device: int, allow_editables: bool
) -> Optional[str]:
    """Why ``revision`` cannot be the donor of a revision of ``plan_digest`` (the plan ``plan``,
    read from the donor's ``plan.lock`` when not given); None if it can. A revision of another
    container fits if its plan differs only by the container's name (``Plan.build_digest``).
    """
    from rezup.stages.plan import Plan

    try:
        metadata = revision_json.read_metadata(revision)
    except ValueError as exc:
        return str(exc)
    if metadata is None:
        return "not ready"
    if (revision / paths.RETIRED_METADATA_FILENAME).exists():
        return "retired"
    if metadata.get("remote"):
        return "a remote revision (no venvs)"
    recorded = metadata.get("plan_digest")
    same_plan = recorded == plan_digest
    if not same_plan and (plan is None or revision.parent.parent.name == plan.container):
        return "another plan"  # in one container, one build is one plan digest
    try:
        text = (revision / paths.PLAN_FILENAME).read_bytes()
    except OSError as exc:
        return f"cannot read its plan: {one_line(exc)}"
    if "sha256:" + hashlib.sha256(text).hexdigest() != recorded:
        return f"its {paths.PLAN_FILENAME} is not the plan its {paths.METADATA_FILENAME} names"
    if plan is None or not same_plan:
        try:
            own = Plan.from_text(text.decode("utf-8"), str(revision / paths.PLAN_FILENAME))
        except (BuildError, UnicodeDecodeError) as exc:
            return str(exc)
        if plan is not None and own.build_digest != plan.build_digest:
            return "another plan"
        plan = plan or own
    if metadata.get("venvs") != [venv.name for venv in plan.venvs]:
        return "its venvs are not the plan's"
    for venv in plan.venvs:
        if (
            venv.editables or any(_unhashed_local(line) for line in venv.requirements)
        ) and not allow_editables:
            return f"venv {venv.name!r} installs local sources that may have changed since"
        why_not = _venv_unfit(
            locations.venv_dir(revision, venv.name), venv.python, venv.python_version, device
        )
        if why_not is not None:
            return f"venv {venv.name!r}: {why_not}"
    return None


def _unhashed_local(requirement: str) -> bool:
    """A local file or folder (``name @ file:...``) pinned by no hash: its content may change."""
    return "@ file:" in requirement and "--hash=" not in requirement


def _venv_unfit(venv: Path, python: str, python_version: str, device: int) -> Optional[str]:
    try:
        if os.stat(venv).st_dev != device:
            return "on another filesystem"
    except OSError as exc:
        return one_line(exc)
    interpreter = paths.venv_python(venv)
    if not os.path.exists(python):
        return f"the plan's Python {python} does not exist"
    if not os.path.exists(interpreter):
        return "its Python is gone"
    if os.path.realpath(interpreter) != os.path.realpath(python):
        return f"it runs {os.path.realpath(interpreter)}, not the plan's {python}"
    built_for = pyvenv_version(venv)
    if built_for is None or built_for.split(".")[:2] != python_version.split(".")[:2]:
        return f"made for Python {built_for}, the plan is for {python_version}"
    return None


_held: dict[str, int] = {}  # donor's claim record -> how many claimed() blocks hold it


@contextlib.contextmanager
def claimed(revision: Path) -> Iterator[None]:
    """Hold a shared claim on the donor ``revision`` while it is cloned, as a session does:
    prune and drop leave a claimed revision alone. CloneError if it is being removed.

    Unlike a session's, the claim ends with the block, record included: on a shared root a
    record left behind would keep the donor "in use" for every other host until it expires
    (``REZUP_MAX_JOB_AGE``), since only its own host can tell that the build has ended. A
    build may claim one donor twice (its clone, then its bytecode): the last block out
    removes the record.
    """
    from rezup.runtime.session import claim, own_claim_record

    try:
        fd = claim(str(revision))
    except RevisionGoneError as exc:
        raise CloneError(str(exc)) from None
    if fd is not None:
        os.set_inheritable(fd, False)  # the claim is this process's, not its children's
    record = os.path.realpath(own_claim_record(str(revision)))  # one key, however it is named
    _held[record] = _held.get(record, 0) + 1
    try:
        yield
    finally:
        _held[record] -= 1
        if not _held[record]:
            del _held[record]
            with contextlib.suppress(OSError):  # none on a local root
                os.unlink(record)
        if fd is not None:
            os.close(fd)


_LIKELY_DONORS = 8  # ready revisions whose recipe is compared with the new one


@dataclass(frozen=True)
class DonorGuess:
    """A ready revision made from the recipe being built, and the build its plan describes
    (``Plan.build_digest``: the same in every container)."""

    donor: Path
    build_digest: str


def likely_donor(recipe_text: str, revision_dir: Path) -> Optional[DonorGuess]:
    """The newest ready revision built from ``recipe_text`` (in any container of the root, its
    own first: see ``donor_index``) that a revision of its plan can be cloned from, if any.

    A recipe that did not change almost always resolves to the plan it resolved to before
    (unless the index has new versions of what it leaves unpinned), so its revision is cloned
    while the resolve runs, and used if the resolve agrees.
    """
    candidates = donor_index.donors(
        donor_index.root_of(revision_dir),
        donor_index.recipe_key(recipe_text),
        revision_dir.parent.parent.name,
        skip=revision_dir,
        scan=_LIKELY_DONORS,
    )
    for candidate in candidates:
        try:
            same = (candidate / paths.RECIPE_FILENAME).read_text(encoding="utf-8") == recipe_text
            digest = (revision_json.read_metadata(candidate) or {}).get("plan_digest")
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if same and isinstance(digest, str) and can_clone(candidate, digest, target=revision_dir):
            build_digest = _build_digest(candidate)
            if build_digest is not None:
                return DonorGuess(candidate, build_digest)
    return None


def _build_digest(revision: Path) -> Optional[str]:
    """``Plan.build_digest`` of the plan of ``revision``; None if it cannot be read."""
    from rezup.stages.plan import Plan

    try:
        text = (revision / paths.PLAN_FILENAME).read_text(encoding="utf-8")
        return Plan.from_text(text, str(revision / paths.PLAN_FILENAME)).build_digest
    except (OSError, UnicodeDecodeError, BuildError):
        return None
