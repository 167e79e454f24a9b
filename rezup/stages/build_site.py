"""Where a revision is built: its folder, made ready in place or by one rename (a fenced build
on a shared root), under the build lock that uv processes inherit.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from rezup.ground import locations, mark_ready, newest, paths, revision_json
from rezup.ground.errors import LockError, step
from rezup.ground.filesystem import STAGING_PREFIX, discard, flush_filesystem, new_folder
from rezup.stages import relocation
from rezup.tools import uv_process
from rezup.tools.build_lock import Held, hold

if TYPE_CHECKING:
    from rezup.ground.formats import RevisionMetadata

log = logging.getLogger("rezup")


@contextlib.contextmanager
def building_under_lock(lock_file: Path, what: str) -> Iterator[Held]:
    """Hold ``lock_file`` while building ``what``; yields the lock, for a fenced build.

    Every uv process started meanwhile inherits a native lock's descriptor: if rezup alone is
    killed, the lock stays held until the uv it started has exited too, so nobody on this
    host rebuilds under it.
    """
    with hold(lock_file, what) as held, uv_process.inheriting_fd(held.fd):
        yield held


class BuildSite:
    """Where a revision is built (``work``) and the name it is ready under (``final``).

    Under a native lock they are the same folder, built in place. Under a lease (a network
    filesystem), a lease can be taken from a builder that is only slow, so each builder works
    in a folder of its own and the revision becomes ready by one rename of it to ``final``,
    which only one builder can win (a rename onto a folder that is not empty fails): a
    builder that lost its lease, or the race, publishes nothing and removes nothing but its
    own folder.
    """

    def __init__(self, final: Path, held: Optional[Held]) -> None:
        self.final = final
        self.held = held if held is not None and held.lease is not None else None
        self.work = final

    @property
    def fenced(self) -> bool:
        return self.held is not None

    @contextlib.contextmanager
    def folder(self) -> Iterator[Path]:
        """The folder to build in, that exists at ``final`` complete, or not at all."""
        if not self.fenced:
            with new_revision_folder(self.final):
                yield self.final
            return
        _clear_abandoned(self.final)
        try:
            with new_folder(self.final, staged=True) as work:
                self.work = work
                yield work
        except OSError:
            if self.held is not None and revision_json.is_ready(self.final):
                raise LockError(
                    f"revision {self.final.name} was made ready by another "
                    "builder meanwhile; this build publishes nothing"
                ) from None
            raise
        finally:
            self.work = self.final
        newest.refresh_newest(self.final.parent)  # after the rename, as for a publish

    def commit(self, metadata: RevisionMetadata) -> None:
        """Write the ready marker (in place), or relocate the work folder for ``final`` and
        write it there, to be renamed into place by ``folder`` unless the lease was lost."""
        with step("writing revision.json (the ready marker)", self.work):
            # the claim file exists before the revision is ready, so that sessions can claim
            # it even where they may not write (a shared root built by an admin)
            locations.claim_file(self.work).touch()
            if self.fenced:  # a shared root: jobs record their claims there (claims.py)
                (self.work / paths.CLAIMS_DIRNAME).mkdir(exist_ok=True)
                relocation.relocate(self.work, self.final)
            flush_filesystem(self.work)
            lost = self.held.lost() if self.held is not None else None
            if lost:
                raise LockError(
                    f"this build of revision {self.final.name} lost its lock: "
                    f"{lost}; it publishes nothing (this host was cut off or "
                    "too slow: REZUP_LOCK_LEASE)"
                )
            mark_ready.write_metadata(self.work, metadata)


def _clear_abandoned(final: Path) -> None:
    """Remove the folders of earlier builders of ``final`` (the lease is ours now: each of
    them died or lost it). One still written by a builder cut off from the share may not go
    at once; a later build or prune clears it."""
    prefix = f"{STAGING_PREFIX}{final.name}-"
    try:
        folders = [
            entry.path for entry in os.scandir(final.parent) if entry.name.startswith(prefix)
        ]
    except OSError:
        return
    for folder in folders:
        log.info(
            "removing %s, left by a builder of revision %s that died or lost its lock",
            os.path.basename(folder),
            final.name,
        )
        with contextlib.suppress(OSError):
            discard(Path(folder))


@contextlib.contextmanager
def new_revision_folder(revision_dir: Path) -> Iterator[None]:
    """``new_folder`` for a local revision, with the container's ``.newest`` written again
    once the folder is made and once a failed build has removed it: every change of the
    revisions folder makes ``.newest`` untrusted (see ``newest.newest_first``), and sessions
    list the folder until it is written again."""
    try:
        with new_folder(revision_dir, staged=False):
            newest.refresh_newest(revision_dir.parent)
            yield
    except BaseException:
        newest.refresh_newest(revision_dir.parent)
        raise
