"""Which lock fits which filesystem, and the per-revision build lock.

``fcntl`` locks (filelock's ``FileLock`` on POSIX) are released by the kernel when a process
dies, but they do not exclude across NFS clients (nor sshfs mounts). There rezup uses a
*lease* (``rezup.ground.lease``): a record created exclusively, refreshed while its holder works and
taken over by any host once it has not changed for the lease time (``REZUP_LOCK_LEASE``), so a
dead or cut-off host costs one lease, not the lock timeout. A lease can be taken from a holder
that is merely slow, so builds under one are fenced (``build``): a builder that lost its lease
publishes nothing. So: native locks on local filesystems, leases ("soft" locks) on network
ones, chosen by what the mount can do (``lock_policy.agreed_lock_kind``). ``REZUP_LOCK``
(``auto``, ``native``, ``soft``) overrides the choice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Optional, Union

from rezup.ground.errors import LockError
from rezup.ground.lease import Lease, LeaseTimeout, describe, parse
from rezup.ground.lock_policy import (  # re-exported: the kinds are decided there, below filelock
    DEFAULT_LEASE,
    DEFAULT_TIMEOUT,
    KIND_FILENAME,
    NETWORK_FILESYSTEMS,
    agreed_lock_kind,
    filesystem_type,
    lease_seconds,
    lock_kind,
    lock_timeout,
    recorded_kind,
    wait_until_free,
)

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_TIMEOUT",
    "KIND_FILENAME",
    "NETWORK_FILESYSTEMS",
    "Held",
    "adopt",
    "agreed_lock_kind",
    "filesystem_type",
    "hold",
    "is_held",
    "lease_file",
    "lease_seconds",
    "lock_kind",
    "lock_timeout",
    "note_waiting",
    "try_hold",
]

log = logging.getLogger("rezup")


def lease_file(lock_file: Path) -> Path:
    """Where the lease of ``lock_file`` lives: ``NAME.lease`` beside ``NAME.lock`` (the native
    lock, held beside the lease for this host's uv children; see ``Held.fd``)."""
    return lock_file.with_suffix(".lease")


def _uses_lease(lock_file: Path) -> bool:
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    return agreed_lock_kind(lock_file.parent) == "soft"


class Held:
    """A lock taken: the native lock, and the lease beside it on a network filesystem."""

    def __init__(self, native, lease: Optional[Lease] = None) -> None:
        self.native, self.lease = native, lease

    @property
    def fd(self) -> Optional[int]:
        """The native lock's descriptor: a child that inherits it keeps it held as long as it
        lives (a lease alone does not outlive its holder's process)."""
        if isinstance(self.native, _Adopted):
            return self.native.fd
        fd = getattr(getattr(self.native, "_context", None), "lock_file_fd", None)
        return fd if isinstance(fd, int) else None

    def lost(self) -> Optional[str]:
        """Why this process no longer holds the lease (checked now), or None."""
        return self.lease.check() if self.lease is not None else None

    def release(self) -> None:
        for lock in (self.native, self.lease):  # the native one first
            if lock is not None:
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


# Handed over in process by the lean entry point (``entry``) to the command line it loads:
_adopted: dict[str, int] = {}  # lock file -> descriptor of a native lock it holds
_waited: dict[str, float] = {}  # lock file -> when waiting for it began (time.monotonic())


def adopt(lock_file: Union[str, os.PathLike], fd: int) -> None:
    """The next ``hold`` of ``lock_file`` in this process takes over ``fd``, a native lock
    on it already held (``lock_policy.take``), instead of locking again."""
    _adopted[os.path.abspath(lock_file)] = fd


def note_waiting(lock_file: Union[str, os.PathLike], since: float) -> None:
    """This process has waited for ``lock_file`` since ``since`` (``time.monotonic()``) and
    said so: the next ``hold`` of it says nothing more, and its time limit counts from then."""
    _waited[os.path.abspath(lock_file)] = since


@contextlib.contextmanager
def hold(lock_file: Path, what: str, timeout: Optional[float] = None) -> Iterator[Held]:
    """Hold the lock at ``lock_file`` while building ``what``.

    If another process holds it, say so once on stderr and wait, up to ``timeout`` seconds
    (``REZUP_LOCK_TIMEOUT``); then fail with an error naming the lock file. A native lock is
    freed by the kernel when its holder dies, and waited for blocked in the kernel
    (``lock_policy.wait_until_free``); a lease is taken over once its holder has not refreshed it
    for the lease time (at once if the holder was a process of this host that has died).
    """
    import filelock

    timeout = lock_timeout() if timeout is None else timeout
    adopted = _adopted.pop(os.path.abspath(lock_file), None)
    waited_since = _waited.pop(os.path.abspath(lock_file), None)
    if adopted is not None:
        held = Held(_Adopted(str(lock_file), adopted))
    else:
        lease = (
            Lease(str(lease_file(lock_file)), lease_seconds()) if _uses_lease(lock_file) else None
        )
        shown = lease.path if lease is not None else str(lock_file)
        try:
            held = _acquire(lease, lock_file, what, timeout, waited_since)
        except (filelock.Timeout, LeaseTimeout):
            raise LockError(
                f"gave up after {timeout:.0f}s waiting for the lock {shown} ({what}); "
                + (
                    f"its holder, {_holder(lease)}, is alive and still refreshes it "
                    "(a build that long? REZUP_LOCK_TIMEOUT)"
                    if lease is not None
                    else f"if no rezup process on this machine is building it, remove {shown}"
                )
            ) from None
        except (LockError, KeyboardInterrupt):
            raise
        except Exception as exc:  # a filesystem that cannot lock
            raise LockError(f"cannot take the lock {shown}: {exc}") from None
    try:
        yield held
    finally:
        held.release()


def _holder(lease: Lease) -> str:
    try:
        return describe(parse(Path(lease.path).read_bytes()))
    except OSError:
        return "a process that has just let go"


def _say_waiting(what: str, path: object) -> None:
    sys.stderr.write(f"rezup: waiting for another process to finish {what} (lock {path})\n")
    sys.stderr.flush()


def _acquire(
    lease: Optional[Lease],
    lock_file: Path,
    what: str,
    timeout: float,
    waited_since: Optional[float] = None,
) -> Held:
    """Take the lease (if any), then the native lock; ``waited_since``: this process has been
    waiting for it since then (and said so)."""
    import filelock

    started = time.monotonic() if waited_since is None else waited_since
    said = [waited_since is not None]

    def on_wait() -> None:
        if not said[0] and timeout > 0:
            _say_waiting(what, lease.path if lease is not None else lock_file)
        said[0] = True

    if lease is not None:
        lease.acquire(max(0.0, timeout - (time.monotonic() - started)), on_wait)
        if lease.took_over:
            log.warning(
                "took over the lock %s of %s, which had not refreshed it for %.0fs "
                "(a host that died or was cut off)",
                lease.path,
                lease.took_over,
                lease.duration,
            )
    native = filelock.FileLock(str(lock_file))
    try:  # free unless the uv children of a build whose owner died still run: wait for them
        while True:
            try:
                native.acquire(timeout=0)
                break
            except filelock.Timeout:
                left = timeout - (time.monotonic() - started)
                if left <= 0:
                    raise
                on_wait()
                if os.name == "nt" or lease is not None:
                    time.sleep(min(0.1, left))
                elif wait_until_free(lock_file, left):
                    time.sleep(0.001)  # free: others woke too; one of them may take it first
    except BaseException:
        if lease is not None:
            lease.release()
        raise
    if said[0]:
        log.debug("waited %.1fs for %s", time.monotonic() - started, lock_file)
    return Held(native, lease)


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


@contextlib.contextmanager
def try_hold(lock_file: Path) -> Iterator[bool]:
    """Take the lock at ``lock_file`` if it is free right now (a lease of a dead process of
    this host counts as free); yield whether it was taken."""
    try:
        lease = (
            Lease(str(lease_file(lock_file)), lease_seconds()) if _uses_lease(lock_file) else None
        )
        held = _acquire(lease, lock_file, "", timeout=0)
    except Exception:  # held, or a lock that cannot be taken: not free
        yield False
        return
    try:
        yield True
    finally:
        held.release()


def is_held(lock_file: Path) -> bool:
    """Whether a live process holds the lock at ``lock_file`` right now (a lease counts as
    held until it is taken over). Writes nothing."""
    locks_dir = lock_file.parent
    if not locks_dir.is_dir():
        return False
    if recorded_kind(locks_dir) == "soft":
        from rezup.ground.lease import holder_gone

        try:
            record = lease_file(lock_file).read_bytes()
        except FileNotFoundError:
            return not _native_free(lock_file)
        except OSError:
            return True
        return not holder_gone(parse(record)) or not _native_free(lock_file)
    return not _native_free(lock_file)
