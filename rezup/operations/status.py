"""Status: which containers exist, which revisions they hold, and in what state.

It never fails on one broken thing: a bad recipe or a half-built revision is reported on its
own line and the rest is still shown.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union, cast

from rezup.ground import paths, revision_json, root_settings
from rezup.ground.errors import ContainerError, RemoteRootError, RezupError, one_line
from rezup.ground.filesystem import disk_usage, stale_staging
from rezup.ground.wording import plural
from rezup.operations.use import remote_container
from rezup.stages import bytecode_later, claims
from rezup.stages.cleanup import format_size, is_dropped
from rezup.stages.disk_state import (
    ContainerDir,
    RevisionDir,
    container_names,
    recipe_container_names,
)
from rezup.stages.recipe_files import ContainerRecipe

if TYPE_CHECKING:
    from rezup.ground.formats import ContainerStatus, RevisionRow, StatusDocument, UseForecast
    from rezup.operations.pull import RemoteContainer
    from rezup.stages.http_remote import UrlRevision

# The format of ``status --json`` (its ``format`` key; ``formats.StatusDocument``): keys are
# only added within a version; a key renamed or removed makes a new one.
STATUS_FORMAT = 1

LEGEND = """\
  *         the revision `rezup use NAME` enters on this machine now
  ready     complete; building: a build holds its lock; incomplete: a build was killed
            (cleared by the next add or prune); retired: dropped while in use (removed once
            free); broken: its revision.json cannot be read; -: not in that root
  in use    sessions or jobs run in it now (their PIDs where known)
  size      disk space of its own (files shared with the uv cache are not counted)
"""


def collect(name: Optional[str] = None) -> list[ContainerStatus]:
    """Status of container ``name``, or of every container (and recipe) rezup can find.

    Each has ``exists``: whether the container has a folder in its local or remote root (a
    recipe alone is not yet a container). An unknown ``name`` is a ContainerError.
    """
    if name is not None:
        info = _status_or_error(paths.check_container_name(name))
        if not info["exists"] and info["recipe"] is None:
            where = " or ".join(filter(None, (info["local_root"], info["remote_root"])))
            raise ContainerError(
                f"no container named {name!r}: no recipe "
                f"{root_settings.recipe_file(name)} and no folder in {where}"
            )
        return [info]
    roots = [root_settings.local_root()]
    remote = root_settings.remote_root()
    if remote is not None:
        roots.append(remote)
    names = container_names(roots) | recipe_container_names()
    return [_status_or_error(n) for n in sorted(names)]


def as_json(statuses: list[ContainerStatus]) -> StatusDocument:
    """What ``status --json`` prints: the containers, and apart the recipes that have none."""
    return {
        "format": STATUS_FORMAT,
        "containers": [info for info in statuses if info["exists"]],
        "recipes_without_container": [
            {
                "name": info["name"],
                "recipe": info["recipe"],
                "recipe_error": info["recipe_error"],
                "description": info.get("description", ""),
            }
            for info in statuses
            if not info["exists"]
        ],
    }


def _status_or_error(name: str) -> ContainerStatus:
    """``container_status``, or what went wrong: one container never hides the others."""
    try:
        return container_status(name)
    except Exception as exc:  # the status of the others still shows
        return {
            "name": name,
            "exists": True,
            "recipe": None,
            "recipe_error": None,
            "description": "",
            "local_root": None,
            "remote_root": None,
            "local_path": None,
            "remote_path": None,
            "dropped": False,
            "size": 0,
            "revisions": [],
            "errors": [f"cannot read container {name}: {one_line(exc)}"],
            "warnings": [],
            "latest_ready": None,
            "use_enters": None,
            "use": None,
            "stale_publishes": [],
        }


def container_status(name: str) -> ContainerStatus:
    """What is known of container ``name``. It only reads, and reports each thing it cannot
    read (a root, a revision) in ``errors`` or its row, instead of failing."""
    path = Path(root_settings.recipe_file(name))
    info: dict[str, Any] = {
        "name": name,
        "recipe": str(path) if path.is_file() else None,
        "recipe_error": None,
        "errors": [],
    }
    info["description"] = ""
    try:
        local_root, remote_root = root_settings.container_roots(name)
        if path.is_file():  # report any recipe error, not only [root]
            info["description"] = ContainerRecipe(name).load().description
    except RezupError as exc:
        info["recipe_error"] = str(exc)
        local_root, remote_root = root_settings.local_root(), root_settings.remote_root()
    local = ContainerDir(local_root, name)
    remote = remote_container(remote_root, name, local) if remote_root else None
    info["local_root"] = str(local.root())
    info["remote_root"] = str(remote.root()) if remote else None
    info["local_path"] = str(local.path())
    info["remote_path"] = str(remote.path()) if remote else None
    info["exists"] = local.is_exists() or (remote is not None and _exists(remote))
    info["dropped"] = is_dropped(local)
    info["warnings"] = []
    info["stale_publishes"] = (
        [p.name for p in stale_staging(remote.revisions())]
        if isinstance(remote, ContainerDir)
        else []
    )

    rows: dict[str, dict[str, Any]] = {}
    for side, container in (("local", local), ("remote", remote)):
        if container is None:
            continue
        try:
            revisions: list[Any] = list(container.iter_revision(validate=False))
        except RemoteRootError as exc:  # says which root already
            info["errors"].append(one_line(exc))
            continue
        except OSError as exc:
            info["errors"].append(
                f"cannot read the {side} root {container.root()}: {one_line(exc)}"
            )
            continue
        for revision in revisions:
            row = rows.setdefault(revision.dirname(), {"revision": revision.dirname()})
            try:
                _describe_revision(revision, side, row)
            except OSError as exc:
                row[side] = "unreadable"
                row["error"] = one_line(exc)
    ordered = sorted(rows.values(), key=lambda r: float(r["revision"]), reverse=True)
    for row in ordered:
        row.setdefault("local", None)
        if remote is not None:
            row.setdefault("remote", None)
        row["date"] = paths.format_revision_time(row["revision"])
    info["revisions"] = ordered
    info["size"] = sum(row.get("size", 0) for row in ordered)
    info["latest_ready"] = next((r["revision"] for r in ordered if r.get("local") == "ready"), None)
    # what `rezup use NAME` enters here: the same rule as `use`, without pulling anything
    info["use"] = _forecast(name, info) if info["recipe_error"] is None else None
    info["use_enters"] = info["use"]["revision"] if info["use"] else info["latest_ready"]
    return cast("ContainerStatus", info)


def _exists(container: RemoteContainer) -> bool:
    try:
        return container.is_exists()
    except OSError:
        return True  # it cannot be read: report it as it is


def _forecast(name: str, info: dict[str, Any]) -> Optional[UseForecast]:
    from rezup.operations.use import forecast

    try:
        use = forecast(name)
    except (RezupError, OSError) as exc:
        info["warnings"].append(one_line(exc))
        return None
    if use["warning"]:
        info["warnings"].append(use["warning"])
    failure = use["failure"]
    if failure:
        info["warnings"].append(
            f"the pull of revision {failure['revision']} failed at "
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(failure['time']))}: "
            f"{failure['reason']} (tried again in {failure['retry_in']:.0f}s)"
        )
    return use


def _describe_revision(
    revision: Union[RevisionDir, UrlRevision], side: str, row: dict[str, Any]
) -> None:
    row[side] = revision.state()
    row[f"{side}_path"] = str(revision.path())
    if not isinstance(revision, RevisionDir):  # served over HTTP: listed ready, nothing more
        return  # asked of the server (one request a revision)
    if side == "local":
        in_use = claims.is_claimed(revision.path())
        row["in_use"] = in_use
        row["pids"] = claims.holders(revision.path()) if in_use else []
        row["size"] = disk_usage(revision.path())
        row["compiling"] = bytecode_later.compiling(revision.path())
    try:
        metadata = revision.metadata()
    except RezupError as exc:
        row["error"] = str(exc)
        return
    for key in ("creator", "hostname"):
        if metadata.get(key) and not row.get(key):
            row[key] = metadata[key]
    if revision.is_ready():  # a revision of rezup 2.x records neither: its files say
        row["rez_version"] = row.get("rez_version") or revision.get_rez_version()
        row["python"] = row.get("python") or revision.python_version()
    if revision_json.pulled_from(metadata):
        row["pulled"] = True


def render(statuses: list[ContainerStatus]) -> str:
    lines: list[str] = []
    containers = [info for info in statuses if info["exists"]]
    for info in containers:
        title = info["name"] + (f"  {info['description']}" if info.get("description") else "")
        lines.append(title)
        lines.append(f"  local   {info['local_path'] or info['local_root']}")
        if info["remote_root"]:
            lines.append(f"  remote  {info['remote_path']}")
        use: Mapping[str, Any] = info.get("use") or {}
        if use.get("pull"):
            lines.append(f"  use     pulls revision {use['pull']} first")
        if info.get("dropped"):
            lines.append("  dropped: what is still in use is removed once free")
        lines.extend(f"  error: {error}" for error in info.get("errors", ()))
        lines.extend(f"  warning: {warning}" for warning in info.get("warnings", ()))
        if info.get("stale_publishes"):
            lines.append(
                f"  {len(info['stale_publishes'])} interrupted publish(es) in the "
                "remote root: the next `add --remote` removes them"
            )
        if info["recipe_error"]:
            lines.append(f"  recipe error: {info['recipe_error']}")
        lines.extend(_revision_table(info) if info["revisions"] else ["  no revisions"])
        lines.append("")
    recipes = [info for info in statuses if not info["exists"]]
    if recipes:
        lines.append("recipes without a container (rezup add NAME makes one):")
        for info in recipes:
            error = f": recipe error: {info['recipe_error']}" if info["recipe_error"] else ""
            lines.append(f"  {info['name']}  {info['recipe']}{error}")
        lines.append("")
    if any(info["revisions"] for info in containers):
        lines.extend(["legend:", LEGEND])
    if not statuses:
        lines.append("no containers yet: `rezup` makes .main from ~/rezup.toml on first use")
    return "\n".join(lines).rstrip() + "\n"


def _revision_table(info: ContainerStatus) -> list[str]:
    has_remote = info["remote_root"] is not None
    header = ["revision", "date", "local"] + (["remote"] if has_remote else [])
    header += ["rez", "python", "in use", "size"]
    table = [header]
    for row in info["revisions"]:
        cells = [row["revision"], row["date"], row.get("local") or "-"]
        if has_remote:
            cells.append(row.get("remote") or "-")
        cells += [
            row.get("rez_version") or "?",
            row.get("python") or "?",
            _in_use(row),
            format_size(row["size"]) if "size" in row else "-",
        ]
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for index, cells in enumerate(table):
        mark = "*" if index and cells[0] == info["use_enters"] else " "
        lines.append(" " + mark + "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
    for row in info["revisions"]:
        if row.get("compiling"):
            lines.append(
                f"  revision {row['revision']}: the bytecode of the seed packages of venv "
                f"{', '.join(row['compiling'])} is being compiled in the background"
            )
    count = len(info["revisions"])
    total = (
        f"  {plural(count, 'revision')}, "
        f"{format_size(info['size'])} of {'its' if count == 1 else 'their'} own"
    )
    return [*lines, total]


def _in_use(row: RevisionRow) -> str:
    if not row.get("in_use"):
        return "-"
    return "yes" + (f" (PID {', '.join(map(str, row['pids']))})" if row.get("pids") else "")
