"""Publishing a remote revision: its recipe, its plan, a wheelhouse if asked, and
``revision.json``, made ready by one rename; every machine builds its local twin from it.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Optional

from rezup.ground import mark_ready, newest, paths
from rezup.ground.errors import step
from rezup.ground.filesystem import new_folder, remove_tree, stale_staging
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
        write_recipe_and_plan(staging, recipe_text, plan)
        standard_locks.write_published(staging, plan, revision_dir.name, compiled)
        mark_ready.write_metadata(staging, revision_metadata(revision_dir, plan, remote=True))
    newest.refresh_newest(revision_dir.parent)  # after the rename: see newest.newest_first
    return plan


def wheelhouse_of(remote_revision_dir: Path, plan: Plan) -> Optional[Path]:
    """The wheelhouse a pull installs from with no index, if the remote revision has one."""
    return remote_revision_dir / paths.WHEELS_DIRNAME if plan.wheels else None
