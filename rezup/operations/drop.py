"""Drop: remove a local container."""

from __future__ import annotations

import contextlib

from rezup.errors import ContainerError
from rezup.fsutil import clear_discarded, discard
from rezup.lock import try_hold
from rezup.state import ContainerDir


def drop_container(container: ContainerDir) -> None:
    """Remove a container, unless one of its revisions is being built.

    Every revision lock is taken first (so no build of a known revision can be under way),
    then the folder is discarded: renamed out of the way in one step and deleted, so nobody
    sees a half-deleted container.
    """
    if not container.is_exists():
        raise ContainerError(f"no container named {container.name()!r} in {container.root()}")
    clear_discarded(container.root())
    keys = set()
    if container.locks().is_dir():
        keys = {entry.name.rsplit(".", 1)[0] for entry in container.locks().iterdir()
                if entry.name.endswith((".lock", ".softlock"))}
    with contextlib.ExitStack() as stack:
        for key in sorted(keys):
            lock_file = container.lock_file(key)
            if not stack.enter_context(try_hold(lock_file)):
                raise ContainerError(
                    f"container {container.name()!r} is being built (lock {lock_file}); "
                    "try again when that build is done"
                )
        discard(container.path())
