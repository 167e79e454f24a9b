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

from rezup.errors import LockError
from rezup.lockfile import (  # re-exported: the kinds are decided there, below filelock
    DEFAULT_TIMEOUT,
    KIND_FILENAME,
    NETWORK_FILESYSTEMS,
    agreed_lock_kind,
    filesystem_type,
    lock_kind,
    lock_timeout,
    recorded_kind,
    wait_until_free,
)

__all__ = [
    "DEFAULT_TIMEOUT", "KIND_FILENAME", "NETWORK_FILESYSTEMS", "adopt", "agreed_lock_kind",
    "break_stale", "filesystem_type", "hold", "is_held", "lock_kind", "lock_timeout",
    "make_lock", "note_waiting", "try_hold",
]

log = logging.getLogger("rezup")


def make_lock(lock_file: Path):
    """A filelock object of the kind agreed for ``lock_file``'s folder.

    A soft lock lives at ``NAME.softlock`` next to ``NAME.lock``, so a lock file left by the
    other kind never confuses it.
    """
    import filelock

    lock_file.parent.mkdir(parents=True, exist_ok=True)
    if agreed_lock_kind(lock_file.parent) == "soft":
        return _soft_lock(lock_file)
    return filelock.FileLock(str(lock_file))


def _soft_lock(lock_file: Path):
    import filelock

    # StrictSoftFileLock arrived in filelock 4 (Python 3.10+); SoftFileLock before that
    soft = getattr(filelock, "StrictSoftFileLock", filelock.SoftFileLock)
    return soft(str(lock_file.with_suffix(".softlock")))


def _is_soft(lock) -> bool:
    return str(lock.lock_file).endswith(".softlock")


class _Held:
    """A lock taken: the lock itself and the native lock (itself, or beside a soft one)."""

    def __init__(self, lock, native) -> None:
        self.lock, self.native = lock, native

    @property
    def fd(self) -> Optional[int]:
        """The native lock's descriptor: a child that inherits it keeps it held as long as it
        lives (a soft lock alone dies with its owner's PID, not with its children)."""
        if isinstance(self.native, _Adopted):
            return self.native.fd
        fd = getattr(getattr(self.native, "_context", None), "lock_file_fd", None)
        return fd if isinstance(fd, int) else None

    def release(self) -> None:
        for lock in dict.fromkeys((self.native, self.lock)):  # the native one first, once
            with contextlib.suppress(OSError):  # the folder may have been renamed (drop)
                lock.release()


class _Adopted:
    """A native lock this process took before the command line ran (``adopt``)."""

    def __init__(self, lock_file: str, fd: int) -> None:
        self.lock_file, self.fd = lock_file, fd

    def release(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)  # closing the only descriptor lets go of the flock


# Handed over in process by the lean entry point (fastpath) to the command line it loads:
_adopted: dict[str, int] = {}  # lock file -> descriptor of a native lock it holds
_waited: dict[str, float] = {}  # lock file -> when waiting for it began (time.monotonic())


def adopt(lock_file: Path, fd: int) -> None:
    """The next ``hold`` of ``lock_file`` in this process takes over ``fd``, a native lock
    on it already held (``lockfile.take``), instead of locking again."""
    _adopted[os.path.abspath(lock_file)] = fd


def note_waiting(lock_file: Path, since: float) -> None:
    """This process has waited for ``lock_file`` since ``since`` (``time.monotonic()``) and
    said so: the next ``hold`` of it says nothing more, and its time limit counts from then."""
    _waited[os.path.abspath(lock_file)] = since


@contextlib.contextmanager
def hold(lock_file: Path, what: str, timeout: Optional[float] = None) -> Iterator[Optional[int]]:
    """Hold the lock at ``lock_file`` while building ``what``.

    If another process holds it, say so once on stderr and wait, up to ``timeout`` seconds
    (``REZUP_LOCK_TIMEOUT``); then fail with an error naming the lock file. A stale lock is
    taken over (see ``break_stale``; a native lock is freed by the kernel). A native lock is
    waited for blocked in the kernel, not by polling (``lockfile.wait_until_free``).

    Yields the descriptor of the native lock (also held beside a soft one): a child process
    that inherits it keeps the lock held for as long as it lives, even if rezup is killed.
    """
    import filelock

    timeout = lock_timeout() if timeout is None else timeout
    adopted = _adopted.pop(os.path.abspath(lock_file), None)
    if adopted is not None:
        native = _Adopted(str(lock_file), adopted)
        held = _Held(native, native)
    else:
        lock = make_lock(lock_file)
        try:
            held = _acquire(lock, lock_file, what, timeout,
                            waited_since=_waited.pop(os.path.abspath(lock_file), None))
        except filelock.Timeout:
            raise LockError(
                f"gave up after {timeout:.0f}s waiting for the lock {lock.lock_file} ({what}); "
                f"if no rezup process on any machine is building it, remove "
                f"{_remove_hint(lock)}"
            ) from None
        except (LockError, KeyboardInterrupt):
            raise
        except Exception as exc:  # a filesystem that cannot lock
            raise LockError(f"cannot take the lock {lock.lock_file}: {exc}") from None
    try:
        yield held.fd
    finally:
        held.release()


def _remove_hint(lock) -> str:
    if _is_soft(lock):
        return f"{lock.lock_file} and the folder {lock.lock_file}.filelock"
    return str(lock.lock_file)


def _acquire(lock, lock_file: Path, what: str, timeout: float,
             waited_since: Optional[float] = None) -> _Held:
    """Take ``lock``; ``waited_since``: this process has been waiting for it since then (and
    said so)."""
    import filelock

    started = time.monotonic() if waited_since is None else waited_since
    said = waited_since is not None
    soft = _is_soft(lock)
    blocking = not soft and os.name != "nt"  # wait in the kernel, not by polling
    while True:
        if soft:
            break_stale(lock, lock_file, stale_after=timeout)
        remaining = timeout - (time.monotonic() - started)
        try:
            lock.acquire(timeout=0 if not said or blocking else max(0.0, min(1.0, remaining)))
        except filelock.Timeout:
            if time.monotonic() - started >= timeout:
                raise
            if not said:
                sys.stderr.write(f"rezup: waiting for another process to finish {what} "
                                 f"(lock {lock.lock_file})\n")
                sys.stderr.flush()
                said = True
            if blocking and wait_until_free(lock_file, timeout - (time.monotonic() - started)):
                time.sleep(0.001)  # free: others woke too; one of them may take it first
            continue
        break
    if said:
        log.debug("waited %.1fs for %s", time.monotonic() - started, lock.lock_file)
    if not soft:
        return _Held(lock, lock)
    _mark_owner(lock)
    native = filelock.FileLock(str(lock_file))
    try:  # free unless the uv children of a build whose owner died still run: wait for them
        native.acquire(timeout=max(0.0, timeout - (time.monotonic() - started)))
    except BaseException:
        lock.release()
        raise
    return _Held(lock, native)


def _mark_owner(lock) -> None:
    """Say who holds a plain SoftFileLock (filelock 3, Python 3.9), which itself writes an
    empty file: with "pid, host" in it, others can tell when its owner has died."""
    if hasattr(lock, "claims"):
        return  # a strict lock records its owner in its claim
    import socket

    with contextlib.suppress(OSError), open(lock.lock_file, "w", encoding="utf-8") as stream:
        stream.write(f"{os.getpid()}\n{socket.gethostname()}\n")


def break_stale(lock, lock_file: Path, stale_after: float) -> int:
    """Take over a soft lock whose holder is gone; return how many claims were broken.

    - A claim or marker of a process on this host that has died, once the native lock beside
      it is free (no uv child of that build still runs).
    - A lock file that names no owner (empty, damaged, or from an older rezup) and has not
      changed for ``stale_after`` seconds: nobody could hold a lock that long and leave no
      trace of it.
    A claim from another host is left alone: its owner cannot be checked from here; waiting
    for it ends at the timeout with an error that names the files to remove.
    """
    if not _native_free(lock_file):
        return 0
    broken = 0
    for claim in getattr(lock, "claims", ()):
        if _owner_is_dead(claim.pid, claim.hostname, getattr(claim, "start", None)):
            with contextlib.suppress(FileNotFoundError):
                lock.force_break(claim.name)
                broken += 1
                log.info("took over lock %s left by dead process %s", lock.lock_file, claim.pid)
    marker = Path(lock.lock_file)
    owner = _marker_owner(marker)
    if owner == "sentinel" or owner == "absent":
        return broken
    stale = False
    if isinstance(owner, tuple):
        stale = _owner_is_dead(owner[0], owner[1], None)
    else:  # names no owner
        with contextlib.suppress(OSError):
            stale = time.time() - marker.stat().st_mtime >= stale_after
    if stale:
        with contextlib.suppress(FileNotFoundError):
            marker.unlink()
            broken += 1
            log.warning("took over stale lock %s (%s)", marker,
                        f"left by dead process {owner[0]}" if isinstance(owner, tuple)
                        else "it names no owner and has not changed for "
                             f"{stale_after:.0f}s")
    return broken


def _marker_owner(path: Path):
    """Who a soft lock file names: ``(pid, host)``, ``"sentinel"`` (a strict lock's), ``"absent"``
    or ``"unknown"``."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "absent"
    except OSError:
        return "unknown"
    try:
        from filelock._soft_protocol import STRICT_SOFT_SENTINEL_RECORD
    except ImportError:  # filelock 3: no strict locks
        STRICT_SOFT_SENTINEL_RECORD = None
    if STRICT_SOFT_SENTINEL_RECORD is not None and text == STRICT_SOFT_SENTINEL_RECORD:
        return "sentinel"
    lines = text.splitlines()
    if len(lines) >= 2 and lines[0].strip().isdigit() and lines[1].strip():
        return int(lines[0]), lines[1].strip()
    return "unknown"


def _native_free(lock_file: Path) -> bool:
    """Whether nobody (no process on this host) holds the native lock at ``lock_file``."""
    if os.name == "nt":
        return True
    import fcntl

    try:
        fd = os.open(lock_file, os.O_RDONLY)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _owner_is_dead(pid: int, hostname: str, start: Optional[int]) -> bool:
    import socket

    if hostname != socket.gethostname():
        return False
    try:  # filelock's own check also handles PID namespaces and recycled PIDs
        from filelock._identity import owner_is_stale

        if start is not None:
            return bool(owner_is_stale(pid, hostname, start))
    except ImportError:
        pass
    if pid == os.getpid():
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
    """Take the lock at ``lock_file`` if it is free right now (a stale soft lock counts as
    free); yield whether it was taken."""
    import filelock

    lock = make_lock(lock_file)
    try:
        held = _acquire(lock, lock_file, "", timeout=0)
    except (filelock.Timeout, LockError):
        yield False
        return
    except Exception:  # a lock that cannot be taken is not free
        yield False
        return
    try:
        yield True
    finally:
        held.release()


def is_held(lock_file: Path) -> bool:
    """Whether a live process holds the lock at ``lock_file`` right now. Writes nothing."""
    locks_dir = lock_file.parent
    if not locks_dir.is_dir():
        return False
    if recorded_kind(locks_dir) == "soft":
        soft = lock_file.with_suffix(".softlock")
        if not soft.exists():
            return not _native_free(lock_file)
        lock = _soft_lock(lock_file)
        claims = getattr(lock, "claims", None)
        if claims:
            return not all(_owner_is_dead(c.pid, c.hostname, getattr(c, "start", None))
                           for c in claims) or not _native_free(lock_file)
        owner = _marker_owner(soft)
        if isinstance(owner, tuple):
            return not _owner_is_dead(*owner, None) or not _native_free(lock_file)
        return owner != "absent"
    return not _native_free(lock_file)
