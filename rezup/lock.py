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
from rezup.settings import seconds_from_env

log = logging.getLogger("rezup")

DEFAULT_TIMEOUT = 1800.0  # seconds; a cold build of a large recipe takes minutes, not hours
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "afs", "ncpfs", "lustre", "gpfs",
    "ceph", "glusterfs", "fuse.glusterfs", "fuse.sshfs", "fuse.cephfs", "beegfs", "9p",
    "fuse.s3fs", "fuse.gcsfuse", "panfs", "wekafs", "vxfs",
})


def lock_timeout() -> float:
    return seconds_from_env("REZUP_LOCK_TIMEOUT", DEFAULT_TIMEOUT)


KIND_FILENAME = "kind"  # in a container's .locks/: the lock kind every process there uses


def lock_kind(path: Path) -> str:
    """``native`` or ``soft`` for a lock file under ``path``, from ``$REZUP_LOCK`` or the
    filesystem ``path`` is on."""
    choice = os.environ.get("REZUP_LOCK", "auto").strip().lower() or "auto"
    if choice not in ("auto", "native", "soft"):
        raise UsageError(f"REZUP_LOCK must be auto, native or soft, got {choice!r}")
    if choice != "auto":
        return choice
    fstype = filesystem_type(path)
    return "soft" if fstype in NETWORK_FILESYSTEMS else "native"


def agreed_lock_kind(locks_dir: Path) -> str:
    """The lock kind of one ``.locks/`` folder: the first process to lock there records it.

    Native and soft locks do not exclude each other, so every process must use the same kind
    even if they see the filesystem differently (the file server itself sees a local disk where
    its clients see NFS). ``$REZUP_LOCK=native|soft`` still overrides it.
    """
    if os.environ.get("REZUP_LOCK", "auto").strip().lower() not in ("", "auto"):
        return lock_kind(locks_dir)
    record = locks_dir / KIND_FILENAME
    try:
        recorded = record.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        recorded = ""
    if recorded in ("native", "soft"):
        return recorded
    kind = lock_kind(locks_dir)
    locks_dir.mkdir(parents=True, exist_ok=True)
    try:
        with open(record, "x", encoding="utf-8") as stream:  # the first writer wins
            stream.write(kind + "\n")
    except FileExistsError:
        return agreed_lock_kind(locks_dir)
    return kind


def filesystem_type(path: Path, mounts: Optional[str] = None) -> Optional[str]:
    """The filesystem type of ``path`` from the Linux mount table (``mounts``: its text, read
    from ``/proc/self/mounts`` if not given); None elsewhere."""
    if mounts is None:
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
    """A filelock object of the kind agreed for ``lock_file``'s folder.

    A soft lock lives at ``NAME.softlock`` next to ``NAME.lock``, so a lock file left by the
    other kind never confuses it.
    """
    import filelock

    lock_file.parent.mkdir(parents=True, exist_ok=True)
    if agreed_lock_kind(lock_file.parent) == "soft":
        # StrictSoftFileLock arrived in filelock 4 (Python 3.10+); SoftFileLock before that
        soft = getattr(filelock, "StrictSoftFileLock", filelock.SoftFileLock)
        return soft(str(lock_file.with_suffix(".softlock")))
    return filelock.FileLock(str(lock_file))


@contextlib.contextmanager
def hold(lock_file: Path, what: str, timeout: Optional[float] = None) -> Iterator[Optional[int]]:
    """Hold the lock at ``lock_file`` while building ``what``.

    If another process holds it, say so once on stderr and wait, up to ``timeout`` seconds
    (``REZUP_LOCK_TIMEOUT``); then fail with an error naming the lock file. A soft lock whose
    owner died on this host is taken over (a native lock is freed by the kernel).

    Yields the descriptor of a native lock (None for a soft one): a child process that
    inherits it keeps the lock held for as long as it lives, even if rezup is killed first.
    """
    import filelock

    timeout = lock_timeout() if timeout is None else timeout
    lock = make_lock(lock_file)
    try:
        _acquire(lock, lock_file, what, timeout)
    except filelock.Timeout:
        raise LockError(
            f"gave up after {timeout:.0f}s waiting for the lock {lock_file} "
            f"({what}); if no rezup process is building it, remove that lock file"
        ) from None
    except (LockError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a filesystem that cannot lock
        raise LockError(f"cannot take the lock {lock_file}: {exc}") from None
    fd = getattr(getattr(lock, "_context", None), "lock_file_fd", None)
    try:
        yield fd if isinstance(fd, int) and not hasattr(lock, "claims") else None
    finally:
        lock.release()


def _acquire(lock, lock_file: Path, what: str, timeout: float) -> None:
    import filelock

    try:
        lock.acquire(blocking=False)
        return
    except filelock.Timeout:
        pass
    sys.stderr.write(f"rezup: waiting for another process to finish {what} (lock {lock_file})\n")
    sys.stderr.flush()
    started = time.monotonic()
    while True:
        if hasattr(lock, "claims"):
            break_dead_claims(lock)
        remaining = timeout - (time.monotonic() - started)
        if remaining <= 0:
            raise filelock.Timeout(str(lock_file))
        try:
            lock.acquire(timeout=min(1.0, remaining))
        except filelock.Timeout:
            continue
        log.debug("waited %.1fs for %s", time.monotonic() - started, lock_file)
        return


def break_dead_claims(lock) -> int:
    """Remove the claims of a ``StrictSoftFileLock`` whose owner died on this host.

    filelock never breaks a strict claim by itself (it cannot know the holder is gone); a
    process killed mid-build would block its revision until the timeout. A claim from another
    host is left alone: its owner cannot be checked from here.
    """
    broken = 0
    for claim in lock.claims:
        if _owner_is_dead(claim.pid, claim.hostname, getattr(claim, "start", None)):
            try:
                lock.force_break(claim.name)
                broken += 1
                log.info("took over lock %s left by dead process %s", lock.lock_file, claim.pid)
            except FileNotFoundError:
                pass
    return broken


def _owner_is_dead(pid: int, hostname: str, start: Optional[int]) -> bool:
    try:  # filelock's own check also handles PID namespaces and recycled PIDs
        from filelock._identity import owner_is_stale

        return bool(owner_is_stale(pid, hostname, start))
    except ImportError:
        import socket

        if hostname != socket.gethostname():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False


@contextlib.contextmanager
def try_hold(lock_file: Path) -> Iterator[bool]:
    """Take the lock at ``lock_file`` if it is free right now; yield whether it was taken."""
    import filelock

    lock = make_lock(lock_file)
    try:
        lock.acquire(blocking=False)
    except filelock.Timeout:
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(OSError):  # the folder may have been renamed (drop)
            lock.release()


def is_held(lock_file: Path) -> bool:
    """Whether a live process holds the lock at ``lock_file`` right now."""
    import filelock

    lock = make_lock(lock_file)
    if not Path(lock.lock_file).exists():
        return False
    try:
        lock.acquire(blocking=False)
    except filelock.Timeout:
        claims = getattr(lock, "claims", None)
        if claims:  # a soft lock: held only if one of its owners is alive
            return not all(_owner_is_dead(c.pid, c.hostname, getattr(c, "start", None))
                           for c in claims)
        return True
    except Exception:
        return True
    lock.release()
    return False
