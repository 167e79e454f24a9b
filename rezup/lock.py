"""Which lock fits which filesystem, and the per-revision build lock.

``fcntl`` locks (filelock's ``FileLock`` on POSIX) are released by the kernel when a process
dies, but they do not exclude across NFS clients. filelock's ``StrictSoftFileLock`` works by
creating files, which does exclude across clients, needs no lock daemon, and takes over a lock
whose owner on this host has died. So: native locks on local filesystems, strict soft locks on
network ones. ``REZUP_LOCK`` (``auto``, ``native``, ``soft``) overrides the choice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

from rezup.errors import LockError, UsageError

log = logging.getLogger("rezup")

DEFAULT_TIMEOUT = 1800.0  # seconds; a cold build of a large recipe takes minutes, not hours
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "afs", "ncpfs", "lustre", "gpfs",
    "ceph", "glusterfs", "fuse.glusterfs", "fuse.sshfs", "fuse.cephfs", "beegfs", "9p",
    "fuse.s3fs", "fuse.gcsfuse", "panfs", "wekafs", "vxfs",
})


def lock_timeout() -> float:
    value = os.environ.get("REZUP_LOCK_TIMEOUT", "")
    if not value:
        return DEFAULT_TIMEOUT
    try:
        timeout = float(value)
    except ValueError:
        raise UsageError(f"REZUP_LOCK_TIMEOUT must be a number of seconds, got {value!r}") from None
    return timeout


def lock_kind(path: Path) -> str:
    """``native`` or ``soft`` for a lock file under ``path``."""
    choice = os.environ.get("REZUP_LOCK", "auto").strip().lower() or "auto"
    if choice not in ("auto", "native", "soft"):
        raise UsageError(f"REZUP_LOCK must be auto, native or soft, got {choice!r}")
    if choice != "auto":
        return choice
    fstype = filesystem_type(path)
    return "soft" if fstype in NETWORK_FILESYSTEMS else "native"


def filesystem_type(path: Path) -> Optional[str]:
    """The filesystem type of ``path`` from the Linux mount table; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        mounts = Path("/proc/self/mounts").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    target = os.path.realpath(_existing_parent(path))
    best, best_type = "", None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        if (target == mount_point or target.startswith(mount_point.rstrip("/") + "/")) and len(
            mount_point
        ) >= len(best):
            best, best_type = mount_point, fields[2]
    return best_type


def _existing_parent(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def make_lock(lock_file: Path):
    """A filelock object of the kind that fits the filesystem of ``lock_file``."""
    import filelock

    lock_file.parent.mkdir(parents=True, exist_ok=True)
    if lock_kind(lock_file.parent) == "soft":
        # StrictSoftFileLock arrived in filelock 4 (Python 3.10+); SoftFileLock before that
        soft = getattr(filelock, "StrictSoftFileLock", filelock.SoftFileLock)
        return soft(str(lock_file))
    return filelock.FileLock(str(lock_file))


@contextlib.contextmanager
def hold(lock_file: Path, what: str, timeout: Optional[float] = None) -> Iterator[None]:
    """Hold the lock at ``lock_file`` while building ``what``.

    If another process holds it, say so once on stderr and wait, up to ``timeout`` seconds
    (``REZUP_LOCK_TIMEOUT``); then fail with an error naming the lock file.
    """
    import filelock

    timeout = lock_timeout() if timeout is None else timeout
    lock = make_lock(lock_file)
    try:
        lock.acquire(blocking=False)
    except filelock.Timeout:
        sys.stderr.write(f"rezup: waiting for another process to finish {what} "
                         f"(lock {lock_file})\n")
        sys.stderr.flush()
        started = time.monotonic()
        try:
            lock.acquire(timeout=timeout)
        except filelock.Timeout:
            raise LockError(
                f"gave up after {timeout:.0f}s waiting for the lock {lock_file} "
                f"({what}); if no rezup process is building it, remove that lock file"
            ) from None
        log.debug("waited %.1fs for %s", time.monotonic() - started, lock_file)
    except Exception as exc:  # a lock on a filesystem that cannot do it
        if isinstance(exc, LockError):
            raise
        raise LockError(f"cannot take the lock {lock_file}: {exc}") from None
    try:
        yield
    finally:
        lock.release()


def is_held(lock_file: Path) -> bool:
    """Whether some process holds the lock at ``lock_file`` right now."""
    import filelock

    if not lock_file.exists():
        return False
    lock = make_lock(lock_file)
    try:
        lock.acquire(blocking=False)
    except filelock.Timeout:
        return True
    except Exception:
        return True
    lock.release()
    return False
