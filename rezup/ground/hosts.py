"""Who this process is, across hosts, and whether a process another record names still runs.

Records that other hosts read (build leases, in-use claims on shared roots) name their writer
by host name, boot id and PID namespace, then PID and start time: PIDs repeat across hosts and
containers, and a PID is reused after a reboot or once its process ends. Only the host (the
same kernel boot, the same PID namespace) that wrote a record can tell whether its process
still runs; any other host can only wait for the record to expire.

Lean: the standard library's ``os`` and ``socket`` only, imported where used.
"""

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

_identity: "Optional[tuple[str, str, str]]" = None


def identity() -> "tuple[str, str, str]":
    """(host name, boot id, PID namespace) of this process; '' for what cannot be read."""
    global _identity
    if _identity is None:
        _identity = (
            hostname(),
            _read("/proc/sys/kernel/random/boot_id"),
            _readlink("/proc/self/ns/pid"),
        )
    return _identity


def hostname() -> str:
    """This host's name (``os.uname``: no ``socket`` to import on the lean path)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def start_ticks(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, Linux), '' if unknown: with the
    PID it names one process, not whichever later reuses the number."""
    text = _read(f"/proc/{pid}/stat")
    if not text:
        return ""
    fields = text.rsplit(")", 1)[-1].split()  # the command name may hold spaces and ')'
    return fields[19] if len(fields) > 19 else ""


def is_this_host(host: str, boot: str, pid_namespace: str) -> bool:
    """Whether a record with this identity was written on this host since it last booted, in
    this PID namespace: only then can its PID be checked here."""
    own_host, own_boot, own_namespace = identity()
    return host == own_host and boot == own_boot and pid_namespace == own_namespace


def process_alive(pid: int, started: str = "") -> bool:
    """Whether process ``pid`` (of this host) runs, and is the one that started at ``started``
    when that is given (``start_ticks``). A process of another user counts as alive."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists
        pass
    if started:
        now = start_ticks(pid)
        return not now or now == started
    return True


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as stream:
            return stream.read().strip()
    except OSError:
        return ""


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""
