"""Writing to disk safely: atomic files, flushed folders, and folders that appear whole or not
at all. Every writer of rezup goes through these, so a crash at any moment leaves either the
old state or the new one, never a half-written thing that looks finished."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from rezup.ground import hosts


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, flush it, and move it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_folder(path.parent)  # make the rename itself durable


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def fsync_folder(path: Path) -> None:
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def flush_filesystem(path: Path) -> None:
    """Force what was written under ``path`` (by uv, in other processes) to disk.

    A ready marker must never reach the disk before the files it vouches for: after a power
    loss, a ``revision.json`` whose venv files were still in the page cache would be a broken
    revision that looks ready. Linux flushes only ``path``'s filesystem (``syncfs``); elsewhere
    everything is flushed.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(path, os.O_RDONLY)
            try:
                if libc.syncfs(fd) == 0:
                    return
            finally:
                os.close(fd)
        except (OSError, AttributeError):
            pass
    if hasattr(os, "sync"):
        os.sync()


def remove_tree(path: Path) -> None:
    """Remove a folder, also when parts are read-only (as installed files can be)."""
    if not os.path.lexists(path):
        return
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
        return

    def make_writable_and_retry(func, target, _exc_info):
        # removing an entry needs write access to its folder, not to the entry itself
        os.chmod(os.path.dirname(target), 0o700)
        if os.path.isdir(target) and not os.path.islink(target):
            os.chmod(target, 0o700)
        func(target)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=lambda f, p, e: make_writable_and_retry(f, p, e))
    else:
        shutil.rmtree(path, onerror=make_writable_and_retry)


STAGING_PREFIX = ".incoming-"  # a folder being written, hidden from every reader
DISCARD_PREFIX = ".dropped#"  # a folder being removed, hidden from every reader


@contextlib.contextmanager
def new_folder(final: Path, *, staged: bool) -> Iterator[Path]:
    """A folder that exists at ``final`` complete, or not at all. Yields where to write.

    ``staged``: written in a hidden sibling folder and renamed to ``final`` at the end, so no
    reader ever sees it half-written (a published remote revision). Otherwise written in
    place, for folders that cannot move once written (a venv records its own absolute path):
    the caller writes a ready marker last. Either way, any failure (an exception, Ctrl-C)
    removes what was written.
    """
    target = final.with_name(staging_name(final.name)) if staged else final
    target.mkdir(parents=True)
    try:
        yield target
        if staged:
            os.rename(target, final)
    except BaseException:
        remove_tree(target)
        raise


def staging_name(final: str) -> str:
    """The hidden name a staged folder is written under: it says whose it is."""
    import socket

    return f"{STAGING_PREFIX}{final}-{os.getpid()}@{socket.gethostname()}"


STALE_STAGING_AGE = 86400.0  # seconds after which another host's staging folder is abandoned


def stale_staging(folder: Path) -> list[Path]:
    """Staging folders in ``folder`` whose writer is gone: a dead process on this host, or
    (on a shared filesystem) a folder of another host untouched for a day."""
    import socket

    host = socket.gethostname()
    stale = []
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(STAGING_PREFIX)]
    except OSError:
        return []
    for entry in entries:
        owner = entry.name.rpartition("@")
        pid_text = owner[0].rpartition("-")[2]
        if owner[1] and owner[2] == host and pid_text.isdigit():
            alive = int(pid_text) == os.getpid() or hosts.process_alive(int(pid_text))
        else:  # another host's, or named by an older rezup: judged by its age
            try:
                alive = time.time() - entry.stat(follow_symlinks=False).st_mtime < STALE_STAGING_AGE
            except OSError:
                continue
        if not alive:
            stale.append(Path(entry.path))
    return stale


def discard(path: Path, into: Optional[Path] = None) -> None:
    """Remove the folder ``path`` so that nobody ever sees it half-deleted.

    It is renamed out of the way in one atomic step (into the folder ``into``, on the same
    filesystem; default: beside it), then deleted. The temporary name starts with a dot and a
    ``#``, so it is never taken for a container or a revision; a leftover (a removal cut
    short) is cleared by ``clear_discarded``.
    """
    remove_tree(set_aside(path, into))


def set_aside(path: Path, into: Optional[Path] = None) -> Path:
    """The first step of ``discard``: rename ``path`` out of the way; returns its new name, to
    be removed once nothing inside is held open any more (sshfs, like any libfuse
    filesystem, keeps an unlinked file that is still open as ``.fuse_hidden...``, so its
    folder cannot be removed until it is closed)."""
    folder = path.parent if into is None else into
    doomed = folder / f"{DISCARD_PREFIX}{path.name}#{os.getpid()}#{time.time():.6f}"
    os.rename(path, doomed)
    return doomed


def disk_usage(path: Path) -> int:
    """Bytes of disk that removing the folder ``path`` would free.

    A file hard-linked from elsewhere (uv links package files from its cache) frees nothing
    until its last link goes, so only files whose every link is inside ``path`` count.
    """
    folders = 0
    inodes: dict[tuple[int, int], list[int]] = {}  # (dev, ino) -> [links seen, nlink, bytes]
    stack = [str(path)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                stat = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            blocks = getattr(stat, "st_blocks", None)
            size = blocks * 512 if blocks is not None else stat.st_size
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
                folders += size
                continue
            seen = inodes.setdefault((stat.st_dev, stat.st_ino), [0, stat.st_nlink, size])
            seen[0] += 1
    return folders + sum(size for links, nlink, size in inodes.values() if links >= nlink)


def clear_discarded(folder: Path) -> None:
    """Finish removals that were cut short in ``folder`` (see ``discard``)."""
    for leftover in folder.glob(f"{DISCARD_PREFIX}*"):
        with contextlib.suppress(OSError):
            remove_tree(leftover)
