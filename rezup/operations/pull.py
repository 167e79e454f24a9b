"""Pull: build the local twin of a remote revision from its plan, once for many processes."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from rezup.ground import locations, newest, paths
from rezup.ground.errors import ContainerError, RezupError, one_line
from rezup.operations.prune import clean_after_build
from rezup.stages.build import build_revision, cloned_note
from rezup.stages.build_site import building_under_lock
from rezup.stages.cleanup import finish_pending, remove_revision, revive
from rezup.stages.disk_state import ContainerDir, RevisionDir
from rezup.tools.build_lock import Held

if TYPE_CHECKING:
    from rezup.ground.formats import PullFailureRecord, RevisionMetadata
    from rezup.stages.http_remote import UrlContainer, UrlRevision

    # a remote root's container and revision: a folder, or served over HTTP(S)
    RemoteContainer = Union[ContainerDir, UrlContainer]
    RemoteRevision = Union[RevisionDir, UrlRevision]

log = logging.getLogger("rezup")

PULL_RETRY_DEFAULT = 300.0  # seconds a failed pull is not tried again


def pull_retry_after() -> float:
    from rezup.ground.settings import seconds_from_env

    return seconds_from_env("REZUP_PULL_RETRY", PULL_RETRY_DEFAULT)


def _failure_file(revision: RevisionDir) -> Path:
    container = revision.container()
    return locations.pull_failure_file(container.root(), container.name(), revision.dirname())


def recent_pull_failure(revision: RevisionDir) -> Optional[str]:
    """Why pulling ``revision`` failed, if it failed less than ``REZUP_PULL_RETRY`` ago.

    A pull that fails (index down, a pin gone) would otherwise be tried again by every job on
    every machine, each waiting for the one before it to fail.
    """
    failure = pull_failure(revision)
    if failure is None:
        return None
    return (
        f"{failure['reason']} (failed less than {pull_retry_after():.0f}s ago; not tried "
        "again before then)"
    )


def pull_failure(revision: RevisionDir) -> Optional[PullFailureRecord]:
    """The recorded failure of the last pull of ``revision`` while it still holds: its
    ``reason``, ``time`` (seconds) and ``retry_in`` (seconds)."""
    path = _failure_file(revision)
    try:
        failed = path.stat().st_mtime
        reason = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    retry_in = pull_retry_after() - (time.time() - failed)
    if retry_in <= 0:
        return None
    return {"reason": reason, "time": failed, "retry_in": retry_in}


class RecentPullFailure(ContainerError):
    """The pull failed a moment ago: it is not tried again yet (nor recorded again)."""


def pull(remote_revision: RemoteRevision, local: ContainerDir) -> RevisionDir:
    """The local twin of ``remote_revision``, built from its plan if not usable yet.

    Many processes may ask at once: one builds under the revision lock, the others wait and
    then find it ready. A partial folder left by a killed build (or a twin whose metadata
    broke) is cleared first. Any failure (uv, the filesystem, the lock) is recorded and the
    pull is not tried again for ``REZUP_PULL_RETRY`` seconds: the waiting processes and later
    jobs get the same error at once. Raises ContainerError.
    """
    revision = local.revision(remote_revision.dirname())
    if revision.is_usable():
        return revision
    try:
        _pull_under_lock(remote_revision, local, revision)
    except RecentPullFailure:
        raise
    except (RezupError, OSError) as exc:
        if revision.is_usable():  # another host built it meanwhile: this one lost its lease
            log.warning(
                "this build of revision %s lost its lock to another builder, which "
                "made it ready meanwhile (%s); using that one",
                revision.dirname(),
                one_line(exc),
            )
            return revision
        reason = one_line(exc)
        with contextlib.suppress(OSError):  # a full disk may refuse the record too
            failure = _failure_file(revision)
            failure.parent.mkdir(parents=True, exist_ok=True)
            failure.write_text(f"{reason}\n", encoding="utf-8")
        newest.refresh_newest(local.revisions())  # the failed build's folder is gone
        raise ContainerError(reason) from None
    with contextlib.suppress(OSError):
        _failure_file(revision).unlink()
    clean_after_build(local)
    return revision


def _pull_under_lock(
    remote_revision: RemoteRevision, local: ContainerDir, revision: RevisionDir
) -> None:
    dirname = remote_revision.dirname()
    finish_pending(local.root())
    with building_under_lock(
        revision.lock_file(), f"pulling revision {dirname} of {local.name()}"
    ) as held:
        if revision.is_usable():
            return
        failure = recent_pull_failure(revision)
        if failure is not None:
            raise RecentPullFailure(failure)
        revive(local)
        if revision.path().exists():
            log.info("clearing incomplete revision %s (an earlier build was interrupted)", dirname)
            cleared = remove_revision(revision, build_lock_held=True)
            if not cleared.removed:  # dropped while in use, and still in use
                raise ContainerError(
                    f"revision {dirname} of {local.name()} was dropped and is "
                    f"still {cleared.why_not}; pull it again once it is free"
                )
        started = time.monotonic()
        log.info(
            "pulling revision %s of %s from %s",
            dirname,
            local.name(),
            remote_revision.container().root(),
        )
        source = {"pulled_from": remote_revision.location()}
        if not remote_revision.has_plan():  # published by rezup 2.x: no pins
            metadata = _pull_by_resolving(remote_revision, revision, source, held)
        else:
            plan = remote_revision.plan()
            metadata = build_revision(
                plan,
                remote_revision.recipe_text(),
                revision.path(),
                container_dir=local.path(),
                find_links=remote_revision.wheelhouse(plan),
                extra_metadata=source,
                held=held,
                # its standard locks, copied: read from its folder, or fetched one by one
                lock_source=remote_revision.path()
                if isinstance(remote_revision, RevisionDir)
                else remote_revision.text,
            )
        log.info(
            "revision %s of %s is ready (%.1fs%s)",
            dirname,
            local.name(),
            time.monotonic() - started,
            cloned_note(metadata),
        )


def _pull_by_resolving(
    remote_revision: RemoteRevision, revision: RevisionDir, source: dict[str, str], held: Held
) -> RevisionMetadata:
    """Build a remote revision published by rezup 2.x, which holds a recipe and no plan: its
    recipe is resolved now, as rezup 2.x did on every machine."""
    from rezup.stages.build import plan_and_build
    from rezup.stages.recipe_loading import parse_recipe

    log.info(
        "revision %s was published by rezup 2.x: resolving its recipe", remote_revision.dirname()
    )
    # relative paths in it are anchored at its folder; a recipe fetched over HTTP has none
    recipe_file = (
        remote_revision.path() / paths.RECIPE_FILENAME
        if isinstance(remote_revision, RevisionDir)
        else None
    )
    recipe = parse_recipe(remote_revision.recipe_text(), source=recipe_file)
    local = revision.container()
    _, metadata = plan_and_build(
        recipe,
        local.name(),
        revision.path(),
        container_dir=local.path(),
        extra_metadata=source,
        held=held,
    )
    return metadata


def last_pulled(local: ContainerDir, remote: RemoteContainer) -> Optional[RevisionDir]:
    """The newest ready local revision that was pulled from ``remote``: it says so, or (one
    rezup 2.x pulled, which records nothing) the remote has a revision of its name."""

    def published(name: str) -> bool:  # a folder only: 2.x never served a root over HTTP
        return isinstance(remote, ContainerDir) and os.path.isdir(remote.revisions() / name)

    found = newest.last_pulled_from(str(local.revisions()), str(remote.revisions()), published)
    return local.revision(found[0]) if found else None
