"""The multi-host farm harness itself (scripts/farmhosts.py): hosts with their own hostnames,
PIDs and mounts; one share that they all mount at one path through their own sshfs; what the
share does (and does not) guarantee across hosts; killing and freezing a host.

Skipped, with the reason, where the harness cannot run (not root, no namespaces, no FUSE, no
sshfs or sshd: ``.ci/run`` installs the last two when it runs as root on Debian/Ubuntu).
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import farmhosts
from farmhosts import Farm, FarmError, Host

PY = sys.executable  # the same path inside every host: only the share's mount point differs


@pytest.fixture(autouse=True)
def _farm_possible() -> None:
    reason = farmhosts.unavailable_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    """Two hosts for the tests that leave them as they found them."""
    if farmhosts.unavailable_reason():
        pytest.skip(farmhosts.unavailable_reason())
    with Farm(tmp_path_factory.mktemp("farm"), hosts=2) as shared_farm:
        yield shared_farm


@pytest.fixture
def own_farm(tmp_path):
    """Two hosts of the test's own, for the tests that kill or freeze one."""
    with Farm(tmp_path, hosts=2) as fresh:
        yield fresh


def ns_pid(global_pid: int) -> int:
    """The PID of a process inside its own PID namespace (the last NSpid field)."""
    for line in Path(f"/proc/{global_pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    raise AssertionError("no NSpid line")


def mount_entries(host: Host) -> list[list[str]]:
    """The mount table as the host sees it."""
    table = host.run(["cat", "/proc/self/mounts"], check=True).stdout
    return [line.split() for line in table.splitlines()]


def test_unavailable_reason_is_none_here():
    assert farmhosts.unavailable_reason() is None  # the autouse fixture skipped otherwise


def test_hosts_have_their_own_hostnames(farm):
    names = [host.run(["hostname"], check=True).stdout.strip() for host in farm.hosts]
    assert names == ["host1", "host2"]
    assert socket.gethostname() not in names  # the machine's own name is untouched


def test_pids_repeat_across_hosts(farm):
    """Each host is a PID namespace: its init is PID 1 and its sshfs PID 2, in both hosts."""
    a, b = farm.hosts
    assert a.init_pid != b.init_pid and a.sshfs_pid != b.sshfs_pid  # globally distinct
    assert ns_pid(a.init_pid) == ns_pid(b.init_pid) == 1
    assert ns_pid(a.sshfs_pid) == ns_pid(b.sshfs_pid) == 2
    seen = []
    for host in (a, b):
        listing = host.run(["ls", "/proc"], check=True).stdout.split()
        pids = {int(entry) for entry in listing if entry.isdigit()}
        assert {1, 2} <= pids  # its own /proc
        comm = host.run(["cat", "/proc/1/cmdline"], check=True).stdout
        assert "READY" in comm  # PID 1 is the harness's init, not the machine's
        seen.append(pids)
    assert len(seen[0] & seen[1]) >= 2
    shell = a.popen(
        ["sh", "-c", "echo $$; read _"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    inside = int(shell.stdout.readline())  # what the command itself sees
    outside = shell.inner_pid()  # the machine's number for it
    assert outside is not None and outside != inside and ns_pid(outside) == inside
    shell.communicate("\n", timeout=10)


def test_share_is_mounted_at_one_path_through_each_hosts_own_sshfs(farm):
    mount_point = str(farm.mount_point)
    for host in farm.hosts:
        entries = [entry for entry in mount_entries(host) if entry[1] == mount_point]
        assert len(entries) == 1 and entries[0][2] == "fuse.sshfs", entries
        assert entries[0][0].endswith(f":{farm.share.export}")
    here = Path("/proc/self/mounts").read_text().split()
    assert mount_point not in here  # private to the hosts: the machine itself has no mount

    a, b = farm.hosts
    a.run(["sh", "-c", "echo written on $(hostname) > from-a.txt"], cwd=mount_point, check=True)
    read = b.run(["cat", f"{mount_point}/from-a.txt"], check=True)
    assert read.stdout == "written on host1\n"
    assert (farm.share.export / "from-a.txt").read_text() == "written on host1\n"


def test_o_excl_create_is_exclusive_across_hosts(farm):
    """Both hosts race to O_EXCL-create the same 30 names: each name has exactly one winner.

    The loser's error is EEXIST when its kernel already saw the file (lookup), but EPERM when
    both creates reached the SFTP server: SFTP v3 has no "exists" status, OpenSSH answers
    SSH_FX_FAILURE and sshfs turns that into EPERM. Real NFS says EEXIST. So code run on this
    harness sees PermissionError from a lost O_EXCL race (an sshfs artefact): both are
    accepted here, and the test only insists on one winner per name."""
    race = farm.mount_point / "excl"
    farm.hosts[0].run(["mkdir", str(race)], check=True)
    start = time.time() + 0.5  # a common start time, so the hosts really race
    script = (
        "import os, time\n"
        f"time.sleep(max(0.0, {start} - time.time()))\n"
        "for n in range(30):\n"
        "    try:\n"
        f"        os.close(os.open('{race}/n%d' % n, os.O_CREAT | os.O_EXCL | os.O_WRONLY))\n"
        "        print(n, 'won')\n"
        "    except OSError as error:\n"
        "        print(n, error.errno)\n"
    )
    racers = [
        host.popen([PY, "-c", script], stdout=subprocess.PIPE, text=True) for host in farm.hosts
    ]
    outcomes: dict[int, list[str]] = {}
    for racer in racers:
        out, _ = racer.communicate(timeout=30)
        assert racer.returncode == 0
        for line in out.splitlines():
            number, outcome = line.split()
            outcomes.setdefault(int(number), []).append(outcome)
    assert sorted(outcomes) == list(range(30))
    for number, results in outcomes.items():
        losers = [int(result) for result in results if result != "won"]
        assert len(results) == 2 and len(losers) == 1, (number, results)  # one winner
        assert losers[0] in (errno.EEXIST, errno.EPERM), (number, results)


def test_flock_is_not_exclusive_across_hosts(farm):
    """sshfs keeps flock() locks in each client's kernel: a lock taken on one host does not
    stop another host from taking it too (within one host it does). This is NFS without a
    working lock manager (``nolock``, or a lockd that is not there): the product must never
    rely on flock to keep two hosts apart."""
    a, b = farm.hosts
    lock_file = farm.mount_point / "flocked"
    hold = (
        "import fcntl, sys, time\n"
        f"f = open('{lock_file}', 'w')\n"
        "fcntl.flock(f, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
    )
    probe = (
        "import fcntl\n"
        f"f = open('{lock_file}', 'w')\n"
        "try:\n"
        "    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "    print('got it')\n"
        "except BlockingIOError:\n"
        "    print('busy')\n"
    )
    holder = a.popen([PY, "-c", hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert b.run([PY, "-c", probe], check=True).stdout == "got it\n"  # other host
        assert a.run([PY, "-c", probe], check=True).stdout == "busy\n"  # same host
    finally:
        holder.communicate("", timeout=10)
    assert holder.returncode == 0


def test_rename_and_hard_links_across_hosts(farm):
    """rename replaces a file; onto a non-empty directory it fails (EPERM through sshfs, where
    NFS says ENOTEMPTY/EEXIST); a hard link made on one host shares content on the other (its
    st_nlink through sshfs is 1: SFTP has no link count)."""
    a, b = farm.hosts
    script = (
        "import errno, os\n"
        "os.makedirs('ren/full/x'); os.makedirs('ren/src'); os.makedirs('ren/empty')\n"
        "open('ren/f', 'w').write('new'); open('ren/g', 'w').write('old')\n"
        "os.rename('ren/f', 'ren/g')\n"
        "print(open('ren/g').read(), os.path.exists('ren/f'))\n"
        "try:\n"
        "    os.rename('ren/src', 'ren/full')\n"
        "    print('replaced a non-empty dir')\n"
        "except OSError as error:\n"
        "    print(errno.errorcode[error.errno])\n"
        "os.rename('ren/src', 'ren/empty')\n"
        "os.link('ren/g', 'ren/g2')\n"
        "print(os.stat('ren/g2').st_nlink)\n"
    )
    result = a.run([PY, "-c", script], cwd=farm.mount_point, check=True)
    content, f_left, refused, nlink = result.stdout.split()
    assert (content, f_left) == ("new", "False")  # replaced
    assert refused in ("EPERM", "ENOTEMPTY", "EEXIST")
    assert nlink in ("1", "2")  # 1 through sshfs 3.7
    assert (farm.share.export / "ren" / "g").stat().st_nlink == 2  # a real link on the server
    b.run(["sh", "-c", "echo via-b > ren/g2"], cwd=farm.mount_point, check=True)
    assert a.run(["cat", "ren/g"], cwd=farm.mount_point, check=True).stdout == "via-b\n"
    assert b.run(["ls", "ren"], cwd=farm.mount_point).stdout.split() == ["empty", "full", "g", "g2"]


def test_popen_env_cwd_and_signals(farm):
    a = farm.hosts[0]
    result = a.run(["/bin/sh", "-c", 'echo "$FOO|$HOME|$(pwd)"'], env={"FOO": "bar"})
    assert result.stdout == f"bar||{a.dir}\n"  # env as given, not merged; cwd: the host's dir
    on_share = a.run(["pwd"], cwd=farm.mount_point, check=True)
    assert on_share.stdout.strip() == str(farm.mount_point)
    sleeper = a.popen(["sleep", "60"])
    deadline = time.monotonic() + 5
    while sleeper.inner_pid() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    inner = sleeper.inner_pid()
    assert inner is not None
    sleeper.terminate()  # reaches the command inside the host, not only nsenter
    assert sleeper.wait(timeout=5) == -15
    assert not Path(f"/proc/{inner}").exists()
    with pytest.raises(subprocess.TimeoutExpired):
        a.run(["sleep", "60"], timeout=0.3)
    names = a.run(["sh", "-c", "cat /proc/[0-9]*/comm"], check=True).stdout.split()
    assert "sleep" not in names  # killed inside the host on timeout


def test_kill_ends_everything_on_the_host_and_only_there(own_farm):
    a, b = own_farm.hosts
    mount_point = own_farm.mount_point
    b.run(["sh", "-c", "echo before > kept.txt"], cwd=mount_point, check=True)
    long_running = a.popen(["sleep", "60"])
    on_share = a.popen(["sh", "-c", "while :; do ls >/dev/null; done"], cwd=mount_point)
    time.sleep(0.2)
    init_pid, sshfs_pid = a.init_pid, a.sshfs_pid
    started = time.monotonic()
    a.kill()
    assert long_running.wait(timeout=5) == -9
    assert on_share.wait(timeout=5) == -9
    assert time.monotonic() - started < 5
    assert not a.alive and a.init_pid == 0
    assert not Path(f"/proc/{init_pid}").exists() and not Path(f"/proc/{sshfs_pid}").exists()
    with pytest.raises(FarmError):
        a.run(["true"])
    # the other host works on
    assert b.run(["cat", "kept.txt"], cwd=mount_point, check=True).stdout == "before\n"
    b.run(["sh", "-c", "echo after > kept.txt"], cwd=mount_point, check=True)
    # and the killed one boots again, same name, same share
    a.restart()
    assert a.run(["hostname"], check=True).stdout == "host1\n"
    assert a.run(["cat", "kept.txt"], cwd=mount_point, check=True).stdout == "after\n"
    a.kill()
    a.kill()  # idempotent


def test_freeze_hangs_the_share_on_that_host_only(own_farm):
    a, b = own_farm.hosts
    target = own_farm.mount_point / "file.txt"
    a.run(["sh", "-c", f"echo data > {target}"], check=True)
    with a.frozen():
        assert a.is_frozen
        stat = a.popen(["stat", "-c", "%n %s", str(target)], stdout=subprocess.PIPE, text=True)
        started = time.monotonic()
        # meanwhile: the other host reads and writes the share, the frozen one runs local work
        assert b.run(["cat", str(target)], timeout=10, check=True).stdout == "data\n"
        b.run(["sh", "-c", f"echo more >> {target}"], timeout=10, check=True)
        assert a.run(["hostname"], timeout=10, check=True).stdout == "host1\n"
        with pytest.raises(subprocess.TimeoutExpired):
            stat.wait(timeout=max(0.1, 2 - (time.monotonic() - started)))
        assert stat.poll() is None  # still hanging after 2 s
    assert not a.is_frozen
    out, _ = stat.communicate(timeout=10)
    assert stat.returncode == 0
    assert out == f"{target} 10\n"  # it sees the other host's append


def test_close_leaves_no_process_and_is_idempotent(tmp_path):
    farm = Farm(tmp_path, hosts=3)
    try:
        pids = [pid for host in farm.hosts for pid in (host.init_pid, host.sshfs_pid)]
        pids.append(farm.share.sshd_pid)
        farm.hosts[1].freeze()  # a frozen sshfs must not survive close()
        blocked = farm.hosts[1].popen(["ls", str(farm.mount_point)], stdout=subprocess.DEVNULL)
        extra = farm.add_host()
        assert extra.name == "host4" and extra.run(["hostname"]).stdout == "host4\n"
        pids.append(extra.sshfs_pid)
        assert blocked.poll() is None  # hangs on the frozen share
    finally:
        farm.close()
    assert blocked.wait(timeout=5) in (0, -9)  # close() thaws, then kills: either may end it
    deadline = time.monotonic() + 5
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists()] == []
    assert str(farm.mount_point) not in Path("/proc/self/mounts").read_text()
    farm.close()  # idempotent
    assert all(not host.alive for host in farm.hosts)
    assert os.listdir(farm.mount_point) == []  # nothing was ever written under the mount
