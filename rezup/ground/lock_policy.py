"""Lock files below filelock: which kind of lock a folder's locks are, and native ``flock``\\ s
taken without waiting, or waited for without polling.

A job that finds its revision being pulled by another process waits here, on the lean
``rezup use`` path (``entry``), blocked in the kernel until the builder lets go: no CLI
to import and no polling. So this module imports only ``os`` and ``sys`` at module level;
``fcntl`` and the signal module are built in (``_signal``, not ``signal``, which imports
``enum``). ``rezup.tools.build_lock`` builds on it (and re-exports the kind functions).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Union

    PathLike = Union[str, os.PathLike]

DEFAULT_TIMEOUT = 1800.0  # seconds; a cold build of a large recipe takes minutes, not hours
DEFAULT_LEASE = 60.0  # seconds a build lease lives unrefreshed on a network filesystem
KIND_FILENAME = "kind"  # in a container's .locks/: the lock kind every process there uses
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smb2",
        "smb3",
        "smbfs",
        "afs",
        "ncpfs",
        "lustre",
        "gpfs",
        "ceph",
        "glusterfs",
        "fuse.glusterfs",
        "fuse.sshfs",
        "fuse.cephfs",
        "beegfs",
        "9p",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "panfs",
        "wekafs",
        "vxfs",
    }
)


def lock_timeout() -> float:
    """``$REZUP_LOCK_TIMEOUT``: how long to wait for another process's build (seconds).

    ``settings.seconds_from_env`` is the rule; a plain number of seconds is read here without
    importing it (it imports the error classes, and with them typing and enum: ~10 ms on the
    lean path of a waiting job), anything else goes to it.
    """
    value = os.environ.get("REZUP_LOCK_TIMEOUT", "")
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if 0 <= seconds < float("inf"):
        return seconds
    from rezup.ground.settings import seconds_from_env

    return seconds_from_env("REZUP_LOCK_TIMEOUT", DEFAULT_TIMEOUT)


def lease_seconds() -> float:
    """``$REZUP_LOCK_LEASE``: how long a build lease on a network filesystem lives without a
    refresh before any host may take it over (seconds; every host must agree)."""
    from rezup.ground.settings import seconds_from_env

    seconds = seconds_from_env("REZUP_LOCK_LEASE", DEFAULT_LEASE)
    if seconds < 1:
        from rezup.ground.errors import UsageError

        raise UsageError(f"REZUP_LOCK_LEASE must be at least 1 second, got {seconds:g}")
    return seconds


# -- which kind -----------------------------------------------------------------------------------


def lock_choice() -> str:
    """``$REZUP_LOCK``: ``auto`` (the default), ``native`` or ``soft``; anything else is a
    usage error, wherever it is read."""
    choice = os.environ.get("REZUP_LOCK", "auto").strip().lower() or "auto"
    if choice not in ("auto", "native", "soft"):
        from rezup.ground.errors import UsageError

        raise UsageError(f"REZUP_LOCK must be auto, native or soft, got {choice!r}")
    return choice


def lock_kind(path: PathLike) -> str:
    """``native`` or ``soft`` for a lock file under ``path``, from ``$REZUP_LOCK`` or the
    filesystem ``path`` is on."""
    choice = lock_choice()
    if choice != "auto":
        return choice
    return "soft" if filesystem_type(path) in NETWORK_FILESYSTEMS else "native"


def agreed_lock_kind(locks_dir: PathLike) -> str:
    """The lock kind of one ``.locks/`` folder: the first process to lock there records it.

    Native and soft locks do not exclude each other, so every process must use the same kind
    even if they see the filesystem differently (the file server itself sees a local disk where
    its clients see NFS). ``$REZUP_LOCK=native|soft`` still overrides it.
    """
    if lock_choice() != "auto":
        return lock_kind(locks_dir)
    record = os.path.join(locks_dir, KIND_FILENAME)
    recorded = _read_kind(record, strict=True)
    if recorded in ("native", "soft"):
        return recorded
    os.makedirs(locks_dir, exist_ok=True)
    kind = _working_kind(os.fspath(locks_dir), lock_kind(locks_dir))
    try:  # the first writer wins
        fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return _kind_recorded_meanwhile(record, kind)
    try:
        os.write(fd, f"{kind}\n".encode())
    except BaseException:  # a full disk: leave no empty record behind
        os.close(fd)
        os.unlink(record)
        raise
    os.close(fd)
    return kind


def _working_kind(locks_dir: str, kind: str) -> str:
    """``kind``, checked once per folder on the mount itself: ``native`` where ``flock``
    fails there (NFS without a lock manager says ENOLCK) becomes ``soft``; ``soft`` needs an
    exclusive create that excludes and a rename that works, else this is an error naming the
    mount and ``REZUP_LOCK`` at once (never a wait for a lock nobody holds)."""
    probe = os.path.join(locks_dir, f".probe-{os.urandom(8).hex()}")  # no secrets: lean
    if kind == "native":
        import fcntl

        try:
            fd = os.open(probe, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
                os.unlink(probe)
            return kind
        except OSError:
            kind = "soft"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.close(fd)
        try:
            try:
                os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                excludes = False
            except FileExistsError:
                excludes = True
            except PermissionError:  # sshfs (SFTP v3) reports "exists" as EPERM
                excludes = os.path.lexists(probe)
            os.rename(probe, probe + ".moved")
            probe += ".moved"
        finally:
            os.unlink(probe)
    except OSError as exc:
        excludes, why = False, exc.strerror or str(exc)
    else:
        why = "an exclusive create (O_EXCL) does not exclude there"
    if not excludes:
        from rezup.ground.errors import LockError

        raise LockError(
            f"cannot lock on the {filesystem_type(locks_dir) or 'unknown'} mount of "
            f"{locks_dir}: {why}; set REZUP_LOCK=native if its locks work across machines"
        )
    return kind


def _kind_recorded_meanwhile(record: str, kind: str) -> str:
    """The kind another process is recording in ``record`` (created a moment ago: give it
    ~0.1 s to write it); ``kind`` if the record stays empty or damaged."""
    import time

    for _ in range(20):
        recorded = _read_kind(record, strict=True)
        if recorded in ("native", "soft"):
            return recorded
        try:
            if time.time() - os.stat(record).st_mtime > 1.0:  # not being written: damaged
                break
        except OSError:
            break
        time.sleep(0.005)
    return kind


def recorded_kind(locks_dir: PathLike) -> str:
    """The lock kind of ``locks_dir`` without recording one (for readers)."""
    choice = lock_choice()
    if choice != "auto":
        return choice
    recorded = _read_kind(os.path.join(locks_dir, KIND_FILENAME), strict=False)
    return recorded if recorded in ("native", "soft") else lock_kind(locks_dir)


def _read_kind(record: str, strict: bool) -> str:
    """The kind recorded in ``record`` ('' if none); ``strict``: a record that exists but
    cannot be read is an OSError, not ''."""
    try:
        with open(record, encoding="utf-8") as stream:
            return stream.read().strip()
    except FileNotFoundError:
        return ""
    except OSError:
        if strict:
            raise
        return ""


def filesystem_type(path: PathLike, mounts: Optional[str] = None) -> Optional[str]:
    """The filesystem type of ``path`` from the Linux mount table (``mounts``: its text, read
    from ``/proc/self/mounts`` if not given); None elsewhere."""
    if mounts is None:
        if not sys.platform.startswith("linux"):
            return None
        try:
            with open("/proc/self/mounts", encoding="utf-8", errors="replace") as stream:
                mounts = stream.read()
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


def _existing_parent(path: PathLike) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


# -- native locks ---------------------------------------------------------------------------------


def take(path: PathLike) -> Optional[int]:
    """Take the native lock at ``path`` (made if missing) if it is free now: its descriptor
    (closing it lets go), or None while another process holds it. Interoperates with
    filelock's ``FileLock``: the same ``flock`` on the same file, which stays in place."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_nlink == 0:  # removed meanwhile: a lock that guards no name
            os.close(fd)
            return None
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def wait_until_free(path: PathLike, timeout: float, interruptible: bool = False) -> bool:
    """Wait until no process holds the native lock at ``path``, at most ``timeout`` seconds;
    return whether it is free (it may be taken again at once: take it to be sure).

    Blocks in the kernel (a shared ``flock``) with ``SIGALRM`` as the time limit, in the
    main thread where nothing else uses that signal; polls every 50 ms elsewhere.
    ``interruptible``: SIGTERM and SIGHUP, where their handlers are the default ones, raise
    ``Interrupted`` (a KeyboardInterrupt, as SIGINT does) while waiting, so that the caller
    can say so and exit like the command line does.
    """
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        if timeout <= 0:
            return False
        blocked = _blocking_wait(fd, timeout, interruptible)
        return blocked if blocked is not None else _polling_wait(fd, timeout)
    finally:
        os.close(fd)  # and with it the shared lock


def _signals():
    try:
        import _signal as signals  # the C module: `signal` imports enum for its names
    except ImportError:  # pragma: no cover - another Python
        import signal as signals
    return signals


class _Expired(Exception):
    pass


def _blocking_wait(fd: int, timeout: float, interruptible: bool) -> Optional[bool]:
    """A blocking shared ``flock`` ended by ``SIGALRM``; None where that cannot be used."""
    signals = _signals()
    if (
        not hasattr(signals, "setitimer")
        or signals.getitimer(signals.ITIMER_REAL) != (0.0, 0.0)
        or signals.getsignal(signals.SIGALRM) not in (signals.SIG_DFL, signals.SIG_IGN, None)
    ):
        return None
    import fcntl

    waiting = [True]

    def expire(_signum, _frame) -> None:
        if waiting[0]:
            raise _Expired

    def interrupt(signum, _frame) -> None:
        from rezup.ground.errors import Interrupted  # only when a signal comes: not while waiting

        raise Interrupted(signum)

    try:
        saved = {signals.SIGALRM: signals.signal(signals.SIGALRM, expire)}
    except ValueError:  # not the main thread
        return None
    for name in ("SIGTERM", "SIGHUP") if interruptible else ():
        number = getattr(signals, name, None)
        if number is not None and signals.getsignal(number) == signals.SIG_DFL:
            saved[number] = signals.signal(number, interrupt)
    try:
        try:
            signals.setitimer(signals.ITIMER_REAL, timeout)
            fcntl.flock(fd, fcntl.LOCK_SH)
            return True
        finally:
            waiting[0] = False
            signals.setitimer(signals.ITIMER_REAL, 0)
    except _Expired:
        return False
    finally:
        for number, handler in saved.items():
            signals.signal(number, handler)


def _polling_wait(fd: int, timeout: float) -> bool:
    import fcntl
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(0.05, left))
