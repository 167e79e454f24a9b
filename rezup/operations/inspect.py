"""Inspect: everything about one revision (recipe, pins, environment, paths, size, state)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from rezup.ground import paths, revision_json
from rezup.ground.errors import ContainerError, RemoteRootError, RezupError
from rezup.ground.filesystem import disk_usage
from rezup.stages import claims
from rezup.stages.disk_state import RevisionDir

if TYPE_CHECKING:
    from rezup.ground.formats import InspectDocument, InspectEnvironment
    from rezup.operations.pull import RemoteContainer
    from rezup.stages.http_remote import UrlRevision
    from rezup.stages.plan import Plan

# The format of ``inspect --json`` (its ``format`` key; ``formats.InspectDocument``): keys are
# only added within a version; a key renamed or removed makes a new one.
INSPECT_FORMAT = 1


def containers(name: str) -> list[RemoteContainer]:
    """Where revisions of ``name`` are looked up: the local container, then the remote one
    (a folder, or served over HTTP(S))."""
    from rezup.operations.use import containers_of

    local, remote = containers_of(paths.check_container_name(name))
    return [local] if remote is None else [local, remote]


def find_revision(name: str, stamp: Optional[str] = None) -> Union[RevisionDir, UrlRevision]:
    """Revision ``stamp`` of container ``name`` (local first, then remote); without a stamp
    the newest ready one."""
    places = containers(name)
    for container in places:
        try:
            if stamp is None:
                revision = container.get_latest_revision()
            else:
                revision = container.get_revision_by_time(_seconds(stamp), only_ready=False)
        except (OSError, RemoteRootError) as exc:
            if container.is_remote():
                continue  # the remote root is down: only local revisions can be inspected
            raise ContainerError(f"cannot read {container.revisions()}: {exc}") from None
        if revision is not None:
            return revision
    where = " or ".join(str(c.root()) for c in places)
    what = f"no revision {stamp}" if stamp else "no ready revision"
    raise ContainerError(f"{what} of container {name!r} in {where}")


def ready_revisions(name: str) -> list[Union[RevisionDir, UrlRevision]]:
    """Ready revisions of ``name``, newest first: the local ones, else the remote ones."""
    for container in containers(name):
        try:
            found: list[Any] = [r for r in container.iter_revision() if r.is_ready()]
        except (OSError, RemoteRootError):
            continue
        if found:
            return found
    return []


def _seconds(stamp: str) -> float:
    try:
        return float(stamp) if paths.is_timestamp(stamp) else float("nan")
    except ValueError:
        return float("nan")


def pins(revision: RevisionDir) -> dict[str, dict[str, str]]:
    """``{venv: {package: version}}``: from the plan, or for a revision without one (made by
    rezup 2.x) from what is installed in its venvs. Editables and direct references show
    where they come from instead of a version."""

    if revision.plan_path().is_file():
        return plan_pins(revision.plan())
    return {name: installed(revision.venv_path(name)) for name in _venv_names(revision)}


def plan_pins(plan: Plan) -> dict[str, dict[str, str]]:
    """``{venv: {package: version}}`` of a plan (see ``pins``)."""
    from rezup.stages.plan import pinned

    found: dict[str, dict[str, str]] = {}
    for venv in plan.venvs:
        packages = found.setdefault(venv.name, {})
        for line in venv.requirements:
            pin = pinned(line)
            if pin is not None:
                packages[pin[0]] = pin[1]
            else:
                name, _, source = line.partition(" @ ")
                packages[name.strip()] = source.split()[0] if source else line
        for path in venv.editables:
            packages[os.path.basename(path.rstrip("/\\"))] = f"editable {path}"
    return found


def installed(venv: Path) -> dict[str, str]:
    """Distributions installed in ``venv``, from their dist-info folders."""
    from packaging.utils import canonicalize_name

    from rezup.tools.production import site_packages

    try:
        folder = site_packages(venv)
    except RezupError:
        return {}
    found = {}
    for dist_info in folder.glob("*.dist-info"):
        name, _, version = dist_info.name[: -len(".dist-info")].rpartition("-")
        found[canonicalize_name(name)] = version
    return dict(sorted(found.items()))


def _venv_names(revision: RevisionDir) -> list[str]:
    names = revision.metadata().get("venvs") if revision.is_ready() else None
    if names:
        return list(names)
    try:
        return sorted(entry.name for entry in os.scandir(revision.path() / paths.VENV_DIRNAME))
    except OSError:
        return []


def python_versions(revision: RevisionDir) -> dict[str, str]:
    """``{venv: Python version}`` from the plan, else from each venv's ``pyvenv.cfg``."""
    if revision.plan_path().is_file():
        return {venv.name: venv.python_version for venv in revision.plan().venvs}
    versions = {}
    for name in _venv_names(revision):
        try:
            text = (revision.venv_path(name) / "pyvenv.cfg").read_text(encoding="utf-8")
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("version", "version_info"):
                versions[name] = value.strip()
    return versions


def environment(revision: RevisionDir) -> InspectEnvironment:
    """What the revision adds to a session: ``[env]`` as written, and its dotenv files with
    the values they hold now."""
    session = (revision.metadata() if revision.is_ready() else {}).get("session") or {}
    return session_environment(session)


def session_environment(session: dict[str, Any]) -> InspectEnvironment:
    """``[env]`` as written in a revision's ``session``, and its dotenv files with the values
    they hold on this machine now (None: missing here)."""
    from rezup.runtime.session import load_dotenv_file

    values = {}
    for path in session.get("dotenv", ()):
        values[path] = load_dotenv_file(path, {}) if os.path.isfile(path) else None
    return {"env": {k: v for k, v in session.get("env", ())}, "dotenv": values}


def inspect(name: str, stamp: Optional[str] = None) -> InspectDocument:
    """Everything about one revision of container ``name`` (default: the newest ready one)."""
    revision = find_revision(name, stamp)
    if not isinstance(revision, RevisionDir):
        return inspect_served(name, revision)
    state = revision.state()
    try:
        metadata = revision.metadata()
    except ContainerError:
        metadata = {}
    path = revision.path()
    in_use = not revision.is_remote() and state is not None and claims.is_claimed(path)
    try:
        recipe = revision.recipe_text()
    except OSError:
        recipe = None
    return {
        "format": INSPECT_FORMAT,
        "container": name,
        "revision": revision.dirname(),
        "date": paths.format_revision_time(revision.dirname()),
        "state": state,
        "remote": revision.is_remote(),
        "pulled_from": revision_json.pulled_from(metadata) or None,
        "in_use": in_use,
        "pids": claims.holders(path) if in_use else [],
        "path": str(path),
        "size": disk_usage(path),
        "rez_version": metadata.get("rez_version"),
        "python": python_versions(revision),
        "creator": metadata.get("creator"),
        "hostname": metadata.get("hostname"),
        "venvs": {venv: str(revision.venv_path(venv)) for venv in _venv_names(revision)},
        "bin_dirs": [str(path / d) for d in revision_json.session_bin_dirs(metadata)],
        "pins": pins(revision) if state in ("ready", "broken") else {},
        "environment": environment(revision),
        "recipe": recipe,
    }


def inspect_served(name: str, revision: UrlRevision) -> InspectDocument:
    """``inspect`` of a revision served over HTTP(S) and not pulled here: what its files say
    (its recipe, plan and ``revision.json``); it has no venvs and no size of its own."""
    metadata = revision.metadata()
    plan = revision.plan() if revision.has_plan() else None
    session = metadata.get("session") or {}
    return {
        "format": INSPECT_FORMAT,
        "container": name,
        "revision": revision.dirname(),
        "date": paths.format_revision_time(revision.dirname()),
        "state": revision.state(),
        "remote": True,
        "pulled_from": None,
        "in_use": False,
        "pids": [],
        "path": revision.path(),
        "size": 0,
        "rez_version": metadata.get("rez_version"),
        "python": {venv.name: venv.python_version for venv in plan.venvs} if plan else {},
        "creator": metadata.get("creator"),
        "hostname": metadata.get("hostname"),
        "venvs": {},
        "bin_dirs": [],
        "pins": plan_pins(plan) if plan else {},
        "environment": session_environment(session),
        "recipe": revision.recipe_text(),
    }


def render(info: InspectDocument) -> str:
    from rezup.stages.cleanup import format_size

    state = info["state"] or "missing"
    flags = [state]
    if info["in_use"]:
        pids = f" by PID {', '.join(map(str, info['pids']))}" if info["pids"] else ""
        flags.append(f"in use{pids}")
    if info["remote"]:
        flags.append("remote")
    if info["pulled_from"]:
        flags.append(f"pulled from {info['pulled_from']}")
    lines = [
        f"{info['container']} revision {info['revision']} ({info['date']})",
        f"  state     {'; '.join(flags)}",
        f"  path      {info['path']}",
        f"  size      {format_size(info['size'])} of its own "
        "(files shared with the uv cache or other revisions not counted)",
        f"  rez       {info['rez_version'] or '?'}",
    ]
    for venv, version in info["python"].items():
        lines.append(f"  python    {version} (venv {venv})")
    for venv, packages in info["pins"].items():
        lines.append(f"  venv {venv}: {len(packages)} packages")
        lines.extend(
            f"    {package}=={version}"
            if not version.startswith(("editable", "file:"))
            else f"    {package} ({version})"
            for package, version in packages.items()
        )
    env = info["environment"]
    if env["env"]:
        lines.append("  [env]")
        lines.extend(f"    {key} = {value!r}" for key, value in env["env"].items())
    for path, values in env["dotenv"].items():
        lines.append(f"  dotenv {path}" + ("" if values is not None else " (missing)"))
        lines.extend(f"    {key} = {value!r}" for key, value in (values or {}).items())
    if info["recipe"] is not None:
        lines.append("  recipe:")
        lines.extend(f"    {line}" for line in info["recipe"].splitlines())
    return "\n".join(lines) + "\n"
