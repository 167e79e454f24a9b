"""A render farm on one Linux machine: N "hosts" that mount one shared folder over the network.

Each host is a set of Linux namespaces of its own (UTS: its own hostname; PID: its own process
tree, its init is PID 1; mount: its own mounts and /proc) whose init mounts the share through
its OWN network-filesystem client: ``sshfs`` to an ``sshd`` listening on 127.0.0.1 (the only
network address this harness ever uses). Every host mounts the share at the SAME absolute
path, the way render-farm machines each mount one NFS export, so paths written on one host
mean the same thing on every other. Each host also has a folder of its own on the real local
disk (``Host.dir``) for its HOME, caches and local roots.

What the share behaves like (sshfs 3.7.3 / OpenSSH 9.2, measured here; the tests of this
harness, ``tests/e2e/test_farm_harness.py``, check the first points):

* ``O_CREAT | O_EXCL`` is exclusive across hosts (the SFTP server opens with ``O_EXCL``): one
  winner. BUT the loser of a real race gets EPERM, not EEXIST, whenever both creates reached
  the server (SFTP v3 has no "exists" status: OpenSSH answers SSH_FX_FAILURE, which sshfs
  maps to EPERM); EEXIST only when its kernel already saw the file. About 1 loser in 3 got
  EPERM in a 4-host race. Real NFS says EEXIST: code that only catches FileExistsError sees
  a PermissionError here;
* ``flock`` is NOT exclusive across hosts (nor are ``fcntl``/``lockf`` locks): sshfs keeps
  locks in each client's kernel, like NFS without a working lock manager (``nolock``). Within
  one host they exclude as usual. Code that must keep hosts apart cannot rely on them;
* ``rename`` over an existing file replaces it (``posix-rename@openssh.com``); over an empty
  directory it succeeds; over a non-empty directory it fails with EPERM (not ENOTEMPTY or
  EEXIST, same SSH_FX_FAILURE mapping);
* hard links work (``hardlink@openssh.com``), but through sshfs ``st_nlink`` is always 1 and
  the two names have DIFFERENT ``st_ino`` (sshfs numbers inodes per path); the server side
  sees nlink 2;
* absolute symlinks work (``no_contain_symlinks`` is passed when sshfs knows the option:
  without it sshfs 3.7.3 refuses to read them, EPERM), and since every host mounts at one
  path they resolve alike on every host;
* with ``SSHFS_OPTIONS`` a file written and closed on one host is seen (name, size and
  content) on another at the next ``stat``/``open``/``ls``, a few ms later; data written and
  flushed on a still-open file too. With sshfs's defaults a new name took ~20 s to appear in
  another host's ``ls``.

Each host's mount namespace starts as a copy of the machine's, so it sees the machine's other
mounts, and only its own sshfs mount at the mount point (the machine itself has none there).

Operations:

* ``Host.popen()``/``Host.run()``: ``nsenter`` into the host's UTS, PID and mount namespaces
  (about 3 ms per command here, against 0.7 ms for a plain ``subprocess.run``).
* ``Host.kill()``: "the host crashed": SIGKILL to the host's PID-namespace init; the kernel
  kills every process of the host at once, its sshfs included; its mounts go with it.
* ``Host.freeze()`` / ``Host.thaw()``: "the host is cut off from the file server": SIGSTOP /
  SIGCONT to the host's sshfs process. Its filesystem calls on the share then block, like
  those of a hard NFS mount whose server went away (only SIGKILL ends such a blocked call
  early, and not always: a request sshfs had already read waits for thaw or kill).

Start-up (this machine: 2 cores, kernel 6.18, sshfs 3.7.3, OpenSSH 9.2; medians of 7 runs,
taken while other jobs kept the machine busy, so an idle machine does better): a ``Share``
(two ssh-keygen + sshd) 0.07 s; one host 0.18 s (its sshfs mounts at once, the ssh log-in it
then needs is most of that: the host is ready only when the mount answers); ``Farm(base, 1)``
0.24 s; ``Farm(base, 8)`` 0.43 s in all (0.35-0.50 s; the hosts start in parallel; 0.6-1.0 s
under heavier load); ``Farm(base, 16)`` 0.63 s; closing an 8-host farm 0.03 s. The default
post-quantum key exchange of OpenSSH 9 cost about 0.2 s more per host: see ``ssh_config``.

Robustness: hosts and the sshd run as PID 1 of namespaces whose init exits when the Python
process that started them dies (it watches a pipe), so even a SIGKILLed test leaves neither a
mount nor a process behind. Ports come from the kernel (bind to port 0; sshd must then say it
listens on it, else another port is tried), folders from the caller (one base folder per
farm), so parallel test workers do not collide.

Requirements: root, ``unshare``/``nsenter`` (util-linux), ``/dev/fuse``, ``sshfs``, ``ssh``,
``ssh-keygen`` and ``sshd`` (Debian: ``apt-get install sshfs openssh-server``). See
``unavailable_reason()``.

Example::

    with Farm(tmp_path, hosts=2) as farm:
        a, b = farm.hosts
        a.run(["sh", "-c", f"echo hi > {farm.mount_point}/x"], check=True)
        assert b.run(["cat", f"{farm.mount_point}/x"]).stdout == "hi\\n"
        with a.frozen():
            ...  # a's calls on the share hang; b works on
        a.kill()  # a crashed

Standard library only, Python 3.9+, Linux only.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

__all__ = [
    "SSHFS_OPTIONS",
    "Farm",
    "FarmError",
    "Host",
    "HostProcess",
    "Share",
    "unavailable_reason",
]

StrPath = Union[str, "os.PathLike[str]"]

#: Mount options of every host's sshfs, chosen for NFS-like coherence between hosts:
#: ``dir_cache=no``: sshfs's own cache of names and attributes (20 s by default, never
#: revalidated on open) would hide other hosts' writes for up to 20 s, far longer than NFS;
#: ``attr_timeout=0,entry_timeout=0,negative_timeout=0``: the kernel asks sshfs on every
#: lookup and stat, as NFS with ``actimeo=0``/``noac`` would (also what makes a ``stat`` on a
#: frozen host hang, as it would under a hard NFS mount). File contents follow close-to-open
#: consistency as on NFS (FUSE drops a file's page cache on open). NOT used: ``reconnect`` (a
#: frozen or cut-off client must stay so), ``ServerAliveInterval`` (nothing to gain: the ssh
#: process is never frozen, only sshfs).
SSHFS_OPTIONS = "dir_cache=no,attr_timeout=0,entry_timeout=0,negative_timeout=0"

LOOPBACK = "127.0.0.1"  # the only network address this harness ever uses

# The init of every namespace made here (PID 1 in it). argv: hostname ("" = keep), mount point
# ("" = none), log file, timeout, then the command to run (the host's sshfs, or the share's
# sshd). It prints "READY <pid of the command>" once the mount is there and answers, then
# reaps orphans, and exits when its stdin ends: when the Python process that started it dies,
# the namespace and everything in it die too. Without a mount point (the share's sshd) it
# also exits as soon as the command does.
_INIT = r"""
import os, select, socket, subprocess, sys, time
name, mount_point, log_path, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
if name:
    socket.sethostname(name)
log = open(log_path, "ab", buffering=0)
child = subprocess.Popen(sys.argv[5:], stdin=subprocess.DEVNULL, stdout=log, stderr=log)

escaped = mount_point
for char, code in (("\\", "\\134"), (" ", "\\040"), ("\t", "\\011"), ("\n", "\\012")):
    escaped = escaped.replace(char, code)  # as /proc/self/mounts writes it

def mounted():
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) > 2 and fields[1] == escaped and fields[2].startswith("fuse"):
                return True
    return False

deadline = time.monotonic() + timeout
while mount_point and not mounted():
    if child.poll() is not None:
        print("FAILED: the command exited with status %s" % child.returncode, flush=True)
        sys.exit(1)
    if time.monotonic() > deadline:
        print("FAILED: no mount after %s s" % timeout, flush=True)
        sys.exit(1)
    time.sleep(0.003)
if mount_point:
    try:  # sshfs mounts even when its ssh login then fails: ask the server once
        os.stat(mount_point)
    except OSError as error:
        print("FAILED: the mount does not answer: %s" % error, flush=True)
        sys.exit(1)
print("READY %d" % child.pid, flush=True)
while True:
    if select.select([0], [], [], 0.5)[0] and not os.read(0, 4096):
        os._exit(0)
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        if pid == child.pid and not mount_point:
            os._exit(1)
"""


class FarmError(RuntimeError):
    """A share or host could not be started, or a host is used after it went down."""


# -- environment -------------------------------------------------------------------------------


def _sshd_path() -> Optional[str]:
    """The sshd binary (it usually lives in an sbin folder that is not on PATH), or None."""
    found = shutil.which("sshd")
    if found:
        return found
    for candidate in ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _tool(name: str) -> str:
    """The absolute path of a required tool (absolute, so a caller's env without PATH works)."""
    found = _sshd_path() if name == "sshd" else shutil.which(name)
    if not found:
        raise FarmError(f"{name} not found (farmhosts.unavailable_reason() tells why)")
    return found


@functools.cache
def unavailable_reason() -> Optional[str]:
    """None when the harness can run on this machine, else a one-line reason why not."""
    if not sys.platform.startswith("linux"):
        return "the farm harness needs Linux namespaces"
    if os.geteuid() != 0:
        return "the farm harness needs root (namespaces, FUSE mounts)"
    for tool in ("unshare", "nsenter", "sshfs", "ssh", "ssh-keygen"):
        if not shutil.which(tool):
            return f"{tool} not found (Debian: apt-get install util-linux sshfs openssh-client)"
    if not _sshd_path():
        return "sshd not found (Debian: apt-get install openssh-server)"
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing (no FUSE in this kernel or container)"
    try:
        probe = subprocess.run(
            ["unshare", "--uts", "--pid", "--mount", "--fork", "--mount-proc", "true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unshare failed: {error}"
    if probe.returncode != 0:
        detail = (probe.stderr.strip().splitlines() or [f"status {probe.returncode}"])[-1]
        return f"namespaces refused here (unshare: {detail})"
    return None


@functools.cache
def _setpriv() -> Optional[str]:
    """util-linux's setpriv (for ``--pdeathsig``), or None."""
    return shutil.which("setpriv")


def _python() -> str:
    """The interpreter that runs the namespaces' init (any Python 3 will do)."""
    return sys.executable or shutil.which("python3") or "python3"


def _quote_config(value: str) -> str:
    """A path as one ssh/sshd configuration value."""
    if '"' in value or "\n" in value:
        raise FarmError(f"unusable path for an ssh configuration: {value!r}")
    return f'"{value}"'


def _children(pid: int) -> list[int]:
    """The PIDs (global) of the children of process ``pid``; [] when it is gone."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(child) for child in handle.read().split())
        except OSError:
            return _children_by_scan(pid)  # a kernel without CONFIG_PROC_CHILDREN
    return found


def _children_by_scan(pid: int) -> list[int]:
    """The children of ``pid`` found by reading every /proc/N/stat (slow fallback)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1] == str(pid):
            found.append(int(entry))
    return found


def _ns_pid(pid: int) -> Optional[int]:
    """The PID of global process ``pid`` in its own (innermost) PID namespace."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except OSError:
        pass
    return None


def _state(pid: int) -> Optional[str]:
    """The one-letter state of process ``pid`` (R, S, D, T, Z...), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()[0]


def _tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no {path})"
    return "\n".join(text.strip().splitlines()[-lines:]) or f"({path} is empty)"


def _free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel picks it: distinct across workers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


_SSHD_KNOWS: dict[str, bool] = {}


def _sshd_knows(option: str, config: str) -> bool:
    """Whether this sshd accepts ``option`` (``sshd -t`` once, on a configuration that works)."""
    if option not in _SSHD_KNOWS:
        result = subprocess.run(
            [_tool("sshd"), "-t", "-f", config, "-o", option],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
        )
        _SSHD_KNOWS[option] = result.returncode == 0
    return _SSHD_KNOWS[option]


@functools.cache
def _sshfs_knows(option: str) -> bool:
    """Whether this sshfs lists ``option`` in its help (newer options are refused by older)."""
    result = subprocess.run(
        [_tool("sshfs"), "--help"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return option in result.stdout + result.stderr


# -- the namespace processes ---------------------------------------------------------------------


_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()  # hosts and shares to close at exit


@atexit.register
def _close_all() -> None:
    """Close what a caller left open (their namespaces would die with us anyway)."""
    for thing in list(_LIVE):
        with contextlib.suppress(Exception):
            thing.close()


class _Namespaced:
    """An ``unshare ... python -c _INIT`` process: its init's global PID and its command's."""

    def __init__(
        self,
        unshare_flags: Sequence[str],
        name: str,
        mount_point: str,
        cwd: Path,
        log: Path,
        timeout: float,
        command: Sequence[str],
    ) -> None:
        self.log = log
        self._timeout = timeout
        self._stderr = open(log, "ab", buffering=0)  # noqa: SIM115 - closed in reap()
        try:
            self.proc = subprocess.Popen(
                [
                    _tool("unshare"),
                    *unshare_flags,
                    "--fork",
                    "--kill-child",
                    "--",
                    _python(),
                    "-I",
                    "-S",
                    "-c",
                    _INIT,
                    name,
                    mount_point,
                    str(log),
                    str(timeout),
                    *command,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                cwd=str(cwd),
                bufsize=0,
                start_new_session=True,
            )
        except BaseException:
            self._stderr.close()
            raise
        self._started = time.monotonic()
        self.init_pid = 0
        self.command_pid = 0

    def wait_ready(self, what: str) -> None:
        """Wait for the init's READY line; find the global PIDs of the init and the command."""
        assert self.proc.stdout is not None
        deadline = self._started + self._timeout + 5
        output = b""
        while b"\n" not in output:
            left = deadline - time.monotonic()
            if left <= 0:
                self.reap()
                raise FarmError(f"{what} did not start in {self._timeout} s:\n{_tail(self.log)}")
            if select.select([self.proc.stdout], [], [], left)[0]:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                output += chunk
        line = output.decode(errors="replace").strip()
        if not line.startswith("READY "):
            self.reap()
            raise FarmError(f"{what} did not start ({line or 'no answer'}):\n{_tail(self.log)}")
        inner_pid = int(line.split()[1])
        inits = _children(self.proc.pid)
        if len(inits) != 1:
            self.reap()
            raise FarmError(f"{what}: cannot find the init of its namespace")
        self.init_pid = inits[0]
        matches = [pid for pid in _children(self.init_pid) if _ns_pid(pid) == inner_pid]
        if not matches:
            self.reap()
            raise FarmError(f"{what}: its command exited at once:\n{_tail(self.log)}")
        self.command_pid = matches[0]

    def alive(self) -> bool:
        """Whether the namespace's init still runs."""
        return self.proc.poll() is None

    def reap(self, timeout: float = 30.0) -> None:
        """Kill the init (the kernel kills everything in its PID namespace) and wait for it."""
        if self.proc.poll() is None:
            if self.init_pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.init_pid, signal.SIGKILL)
            else:  # not started yet: --kill-child passes it on to the init
                self.proc.kill()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self._stderr.close()


# -- the share -----------------------------------------------------------------------------------


class Share:
    """The file server: ``base/export`` served over SFTP by an sshd on 127.0.0.1.

    The sshd runs in a PID namespace of its own (so ``stop()`` ends its sessions too) with its
    own host key, configuration, pid file and log in ``base/sshd/``; clients log in as root with
    the generated key ``base/sshd/client_key``. Starts at once; a context manager.
    """

    def __init__(self, base: StrPath, *, timeout: float = 20.0) -> None:
        self.base = Path(os.path.realpath(base))
        self.export = self.base / "export"
        self.dir = self.base / "sshd"
        self.port = 0
        self.log = self.dir / "sshd.log"
        self.client_key = self.dir / "client_key"
        self.ssh_config = self.dir / "ssh_config"
        self.timeout = timeout
        self._server: Optional[_Namespaced] = None
        self._lock = threading.Lock()
        self.export.mkdir(parents=True, exist_ok=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege separation dir
        for key in (self.dir / "host_key", self.client_key):
            if not key.exists():
                subprocess.run(
                    [
                        _tool("ssh-keygen"),
                        "-q",
                        "-t",
                        "ed25519",
                        "-N",
                        "",
                        "-C",
                        "farmhosts",
                        "-f",
                        str(key),
                    ],
                    stdin=subprocess.DEVNULL,
                    check=True,
                    capture_output=True,
                    timeout=60,
                )
        _LIVE.add(self)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _write_configs(self) -> Path:
        """Write sshd_config and ssh_config for ``self.port``; return the sshd_config."""
        quote = _quote_config
        config = self.dir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"ListenAddress {LOOPBACK}",
                    f"Port {self.port}",
                    f"HostKey {quote(str(self.dir / 'host_key'))}",
                    f"PidFile {quote(str(self.dir / 'sshd.pid'))}",
                    f"AuthorizedKeysFile {quote(str(self.client_key) + '.pub')}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitRootLogin yes",
                    "Subsystem sftp internal-sftp",
                    "MaxStartups 200",  # many hosts log in at once
                    "MaxSessions 50",
                    "UseDNS no",
                    "X11Forwarding no",
                    "AllowTcpForwarding no",
                    "PrintMotd no",
                    "LogLevel INFO",
                    "",
                ]
            )
        )
        # OpenSSH 9.8+ penalises a source address whose connections end without logging in
        # (our readiness probe) or crash; every client here is 127.0.0.1: switch that off.
        if _sshd_knows("PerSourcePenalties=no", str(config)):
            with config.open("a") as handle:
                handle.write("PerSourcePenalties no\n")
        self.ssh_config.write_text(
            "\n".join(
                [
                    "Host *",
                    f"  HostName {LOOPBACK}",
                    f"  Port {self.port}",
                    "  User root",
                    f"  IdentityFile {quote(str(self.client_key))}",
                    "  IdentitiesOnly yes",
                    "  BatchMode yes",
                    "  StrictHostKeyChecking no",
                    "  UserKnownHostsFile /dev/null",
                    "  GlobalKnownHostsFile /dev/null",
                    "  LogLevel ERROR",
                    # the fastest log-in: the default post-quantum key exchange (sntrup761, OpenSSH
                    # 9.0+) made each host's start about 0.2 s slower here; AES-GCM is the fastest
                    # cipher on CPUs with AES instructions (every host's traffic goes through it)
                    "  KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org",
                    "  HostKeyAlgorithms ssh-ed25519",
                    "  Ciphers aes128-gcm@openssh.com,chacha20-poly1305@openssh.com",
                    "",
                ]
            )
        )
        return config

    def _start(self) -> None:
        """Start sshd on a free port (again on another port if that one got taken meanwhile)."""
        for _attempt in range(5):
            self.port = _free_port()
            config = self._write_configs()
            self.log.write_bytes(b"")
            server = _Namespaced(
                ["--pid"],
                "",
                "",
                self.dir,
                self.dir / "init.log",
                self.timeout,
                [_tool("sshd"), "-D", "-f", str(config), "-E", str(self.log)],
            )
            self._server = server
            try:
                server.wait_ready("sshd")
            except FarmError:
                if "Address already in use" in _tail(self.log):
                    continue  # the port was taken between _free_port() and sshd: another
                raise
            if self._wait_listening(server):
                return
            server.reap()
            self._server = None
            if "Address already in use" not in _tail(self.log):
                raise FarmError(
                    f"sshd did not listen on {LOOPBACK}:{self.port}:\n{_tail(self.log)}"
                )
        raise FarmError(f"sshd found no free port:\n{_tail(self.log)}")

    def _wait_listening(self, server: _Namespaced) -> bool:
        """Wait until OUR sshd listens (its log says so: a connect alone could reach another
        program that took the port first) and answers on the port with an SSH banner."""
        deadline = time.monotonic() + self.timeout
        listening = f"Server listening on {LOOPBACK} port {self.port}."
        while server.alive() and time.monotonic() < deadline:
            if listening in _tail(self.log, 50):
                try:
                    with socket.create_connection((LOOPBACK, self.port), timeout=2) as probe:
                        if probe.recv(4).startswith(b"SSH-"):
                            return True
                except OSError:
                    pass
            time.sleep(0.003)
        return False

    @property
    def sshd_pid(self) -> int:
        """The global PID of the listening sshd (0 when stopped)."""
        return self._server.command_pid if self._server else 0

    def sshfs_command(self, mount_point: StrPath, options: Optional[str] = None) -> list[str]:
        """The sshfs command line (foreground) that mounts the share at ``mount_point``."""
        opts = SSHFS_OPTIONS if options is None else options
        if _sshfs_knows("no_contain_symlinks"):
            # sshfs 3.7.2+ refuses absolute symlinks by default; NFS serves them
            opts = ",".join(filter(None, ["no_contain_symlinks", opts]))
        command = [
            _tool("sshfs"),
            "-f",
            "-F",
            str(self.ssh_config),
            f"{LOOPBACK}:{self.export}",
            str(mount_point),
        ]
        return [*command, "-o", opts] if opts else command

    def host(
        self,
        name: str,
        mount_point: StrPath,
        host_dir: StrPath,
        *,
        sshfs_options: Optional[str] = None,
        timeout: float = 20.0,
    ) -> Host:
        """Start a host named ``name`` that mounts this share at ``mount_point`` (created if
        missing; the same path for every host) and has ``host_dir`` as its local folder."""
        return Host(self, name, mount_point, host_dir, sshfs_options=sshfs_options, timeout=timeout)

    def stop(self) -> None:
        """Stop sshd and every session of it. Idempotent."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.reap()
        _LIVE.discard(self)

    close = stop

    def __enter__(self) -> Share:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# -- hosts ---------------------------------------------------------------------------------------


class HostProcess(subprocess.Popen):  # type: ignore[type-arg]
    """A process started on a host (``Host.popen``): a Popen of ``nsenter``, whose child runs
    the command in the host's namespaces. ``send_signal``/``terminate``/``kill`` reach that
    child (nsenter itself passes no signal on); ``returncode`` is the command's, -N when a
    signal N ended it. Should nsenter die anyway, its child gets SIGKILL (``setpriv
    --pdeathsig``, when setpriv is there)."""

    def inner_pid(self) -> Optional[int]:
        """The global PID of the command (nsenter's child), None before it exists or after."""
        children = _children(self.pid)
        return children[0] if children else None

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the command inside the host (to nsenter while there is none)."""
        if self.poll() is not None:
            return
        target = self.inner_pid() or self.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, sig)


class Host:
    """One farm host: its own hostname, PID namespace and mount namespace, the share mounted
    at ``mount_point`` by its own sshfs, and a local folder ``dir``.

    Started by ``Share.host()`` or ``Farm``; ready when the constructor returns (unless
    ``wait=False``: then call ``wait_ready()``). Commands run inside it with ``popen``/``run``.
    """

    def __init__(
        self,
        share: Share,
        name: str,
        mount_point: StrPath,
        host_dir: StrPath,
        *,
        sshfs_options: Optional[str] = None,
        timeout: float = 20.0,
        wait: bool = True,
    ) -> None:
        self.share = share
        self.name = name
        self.mount_point = Path(os.path.realpath(mount_point))
        self.dir = Path(os.path.realpath(host_dir))
        self.sshfs_options = sshfs_options
        self.timeout = timeout
        self.log = share.dir / "hosts" / f"{name}.log"  # its init's and its sshfs's messages
        self._ns: Optional[_Namespaced] = None
        self._frozen = False
        self._lock = threading.RLock()
        self._launch()
        if wait:
            self.wait_ready()

    def __repr__(self) -> str:
        state = "up" if self.alive else "down"
        return f"<Host {self.name} {state} init={self.init_pid} sshfs={self.sshfs_pid}>"

    def _launch(self) -> None:
        """Start the host's namespaces (without waiting for its mount)."""
        self.mount_point.mkdir(parents=True, exist_ok=True)  # mounted over, privately, inside
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._frozen = False
        self._ns = _Namespaced(
            ["--uts", "--pid", "--mount", "--mount-proc", "--propagation", "private"],
            self.name,
            str(self.mount_point),
            self.dir,
            self.log,
            self.timeout,
            self.share.sshfs_command(self.mount_point, self.sshfs_options),
        )
        _LIVE.add(self)

    def wait_ready(self) -> None:
        """Wait until the share is mounted inside the host (FarmError on failure)."""
        assert self._ns is not None
        try:
            self._ns.wait_ready(f"host {self.name}")
        except BaseException:
            self.close()
            raise

    # -- state

    @property
    def init_pid(self) -> int:
        """The global PID of the host's init (PID 1 inside the host); 0 when down."""
        return self._ns.init_pid if self._ns and self._ns.alive() else 0

    @property
    def sshfs_pid(self) -> int:
        """The global PID of the host's sshfs process; 0 when down."""
        return self._ns.command_pid if self._ns and self._ns.alive() else 0

    @property
    def alive(self) -> bool:
        """Whether the host runs (not killed, not closed)."""
        return bool(self._ns and self._ns.alive())

    @property
    def is_frozen(self) -> bool:
        """Whether the host's sshfs is stopped (``freeze()``)."""
        return self._frozen

    # -- commands

    def popen(
        self,
        argv: Sequence[StrPath],
        env: Optional[Mapping[str, str]] = None,
        cwd: Optional[StrPath] = None,
        **popen_kwargs: Any,
    ) -> HostProcess:
        """Start ``argv`` inside the host: its hostname, its /proc and PIDs, its mount.

        ``env`` is the command's whole environment when given (not merged), else this
        process's. ``cwd`` is a path as the host sees it (it may lie on the share); by default
        the host's local folder ``dir``. Other keywords go to ``subprocess.Popen``. The
        process is an ``nsenter`` whose child runs the command: see ``HostProcess``.
        """
        init = self.init_pid
        if not init:
            raise FarmError(f"host {self.name} is down")
        if cwd is None:
            wd = "--wd"  # the init's working directory: self.dir
        else:
            # opened through the init's root: the host's mount namespace, share included
            wd = f"--wd=/proc/{init}/root{os.path.abspath(cwd)}"
        command = [_tool("nsenter"), "--target", str(init), "--uts", "--pid", "--mount", wd, "--"]
        setpriv = _setpriv()
        if setpriv:
            command += [setpriv, "--pdeathsig", "KILL", "--"]
        command += [os.fspath(arg) for arg in argv]
        return HostProcess(command, env=None if env is None else dict(env), **popen_kwargs)

    def run(
        self,
        argv: Sequence[StrPath],
        env: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = 60.0,
        check: bool = False,
        cwd: Optional[StrPath] = None,
        input: Optional[str] = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the host to its end; text output captured (see ``popen``).

        On timeout the command is killed (inside the host) and ``TimeoutExpired`` raised.
        ``input`` (text) goes to its stdin, else stdin is /dev/null.
        """
        process = self.popen(
            argv,
            env=env,
            cwd=cwd,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        )
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            # a call that a frozen sshfs had already taken survives even SIGKILL until the
            # host is thawed or killed: do not wait for it forever
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.communicate(timeout=5)
            raise
        finally:
            for stream in (process.stdout, process.stderr, process.stdin):
                if stream is not None and process.returncode is not None:
                    stream.close()
        args = [os.fspath(arg) for arg in argv]
        result = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
        if check:
            result.check_returncode()
        return result

    # -- faults

    def kill(self) -> None:
        """The host crashes: SIGKILL its init, so the kernel kills every process in it (sshfs
        and every command run on it included) at once; return once the init is reaped."""
        with self._lock:
            ns = self._ns
            self._frozen = False
        if ns is not None:
            ns.reap()
        _LIVE.discard(self)

    def freeze(self) -> None:
        """Cut the host off from the file server: SIGSTOP its sshfs. Its calls on the share
        then hang (a hard NFS mount whose server is gone); local files and processes work."""
        with self._lock:
            pid = self.sshfs_pid
            if not pid:
                raise FarmError(f"host {self.name} is down")
            os.kill(pid, signal.SIGSTOP)
            self._frozen = True
            deadline = time.monotonic() + 5
            while _state(pid) not in ("T", "t", None) and time.monotonic() < deadline:
                time.sleep(0.001)

    def thaw(self) -> None:
        """Reconnect the host: SIGCONT its sshfs; the calls that hung go on."""
        with self._lock:
            pid = self.sshfs_pid
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
            self._frozen = False

    @contextlib.contextmanager
    def frozen(self) -> Iterator[Host]:
        """``freeze()`` for the ``with`` block, ``thaw()`` after it (also on errors)."""
        self.freeze()
        try:
            yield self
        finally:
            self.thaw()

    def restart(self) -> None:
        """Boot the host again (after ``kill()``): same name, local folder and mount point."""
        self.kill()
        self._launch()
        self.wait_ready()

    def close(self) -> None:
        """Shut the host down: thaw it, kill it (its mount namespace, and the mount, go with
        it), reap everything. Idempotent."""
        if self._frozen:
            self.thaw()
        self.kill()

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- the farm ------------------------------------------------------------------------------------


class Farm:
    """A share and ``hosts`` hosts named host1..hostN that all mount it at ``mount_point``
    (default ``base/mnt``); host K's local folder is ``base/hosts/hostK``. Hosts start in
    parallel. A context manager: ``close()`` closes the hosts, then the share.
    """

    def __init__(
        self,
        base: StrPath,
        hosts: int,
        mount_point: Optional[StrPath] = None,
        *,
        sshfs_options: Optional[str] = None,
        timeout: float = 20.0,
    ) -> None:
        self.base = Path(os.path.realpath(base))
        self.mount_point = Path(os.path.realpath(mount_point or self.base / "mnt"))
        self.sshfs_options = sshfs_options
        self.timeout = timeout
        self.hosts: list[Host] = []
        self.share = Share(self.base, timeout=timeout)
        try:
            self.add_hosts([f"host{number}" for number in range(1, hosts + 1)])
        except BaseException:
            self.close()
            raise

    def add_hosts(self, names: Sequence[str]) -> list[Host]:
        """Start hosts named ``names`` in parallel; return them once all are ready."""
        taken = [host.name for host in self.hosts] + list(names)
        duplicates = sorted({name for name in taken if taken.count(name) > 1})
        if duplicates:
            raise ValueError(f"host names must be distinct: {', '.join(duplicates)}")
        started = []
        try:
            for name in names:
                host = Host(
                    self.share,
                    name,
                    self.mount_point,
                    self.base / "hosts" / name,
                    sshfs_options=self.sshfs_options,
                    timeout=self.timeout,
                    wait=False,
                )
                self.hosts.append(host)
                started.append(host)
            for host in started:
                host.wait_ready()
        except BaseException:
            for host in started:
                host.close()
                self.hosts.remove(host)
            raise
        return started

    def add_host(self, name: Optional[str] = None) -> Host:
        """Start one more host (default name: hostN+1) and return it once it is ready."""
        return self.add_hosts([name or f"host{len(self.hosts) + 1}"])[0]

    def host(self, name: str) -> Host:
        """The host named ``name``."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    def close(self) -> None:
        """Close every host, then the share. Idempotent."""
        errors = []
        for host in self.hosts:
            try:
                host.close()
            except Exception as error:  # close the others all the same
                errors.append(error)
        self.share.stop()
        if errors:
            raise errors[0]

    def __enter__(self) -> Farm:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
