"""Publishing a remote revision: its recipe, its plan, a wheelhouse if asked, and
``revision.json``, made ready by one rename; every machine builds its local twin from it.

The published root is also a static web site as it is: after each publish the container's
``index.json`` lists its ready revisions, and a wheelhouse has a page of links to its wheels
(``wheels/index.html``), so a web server or an object store can serve the root to machines that
do not mount it (``rezup.stages.http_remote``) without listing a folder.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from rezup.ground import mark_ready, newest, paths, remote_index, revision_json
from rezup.ground.errors import step
from rezup.ground.filesystem import new_folder, remove_tree, stale_staging, write_atomic
from rezup.stages import standard_locks
from rezup.stages.plan import Plan
from rezup.stages.revision_record import revision_metadata, write_recipe_and_plan

log = logging.getLogger("rezup")


def publish(plan: Plan, recipe_text: str, revision_dir: Path) -> Plan:
    """Publish a remote revision at ``revision_dir``: recipe, plan, wheels if asked, and
    ``revision.json``. Returns the plan as published.

    It is assembled in a hidden folder beside ``revision_dir`` and renamed into place, so a
    reader of the remote root never sees a half-written revision. The plan is written after
    the wheels are collected, because collecting them may add hashes to it (of wheels built
    from sdists); ``plan_digest`` in ``revision.json`` is that of the plan written.
    """
    for leftover in stale_staging(revision_dir.parent):  # of publishes that were killed
        log.info("removing %s, left by a publish that was interrupted", leftover.name)
        with contextlib.suppress(OSError):
            remove_tree(leftover)
    with (
        step(f"publishing revision {revision_dir.name}", revision_dir.parent),
        new_folder(revision_dir, staged=True) as staging,
    ):
        compiled: dict[str, tuple[str, str]] = {}  # the wheelhouse's locks, for standard_locks
        if plan.wheels:
            from rezup.stages.wheelhouse import collect_wheels

            plan = collect_wheels(plan, staging / paths.WHEELS_DIRNAME, compiled=compiled)
            write_find_links_page(staging / paths.WHEELS_DIRNAME)
        write_recipe_and_plan(staging, recipe_text, plan)
        standard_locks.write_published(staging, plan, revision_dir.name, compiled)
        mark_ready.write_metadata(staging, revision_metadata(revision_dir, plan, remote=True))
    newest.refresh_newest(revision_dir.parent)  # after the rename: see newest.newest_first
    write_index(revision_dir.parent.parent)  # last: what it lists is complete
    return plan


def write_index(container_dir: Path) -> None:
    """Write the container's ``index.json``: its ready revisions, newest first, as they are
    now (atomically: a server never serves half of it). Two publishers that race may each
    list the folder before the other's revision is in it; so each lists it again after its
    write, and writes again until what it wrote is what it finds: the index a publisher
    leaves lists every revision made ready before it returned."""
    import json
    import time

    listed = _ready_revisions(container_dir)
    for _ in range(10):
        document = {
            "format": remote_index.INDEX_FORMAT,
            "version": remote_index.INDEX_VERSION,
            "container": container_dir.name,
            "written": time.time(),
            "revisions": listed,
        }
        write_atomic(
            container_dir / remote_index.INDEX_FILENAME, json.dumps(document, indent=1) + "\n"
        )
        now = _ready_revisions(container_dir)
        if now == listed:
            return
        listed = now


def _ready_revisions(container_dir: Path) -> list[dict[str, object]]:
    """What ``index.json`` lists of the container's ready revisions, newest first."""
    revisions = container_dir / paths.REVISIONS_DIRNAME
    listed: list[dict[str, object]] = []
    for name in paths.revision_names(revisions):
        revision = revisions / name
        if revision_json.is_ready(revision):
            wheels = revision / paths.WHEELS_DIRNAME / remote_index.FIND_LINKS_FILENAME
            listed.append(
                {
                    "name": name,
                    "plan": (revision / paths.PLAN_FILENAME).is_file(),
                    "wheels": wheels.is_file(),
                }
            )
    return listed


def write_find_links_page(wheels_dir: Path) -> None:
    """``index.html`` in a wheelhouse: a link to each wheel, with its sha256, that uv takes as
    a ``--find-links`` page when the wheelhouse is served over HTTP(S)."""
    import hashlib
    import html
    from urllib.parse import quote

    links = []
    for wheel in sorted(wheels_dir.iterdir()):
        if not wheel.is_file() or wheel.name == remote_index.FIND_LINKS_FILENAME:
            continue
        sha256 = hashlib.sha256()
        with wheel.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                sha256.update(block)
        digest = sha256.hexdigest()
        href = html.escape(f"{quote(wheel.name)}#sha256={digest}")
        links.append(f'<a href="{href}">{html.escape(wheel.name)}</a><br>')
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html><head><meta charset="utf-8"><title>wheels</title></head><body>',
            *links,
            "</body></html>",
            "",
        ]
    )
    write_atomic(wheels_dir / remote_index.FIND_LINKS_FILENAME, page)
