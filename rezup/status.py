"""``rezup status``: what containers exist, which revisions they hold, and in what state.

It never fails on one broken thing: a bad recipe or a half-built revision is reported on its
own line and the rest is still shown.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from rezup.container import REVISIONS_DIRNAME, Container, Revision, local_root, remote_root
from rezup.errors import RezupError
from rezup.recipe import (
    DEFAULT_CONTAINER_NAME,
    ContainerRecipe,
    read_root_settings,
    recipe_path_for,
    validate_container_name,
)


def revision_state(revision: Optional[Revision]) -> Optional[str]:
    """``ready``, ``building`` (its lock is held), ``incomplete``, or None if absent."""
    if revision is None or not revision.path().is_dir():
        return None
    if revision.is_ready():
        return "ready"
    from rezup.lock import is_held

    try:
        return "building" if is_held(revision.lock_file()) else "incomplete"
    except RezupError:
        return "incomplete"


def _container_names(roots: Iterable[Path]) -> set[str]:
    names = {recipe.name() for recipe in ContainerRecipe.iter_recipes()}
    for root in roots:
        try:
            entries = os.listdir(root)
        except OSError:
            continue
        for entry in entries:
            if (root / entry / REVISIONS_DIRNAME).is_dir():
                try:
                    names.add(validate_container_name(entry))
                except RezupError:
                    continue
    return names


def collect(name: Optional[str] = None) -> list[dict[str, Any]]:
    """Status of container ``name``, or of every container rezup can find."""
    if name is not None:
        names = {validate_container_name(name)}
    else:
        roots = [local_root()]
        if remote_root() is not None:
            roots.append(remote_root())
        names = _container_names(roots) | {DEFAULT_CONTAINER_NAME}
    return [container_status(n) for n in sorted(names)]


def container_status(name: str) -> dict[str, Any]:
    path = recipe_path_for(name)
    info: dict[str, Any] = {
        "name": name,
        "recipe": str(path) if path.is_file() else None,
        "recipe_error": None,
    }
    try:
        local_setting, remote_setting = read_root_settings(path)
        if path.is_file():
            ContainerRecipe(name).load()  # report any recipe error, not only [root]
    except RezupError as exc:
        info["recipe_error"] = str(exc)
        local_setting, remote_setting = "", ""
    local = Container.at(name, local_root(local_setting))
    remote_path = remote_root(remote_setting)
    remote = Container.at(name, remote_path, remote=True) if remote_path else None
    info["local_root"] = str(local.root())
    info["remote_root"] = str(remote.root()) if remote else None

    rows: dict[str, dict[str, Any]] = {}
    for side, container in (("local", local), ("remote", remote)):
        if container is None:
            continue
        for revision in container.iter_revision():
            row = rows.setdefault(revision.dirname(), {"revision": revision.dirname()})
            row[side] = revision_state(revision)
            try:
                metadata = revision.metadata()
            except RezupError as exc:
                row[side] = "broken"
                row["error"] = str(exc)
                continue
            for key in ("rez_version", "python", "creator", "hostname"):
                if metadata.get(key) and not row.get(key):
                    row[key] = metadata[key]
            if metadata.get("pulled_from"):
                row["pulled"] = True
    ordered = sorted(rows.values(), key=lambda r: float(r["revision"]), reverse=True)
    for row in ordered:
        row.setdefault("local", None)
        if remote is not None:
            row.setdefault("remote", None)
        row["date"] = datetime.fromtimestamp(float(row["revision"])).strftime("%Y-%m-%d %H:%M:%S")
    info["revisions"] = ordered
    info["latest_ready"] = next(
        (r["revision"] for r in ordered if r.get("local") == "ready"), None
    )
    # what `rezup use NAME` enters: the newest ready remote revision if there is a remote
    # (pulled first if need be), else the newest ready local one
    newest_remote = next((r["revision"] for r in ordered if r.get("remote") == "ready"), None)
    info["in_use"] = newest_remote or info["latest_ready"]
    return info


def render(statuses: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for info in statuses:
        where = f"local {info['local_root']}"
        if info["remote_root"]:
            where += f", remote {info['remote_root']}"
        lines.append(f"{info['name']}  ({where})")
        if info["recipe_error"]:
            lines.append(f"  recipe error: {info['recipe_error']}")
        if not info["revisions"]:
            lines.append("  no revisions")
        else:
            has_remote = info["remote_root"] is not None
            header = ["revision", "date", "local"] + (["remote"] if has_remote else [])
            header += ["rez", "python"]
            table = [header]
            for row in info["revisions"]:
                cells = [row["revision"], row["date"], row.get("local") or "-"]
                if has_remote:
                    cells.append(row.get("remote") or "-")
                cells += [row.get("rez_version") or "?", row.get("python") or "?"]
                table.append(cells)
            widths = [max(len(r[i]) for r in table) for i in range(len(header))]
            for index, cells in enumerate(table):
                mark = "*" if index and cells[0] == info["in_use"] else " "
                lines.append(" " + mark + "  ".join(c.ljust(w) for c, w in zip(cells, widths))
                             .rstrip())
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
