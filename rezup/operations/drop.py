"""Drop: remove a local container, or one of its revisions, never what is in use.

A revision in use is *hidden* instead: it loses its ready marker, so nobody new enters it,
while what runs there keeps every file to the end; a later rezup run that writes (add, a pull,
prune, drop) removes it once free, and the container with it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from rezup.ground import paths
from rezup.ground.errors import ContainerError
from rezup.ground.filesystem import remove_tree, set_aside
from rezup.stages.cleanup import Removal, finish_pending, mark_dropped, remove_revision, retire
from rezup.stages.disk_state import ContainerDir
from rezup.tools.build_lock import try_hold


@dataclass
class DropResult:
    container: str
    removed: list[Removal] = field(default_factory=list)
    left: list[Removal] = field(default_factory=list)  # in use: hidden, removed when free

    @property
    def gone(self) -> bool:
        """Whether nothing of the container is left."""
        return not self.left


def drop_container(container: ContainerDir) -> DropResult:
    """Drop ``container``: remove it now if nothing in it is in use, else hide it.

    Refused while any of its revisions is being built: every build lock of the container is
    held while it runs.
    """
    _must_exist(container)
    finish_pending(container.root())
    result = DropResult(container.name())
    if not container.is_exists():  # an earlier drop of it just finished
        return result
    keys = set()
    if container.locks().is_dir():
        keys = {
            entry.name.rsplit(".", 1)[0]
            for entry in container.locks().iterdir()
            if entry.name.endswith((".lock", ".lease", ".softlock"))
        }
    doomed = None
    with contextlib.ExitStack() as stack:
        for key in sorted(keys):
            lock_file = container.lock_file(key)
            if not stack.enter_context(try_hold(lock_file)):
                raise ContainerError(
                    f"container {container.name()!r} is being built (lock {lock_file}); "
                    "try again when that build is done"
                )
        mark_dropped(container)
        for revision in container.iter_revision(validate=False):
            removal = remove_revision(revision, build_lock_held=True)
            if removal.removed:
                result.removed.append(removal)
            else:
                retire(revision)
                result.left.append(removal)
        if not result.left:
            doomed = set_aside(container.path())
    if doomed is not None:  # removed once its lock files are closed (see set_aside)
        remove_tree(doomed)
    return result


def drop_revision(container: ContainerDir, stamp: str) -> Removal:
    """Drop revision ``stamp`` of ``container``: removed now, or hidden while in use."""
    _must_exist(container)
    revision = None
    if paths.is_timestamp(stamp):
        revision = container.get_revision_by_time(float(stamp), only_ready=False)
    if revision is None:
        raise ContainerError(
            f"no revision {stamp} in container {container.name()!r} ({container.revisions()})"
        )
    finish_pending(container.root())
    removal = remove_revision(revision)
    if not removal.removed and removal.why_not != "being built":
        retire(revision)
    return removal


def _must_exist(container: ContainerDir) -> None:
    if not container.is_exists():
        raise ContainerError(f"no container named {container.name()!r} in {container.root()}")
