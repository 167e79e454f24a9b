"""Removing revisions and containers without touching anything in use or being built.

Every removal of a revision goes through ``remove_revision``: it takes the revision's build
lock (so no build or pull is under way) and its claim exclusively (so no session or job runs
in it, and none can start meanwhile), and only then discards the folder. What is in use is
left alone; a dropped container that still has revisions in use is *hidden* (its revisions
lose their ready marker, so nobody new enters them) and ``finish_pending`` removes the rest
once they are free.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from rezup.ground import newest, paths
from rezup.ground.errors import step
from rezup.ground.filesystem import (
    clear_discarded,
    discard,
    disk_usage,
    remove_tree,
    set_aside,
    stale_staging,
    write_atomic,
)
from rezup.ground.wording import plural
from rezup.stages import bytecode_later, claims, donor_index
from rezup.stages.disk_state import ContainerDir, RevisionDir
from rezup.tools.build_lock import try_hold

log = logging.getLogger("rezup")


@dataclass
class Removal:
    """What happened to one revision: removed (or would be, with a dry run), or why not."""

    revision: str
    removed: bool
    freed: int = 0  # bytes the removal frees (files shared with the uv cache are not counted)
    why_not: str = ""  # "in use", "being built", "cannot tell (network filesystem)"
    pids: list[int] = field(default_factory=list)

    def describe(self) -> str:
        if self.removed:
            return f"{self.revision} ({format_size(self.freed)})"
        who = f" by PID {', '.join(map(str, self.pids))}" if self.pids else ""
        return f"{self.revision} ({self.why_not}{who})"


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover - unreachable


@contextlib.contextmanager
def _build_lock_free(revision: RevisionDir, held: bool) -> Iterator[bool]:
    if held:  # the caller holds it already (a drop holds every build lock of the container)
        yield True
        return
    with try_hold(revision.lock_file()) as taken:
        yield taken


def remove_revision(
    revision: RevisionDir, *, dry_run: bool = False, build_lock_held: bool = False
) -> Removal:
    """Remove ``revision`` unless it is being built or in use (here or, where that cannot be
    told, possibly elsewhere).

    A folder that never became ready (a killed build) needs no claim check: sessions claim
    only ready revisions, so nobody can have entered it.
    """
    removal, doomed = _set_aside_unless_busy(revision, dry_run, build_lock_held)
    if doomed is not None:  # the claim and locks held while checking are let go by now
        with step(f"removing revision {revision.dirname()}", doomed):
            remove_tree(doomed)
    return removal


def _set_aside_unless_busy(
    revision: RevisionDir, dry_run: bool, build_lock_held: bool
) -> tuple[Removal, Optional[Path]]:
    """The checks of ``remove_revision`` and, if they pass, the revision renamed out of the
    way (its new name), all while the claim is held."""
    path = revision.path()
    with _build_lock_free(revision, build_lock_held) as free_of_builds:
        if not free_of_builds:
            return Removal(revision.dirname(), False, why_not="being built"), None
        if never_ready(revision):
            return _discard(revision, dry_run)
        with contextlib.ExitStack() as stack:
            if not claims.trusted(path):
                records = stack.enter_context(claims.removing(path))
                if records is None:
                    return Removal(
                        revision.dirname(),
                        False,
                        why_not="cannot tell who uses "
                        "it on a network filesystem (made by an older rezup)",
                    ), None
                if records:
                    return Removal(
                        revision.dirname(), False, why_not=f"in use ({_describe_records(records)})"
                    ), None
            if not stack.enter_context(claims.exclusive(path)):
                return Removal(
                    revision.dirname(), False, why_not="in use", pids=claims.holders(path)
                ), None
            return _discard(revision, dry_run)


def _describe_records(records: list[str]) -> str:
    jobs = sorted(records)
    hosts = sorted({record.partition("#")[0] for record in jobs})
    return f"{plural(len(jobs), 'job')} on {', '.join(hosts)}"


def _discard(revision: RevisionDir, dry_run: bool) -> tuple[Removal, Optional[Path]]:
    freed = disk_usage(revision.path())
    doomed = None
    if not dry_run and os.path.lexists(revision.path()):
        with step(f"removing revision {revision.dirname()}", revision.path()):
            donor_index.forget(revision.path())  # no build picks it from now on
            bytecode_later.stop_compiling(revision.path())
            doomed = set_aside(revision.path(), into=revision.container().root())
        newest.refresh_newest(revision.container().revisions())
    return Removal(revision.dirname(), True, freed=freed), doomed


def never_ready(revision: RevisionDir) -> bool:
    """Whether the revision was never ready: neither ready now, nor retired after use."""
    return (
        not revision.is_ready() and not (revision.path() / paths.RETIRED_METADATA_FILENAME).exists()
    )


def retire(revision: RevisionDir) -> None:
    """Take away the ready marker of a revision in use: nobody new enters it, what runs in it
    goes on, and it counts as incomplete (removed once free) from now on."""
    marker = revision.path() / paths.METADATA_FILENAME
    donor_index.forget(revision.path())
    with contextlib.suppress(FileNotFoundError):
        os.replace(marker, revision.path() / paths.RETIRED_METADATA_FILENAME)
        newest.refresh_newest(revision.container().revisions())


def clear_incomplete(container: ContainerDir, keep: str = "") -> list[Removal]:
    """Remove revision folders that are not ready and not being built (what a killed build,
    or a drop while they were in use, leaves behind), except ``keep``, unless in use."""
    removed = []
    for revision in container.iter_revision(validate=False):
        if revision.dirname() == keep or revision.is_ready():
            continue
        result = remove_revision(revision)
        if result.removed:
            log.info(
                "removing incomplete revision %s (its build was interrupted)", revision.dirname()
            )
        removed.append(result)
    for folder in stale_staging(container.revisions()):  # fenced builds (leases) of dead
        log.info("removing %s, left by a build that was interrupted", folder.name)
        with contextlib.suppress(OSError):
            discard(folder)
    return removed


# -- containers ----------------------------------------------------------------------------------


def mark_dropped(container: ContainerDir) -> None:
    write_atomic(container.path() / paths.DROPPED_MARKER, "dropped\n")


def is_dropped(container: ContainerDir) -> bool:
    return (container.path() / paths.DROPPED_MARKER).is_file()


def revive(container: ContainerDir) -> None:
    """A new revision is built in a dropped container: it is in use again."""
    with contextlib.suppress(FileNotFoundError):
        (container.path() / paths.DROPPED_MARKER).unlink()


def remove_dropped(container: ContainerDir) -> Optional[list[Removal]]:
    """Remove what is free of a dropped container, and the container once nothing is left.

    Returns the removals (None when the container was removed whole). A ready revision means
    it was built after the drop: the container lives again.
    """
    if any(revision.is_ready() for revision in container.iter_revision(validate=False)):
        revive(container)
        return []
    left = [
        r
        for r in (remove_revision(rev) for rev in container.iter_revision(validate=False))
        if not r.removed
    ]
    if left:
        return left
    discard(container.path())
    return None


def finish_pending(root: Path) -> None:
    """Finish the removals that waited for their revisions to be free, in a local root: dropped
    containers, and folders whose deletion was cut short."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        container_dir = Path(entry.path)
        if (container_dir / paths.DROPPED_MARKER).is_file() and paths.is_valid_container_name(
            entry.name
        ):
            container = ContainerDir(root, entry.name)
            try:
                if remove_dropped(container) is None:
                    log.info(
                        "removed dropped container %s (its last session has ended)", entry.name
                    )
            except OSError as exc:
                log.warning("cannot finish removing dropped container %s: %s", entry.name, exc)
    clear_discarded(root)
