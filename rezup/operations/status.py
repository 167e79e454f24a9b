"""Status: which containers exist, which revisions they hold, and in what state.

It never fails on one broken thing: a bad recipe or a half-built revision is reported on its
own line and the rest is still shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from rezup import claims, layout
from rezup.cleanup import format_size, is_dropped
from rezup.errors import RezupError, one_line
from rezup.fsutil import disk_usage, stale_staging
from rezup.recipe import ContainerRecipe
from rezup.state import ContainerDir, RevisionDir, container_names, recipe_container_names

LEGEND = """\
  *         the revision `rezup use NAME` enters now
  ready     complete; building: a build holds its lock; incomplete: a build was killed
            (cleared by the next add or prune); retired: dropped while in use (removed once
            free); broken: its revision.json cannot be read; -: not in that root
  in use    sessions or jobs run in it now (their PIDs where known)
  size      disk space of its own (files shared with the uv cache are not counted)
"""


def collect(name: Optional[str] = None) -> list[dict[str, Any]]:
    """Status of container ``name``, or of every container rezup can find."""
    if name is not None:
        names = {layout.check_container_name(name)}
    else:
        roots = [layout.local_root()]
        remote = layout.remote_root()
        if remote is not None:
            roots.append(remote)
        names = container_names(roots) | recipe_container_names() | {layout.DEFAULT_CONTAINER}
    return [_status_or_error(n) for n in sorted(names)]


def _status_or_error(name: str) -> dict[str, Any]:
    """``container_status``, or what went wrong: one container never hides the others."""
    try:
        return container_status(name)
    except Exception as exc:  # the status of the others still shows
        return {"name": name, "recipe": None, "recipe_error": None, "local_root": None,
                "remote_root": None, "dropped": False, "revisions": [], "errors": [
                    f"cannot read container {name}: {one_line(exc)}"],
                "latest_ready": None, "in_use": None, "stale_publishes": []}


def container_status(name: str) -> dict[str, Any]:
    """What is known of container ``name``. It only reads, and reports each thing it cannot
    read (a root, a revision) in ``errors`` or its row, instead of failing."""
    path = Path(layout.recipe_file(name))
    info: dict[str, Any] = {
        "name": name,
        "recipe": str(path) if path.is_file() else None,
        "recipe_error": None,
        "errors": [],
    }
    try:
        local_root, remote_root = layout.container_roots(name)
        if path.is_file():
            ContainerRecipe(name).load()  # report any recipe error, not only [root]
    except RezupError as exc:
        info["recipe_error"] = str(exc)
        local_root, remote_root = layout.local_root(), layout.remote_root()
    local = ContainerDir(local_root, name)
    remote = ContainerDir(remote_root, name, remote=True) if remote_root else None
    info["local_root"] = str(local.root())
    info["remote_root"] = str(remote.root()) if remote else None
    info["dropped"] = is_dropped(local)
    info["stale_publishes"] = [p.name for p in stale_staging(remote.revisions())] \
        if remote else []

    rows: dict[str, dict[str, Any]] = {}
    for side, container in (("local", local), ("remote", remote)):
        if container is None:
            continue
        try:
            revisions = list(container.iter_revision(validate=False))
        except OSError as exc:
            info["errors"].append(f"cannot read the {side} root {container.root()}: "
                                  f"{one_line(exc)}")
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
        row["date"] = layout.format_revision_time(row["revision"])
    info["revisions"] = ordered
    info["latest_ready"] = next(
        (r["revision"] for r in ordered if r.get("local") == "ready"), None
    )
    # what `rezup use NAME` enters: the same rule as `use`, without pulling anything
    try:
        info["in_use"], _, _ = layout.choose_revision(
            str(local.revisions()), str(remote.revisions()) if remote else None)
    except (RezupError, OSError):
        info["in_use"] = info["latest_ready"]
    return info


def _describe_revision(revision: RevisionDir, side: str, row: dict[str, Any]) -> None:
    row[side] = revision.state()
    if side == "local":
        in_use = claims.is_claimed(revision.path())
        row["in_use"] = in_use
        row["pids"] = claims.holders(revision.path()) if in_use else []
        row["size"] = disk_usage(revision.path())
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
    if layout.pulled_from(metadata):
        row["pulled"] = True


def render(statuses: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for info in statuses:
        where = f"local {info['local_root']}"
        if info["remote_root"]:
            where += f", remote {info['remote_root']}"
        lines.append(f"{info['name']}  ({where})")
        if info.get("dropped"):
            lines.append("  dropped: what is still in use is removed once free")
        lines.extend(f"  error: {error}" for error in info.get("errors", ()))
        if info.get("stale_publishes"):
            lines.append(f"  {len(info['stale_publishes'])} interrupted publish(es) in the "
                         "remote root: the next `add --remote` removes them")
        if info["recipe_error"]:
            lines.append(f"  recipe error: {info['recipe_error']}")
        if not info["revisions"]:
            lines.append("  no revisions")
        else:
            has_remote = info["remote_root"] is not None
            header = ["revision", "date", "local"] + (["remote"] if has_remote else [])
            header += ["rez", "python", "in use", "size"]
            table = [header]
            for row in info["revisions"]:
                cells = [row["revision"], row["date"], row.get("local") or "-"]
                if has_remote:
                    cells.append(row.get("remote") or "-")
                cells += [row.get("rez_version") or "?", row.get("python") or "?",
                          _in_use(row), format_size(row["size"]) if "size" in row else "-"]
                table.append(cells)
            widths = [max(len(r[i]) for r in table) for i in range(len(header))]
            for index, cells in enumerate(table):
                mark = "*" if index and cells[0] == info["in_use"] else " "
                lines.append(" " + mark + "  ".join(c.ljust(w) for c, w in zip(cells, widths))
                             .rstrip())
        lines.append("")
    if any(info["revisions"] for info in statuses):
        lines.extend(["legend:", LEGEND])
    return "\n".join(lines).rstrip() + "\n"


def _in_use(row: dict[str, Any]) -> str:
    if not row.get("in_use"):
        return "-"
    return "yes" + (f" (PID {', '.join(map(str, row['pids']))})" if row.get("pids") else "")
