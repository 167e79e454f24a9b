"""Prune: remove old revisions of local containers, never one in use, being built, or the one
``rezup use`` enters."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Optional

from rezup.ground import newest, paths, root_settings
from rezup.ground.errors import ContainerError, UsageError
from rezup.ground.wording import plural
from rezup.stages.cleanup import Removal, finish_pending, remove_revision
from rezup.stages.disk_state import ContainerDir, RevisionDir, local_container_names

log = logging.getLogger("rezup")


@dataclass
class PruneResult:
    """What pruning one container did (or would do, with a dry run)."""

    container: str
    root: str
    removed: list[Removal] = field(default_factory=list)
    kept: list[Removal] = field(default_factory=list)  # chosen, but in use or being built

    @property
    def freed(self) -> int:
        return sum(removal.freed for removal in self.removed)


def prune(
    name: Optional[str] = None,
    *,
    keep: int = 1,
    older_than: Optional[float] = None,
    dry_run: bool = False,
) -> list[PruneResult]:
    """Prune container ``name``, or every local container (see ``prune_container``)."""
    if keep < 1:
        raise UsageError("--keep must be 1 or more: the newest ready revision always stays")
    if name is not None:
        containers = [_local(paths.check_container_name(name))]
        if not containers[0].is_exists():
            raise ContainerError(f"no container named {name!r} in {containers[0].root()}")
    else:
        containers = [_local(n) for n in sorted(local_container_names())]
    results = []
    for root in sorted({c.root() for c in containers}):
        if not dry_run:
            finish_pending(root)
    for container in containers:
        if container.is_exists():
            results.append(
                prune_container(container, keep=keep, older_than=older_than, dry_run=dry_run)
            )
    return results


def _local(name: str) -> ContainerDir:
    local, _ = root_settings.container_roots(name)
    return ContainerDir(local, name)


def prune_container(
    container: ContainerDir,
    *,
    keep: int = 1,
    older_than: Optional[float] = None,
    dry_run: bool = False,
) -> PruneResult:
    """Remove the ready revisions of ``container`` beyond the newest ``keep`` (and, with
    ``older_than`` seconds, only those made longer ago), and the incomplete ones.

    Never removed: the newest ready revision, the one ``rezup use`` enters, a revision in use
    or being built. What is in use is kept and reported; a later prune removes it once free.
    """
    result = PruneResult(container.name(), str(container.root()))
    cutoff = time.time() - older_than if older_than is not None else None
    for revision in doomed_revisions(container, keep=keep, cutoff=cutoff):
        removal = remove_revision(revision, dry_run=dry_run)
        (result.removed if removal.removed else result.kept).append(removal)
    return result


def doomed_revisions(
    container: ContainerDir, *, keep: int, cutoff: Optional[float]
) -> list[RevisionDir]:
    """The revisions ``prune_container`` removes, newest first (before checking use)."""
    protected = set()
    with_remote = _entered_revision(container)
    if with_remote:
        protected.add(with_remote)
    doomed = []
    ready_seen = 0
    for revision in container.iter_revision(validate=False):
        state = revision.state()
        if state == "building":
            continue
        if state == "ready":
            ready_seen += 1
            if ready_seen <= keep or revision.dirname() in protected:
                continue
            if cutoff is not None and revision.seconds() > cutoff:
                continue
        doomed.append(revision)  # incomplete and broken ones go whatever their age
    return doomed


def _entered_revision(container: ContainerDir) -> Optional[str]:
    """The revision ``rezup use`` enters in this (local) container, if it can be told."""
    try:
        _, remote_root = root_settings.container_roots(container.name())
        remote = (
            root_settings.remote_revisions(remote_root, container.name()) if remote_root else None
        )
        # a root served over HTTP: the index fetched last, however old (never fetched here)
        stamp, _, _ = newest.choose_revision(
            str(container.revisions()), remote, remote_index_age=float("inf")
        )
    except Exception:  # an unreadable remote: protect the newest local only
        return None
    return stamp


def clean_after_build(container: ContainerDir) -> None:
    """``$REZUP_CLEAN_AFTER``: after a new revision is ready (an add or a pull), prune the
    container's revisions older than that, except the newest and those in use."""
    from rezup.ground.settings import clean_after

    older_than = clean_after()
    if older_than is None:
        return
    result = prune_container(container, keep=1, older_than=older_than)
    for line in describe([result], dry_run=False)[:-1]:
        log.info("REZUP_CLEAN_AFTER: %s", line)


def describe(results: list[PruneResult], dry_run: bool) -> list[str]:
    """Lines that say what a prune removed, kept, and freed."""
    from rezup.stages.cleanup import format_size

    verb = "would remove" if dry_run else "removed"
    lines = []
    for result in results:
        if result.removed:
            lines.append(
                f"{result.container}: {verb} "
                + ", ".join(removal.describe() for removal in result.removed)
            )
        if result.kept:
            lines.append(
                f"{result.container}: kept "
                + ", ".join(removal.describe() for removal in result.kept)
                + "; a later prune removes them once free"
            )
    total = sum(result.freed for result in results)
    count = sum(len(result.removed) for result in results)
    if not count:
        lines.append("nothing to remove")
    else:
        lines.append(
            f"{verb} {plural(count, 'revision')}, "
            f"{'would free' if dry_run else 'freed'} {format_size(total)}"
        )
    return lines
