"""A lease on a shared filesystem: a lock that a dead or cut-off holder loses after a while.

Used for build locks on network filesystems, where ``flock`` does not exclude across hosts.
It rests only on what every shared filesystem (NFS, SMB, sshfs) gives: an exclusive create
(``O_EXCL``) and an atomic rename. filelock's ``SoftFileLease`` has the same idea, but takes
an expired lease over with ``renameat2(RENAME_EXCHANGE)``, which NFS and sshfs refuse
(``EINVAL``): there a lease whose holder died is never taken over (measured on sshfs with
filelock 4.3.2), so this module does it with a plain rename.

The protocol (``docs/farm.md`` has the table of failures):

- The holder creates ``NAME.lease`` exclusively, writing who it is (host, boot, PID
  namespace, PID, start time), a random token and the lease time, then rewrites the record's
  ``beat`` counter every third of the lease time, checking first that the record is still its
  own. A record it finds gone or replaced means the lease was taken: ``lost`` says why, and
  the holder must not publish anything (the builds it guards are fenced anyway: see
  ``build``).
- A contender reads the record. It takes the lease over when the record has not changed for
  the lease time *by the contender's own monotonic clock* (clocks skewed between hosts do
  not matter), or at once when the holder is a process of this host that has died. To take
  it, it renames the record aside to a name of its own (only one contender can), checks that
  what it moved is the record it judged stale, and removes it; a fresh record moved by
  mistake is put back with ``link`` (exclusive too).
- The lease time is the holder's, written in its record: every host expires a lease by the
  time its holder promised to refresh it in.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from typing import TYPE_CHECKING, Callable, Optional

from rezup.ground import hosts

if TYPE_CHECKING:
    import threading

FORMAT = "rezup-lease 1"
_BEAT_WIDTH = 12


class LeaseTimeout(Exception):
    """The lease was not taken in the time given."""


class Lease:
    """A lease at ``path`` held for ``duration`` seconds between refreshes."""

    def __init__(self, path: str, duration: float) -> None:
        self.path = os.fspath(path)
        self.duration = max(1.0, float(duration))
        self.token = secrets.token_hex(16)
        self.lost: Optional[str] = None  # why the lease was lost while held
        self.took_over: Optional[str] = None  # whose lease this one replaced, if any
        self._held = False
        self._beat = 0
        self._stop: Optional[threading.Event] = None  # of the heartbeat
        self._thread: Optional[threading.Thread] = None
        self._seen: Optional[bytes] = None  # the record last read, and since when
        self._seen_since = 0.0

    # -- holding ----------------------------------------------------------------------------

    def try_acquire(self) -> bool:
        """One attempt: take the lease if it is free or its holder's has expired."""
        if self._held:
            return True
        if self._create():
            return True
        record = _read(self.path)
        if record is None:  # released meanwhile
            return self._create()
        now = time.monotonic()
        if record != self._seen:
            self._seen, self._seen_since = record, now
        fields = parse(record)
        expired = now - self._seen_since >= _duration_of(fields, self.duration)
        if not expired and not holder_gone(fields):
            return False
        if self._break(record):
            self.took_over = describe(fields)
            return self._create()
        return False

    def acquire(self, timeout: float, on_wait: Optional[Callable[[], None]] = None) -> None:
        """Take the lease, waiting at most ``timeout`` seconds; ``on_wait`` is called once if
        it must wait. Raises LeaseTimeout."""
        started = time.monotonic()
        delay = 0.05
        waited = False
        while not self.try_acquire():
            left = timeout - (time.monotonic() - started)
            if left <= 0:
                raise LeaseTimeout(self.path)
            if not waited and on_wait is not None:
                on_wait()
            waited = True
            time.sleep(min(delay, left, self.duration / 4))
            delay = min(delay * 1.5, 1.0)

    def release(self) -> None:
        """Stop refreshing and remove the record, if it is still this holder's."""
        self._stop_heartbeat()
        if not self._held:
            return
        self._held = False
        with contextlib.suppress(OSError):
            record = _read(self.path)
            if record is not None and parse(record).get("token") == self.token:
                os.unlink(self.path)

    def check(self) -> Optional[str]:
        """Why the lease is no longer this holder's (checked now), or None."""
        if self.lost is None and self._held:
            record = _read(self.path)
            if record is None:
                self.lost = "its lease record was removed"
            elif parse(record).get("token") != self.token:
                self.lost = f"another process took its lease ({describe(parse(record))})"
        return self.lost

    # -- inside -------------------------------------------------------------------------------

    def _record(self) -> bytes:
        host, boot, namespace = hosts.identity()
        pid = os.getpid()
        return (
            f"{FORMAT}\nhost={host}\nboot={boot}\npidns={namespace}\npid={pid}\n"
            f"start={hosts.start_ticks(pid)}\ntoken={self.token}\n"
            f"duration={self.duration:g}\nbeat={self._beat:0{_BEAT_WIDTH}d}\n"
        ).encode()

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        except PermissionError:  # sshfs (SFTP v3) reports a lost O_EXCL race as EPERM
            if os.path.lexists(self.path):
                return False
            raise
        try:
            os.write(fd, self._record())
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            raise
        os.close(fd)
        self._held, self.lost, self._seen = True, None, None
        self._start_heartbeat()
        return True

    def _break(self, record: bytes) -> bool:
        """Remove the stale ``record``; False if another contender moved it first."""
        aside = f"{self.path}.break-{self.token}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return True  # released or broken meanwhile: try to create it
        except OSError:
            return False
        moved = _read(aside)
        if moved is not None and moved != record:  # a fresh lease, taken in between: put back
            with contextlib.suppress(OSError):
                os.link(aside, self.path)
            with contextlib.suppress(OSError):
                os.unlink(aside)
            return False
        with contextlib.suppress(OSError):
            os.unlink(aside)
        self._seen = None
        return True

    def _start_heartbeat(self) -> None:
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat, name="rezup-lease", daemon=True)
        self._thread.start()

    def _stop_heartbeat(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None and self._thread is not _current_thread():
            self._thread.join(timeout=5)
        self._stop = self._thread = None

    def _heartbeat(self) -> None:
        stop = self._stop
        assert stop is not None
        while not stop.wait(self.duration / 3):
            if self._refresh() is not None:
                return

    def _refresh(self) -> Optional[str]:
        """Rewrite the beat of the record, through a descriptor checked to be this holder's
        record (a replaced one is never written)."""
        try:
            fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            self.lost = "its lease record was removed (its holder was taken to be dead)"
            return self.lost
        except OSError:  # one failed refresh is not a lost lease: the next may work
            return None
        try:
            record = os.read(fd, 4096)
            if parse(record).get("token") != self.token:
                self.lost = f"another process took its lease ({describe(parse(record))})"
                return self.lost
            self._beat += 1
            os.pwrite(fd, self._record(), 0)
        except OSError:  # the check before publishing and the fenced commit decide
            return None
        finally:
            os.close(fd)
        return None


def _current_thread():
    import threading

    return threading.current_thread()


def parse(record: bytes) -> dict[str, str]:
    """The ``key=value`` fields of a lease record (empty for a damaged one)."""
    fields: dict[str, str] = {}
    for line in record.decode("utf-8", "replace").splitlines()[1:]:
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def describe(fields: dict[str, str]) -> str:
    """ "PID 123 on host foo" for a record's fields."""
    if not fields.get("host"):
        return "an unreadable lease record"
    return f"PID {fields.get('pid', '?')} on host {fields['host']}"


def _duration_of(fields: dict[str, str], default: float) -> float:
    try:
        value = float(fields.get("duration", ""))
    except ValueError:
        return default
    return value if 0 < value < float("inf") else default


def holder_gone(fields: dict[str, str]) -> bool:
    """Whether the record names a process of this host that has ended (no need to wait)."""
    if not hosts.is_this_host(
        fields.get("host", ""), fields.get("boot", ""), fields.get("pidns", "")
    ):
        return False
    try:
        pid = int(fields.get("pid", ""))
    except ValueError:
        return False
    return pid != os.getpid() and not hosts.process_alive(pid, fields.get("start", ""))


def _read(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as stream:
            return stream.read(4096)
    except FileNotFoundError:
        return None
    except OSError:
        return b""
