"""End to end across hosts: several farm hosts on this machine (each its own hostname, PIDs and
mounts: ``scripts/farmhosts.py``) mounting one share through their own sshfs client, as farm
machines mount one NFS export (``flock`` does not exclude across them). Real uv, real rez, a
cold uv cache per host."""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from base64 import urlsafe_b64decode
from pathlib import Path
from typing import Optional

import pytest

from tests.helpers import REZ_RECIPE, isolated_env

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import farmhosts

pytestmark = [
    pytest.mark.skipif(
        farmhosts.unavailable_reason() is not None, reason=str(farmhosts.unavailable_reason())
    ),
]

JOB = ["sh", "-c", 'echo "$REZUP_REVISION $(hostname)"; rez --version']


def host_env(
    host: farmhosts.Host, *, local: Path, remote: Optional[Path] = None, **extra: str
) -> dict[str, str]:
    """A farm machine's environment: its own HOME, uv cache and local root."""
    home = host.dir / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "rezup.toml").write_text(REZ_RECIPE, encoding="utf-8")
    env = isolated_env(host.dir, home, local, remote)
    env.update(
        {
            "UV_CACHE_DIR": str(host.dir / "uv-cache"),  # each machine has its own
            "UV_LINK_MODE": "copy",  # the cache and a root on the share are two filesystems
            "UV_PYTHON_DOWNLOADS": "never",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update(extra)
    return env


def on_server(farm, path: Path) -> Path:
    """Where ``path`` (under the hosts' mount point) is on the file server: the test itself
    runs on no host, and reads the share there."""
    return farm.share.export / path.relative_to(farm.mount_point)


def rezup(host: farmhosts.Host, env: dict[str, str], *args: str, timeout: float = 600):
    return host.run([sys.executable, "-m", "rezup", *args], env=env, timeout=timeout)


def check(result) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}"
    return result.stdout


def ready(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(
        p.name
        for p in folder.iterdir()
        if not p.name.startswith(".") and (p / "revision.json").is_file()
    )


def record_hashes_hold(revision: Path) -> int:
    """Every file that a RECORD of the rez venv lists has the hash it records (console
    scripts rewritten for the revision's place included); returns the count."""
    [site] = (revision / "venv" / "rez" / "lib").glob("python*/site-packages")
    checked = 0
    for record in site.glob("*.dist-info/RECORD"):
        for line in record.read_text().splitlines():
            path, algo_hash, _ = line.rsplit(",", 2)
            if not algo_hash:
                continue
            algo, expected = algo_hash.split("=", 1)
            if path.startswith("../") and not (site / path).is_file():
                continue  # rez's own scripts, replaced by its production scripts in bin/rez/
            data = (site / path).read_bytes()
            digest = hashlib.new(algo, data).digest()
            assert digest == urlsafe_b64decode(expected + "=" * (-len(expected) % 4)), path
            checked += 1
    return checked


@pytest.fixture
def farm(tmp_path_factory, request):
    hosts = getattr(request, "param", 2)
    with farmhosts.Farm(tmp_path_factory.mktemp("farm"), hosts=hosts) as farm:
        yield farm


def test_a_root_on_the_share_add_use_status_prune_drop(farm):
    """A root on the sshfs share: add takes its lease at once (it used to wait 30 minutes
    for a soft lock nobody held), builds in a folder of its own and moves it into place;
    every host uses it; prune keeps what a job on another host runs."""
    a, b = farm.hosts
    root = farm.mount_point / "root"
    env_a, env_b = host_env(a, local=root), host_env(b, local=root)

    started = time.monotonic()
    check(rezup(a, env_a, "add", "--skip-use"))
    assert time.monotonic() - started < 300
    served = on_server(farm, root)
    assert (served / ".main" / ".locks" / "kind").read_text().strip() == "soft"
    [first] = ready(served / ".main" / "revisions")
    out = check(rezup(a, env_a, "use", "--", *JOB))  # a job of host1 ran in it, and ended
    assert out.splitlines()[0] == f"{first} host1"
    assert out.splitlines()[1].startswith("Rez 3.4.0 from /")
    revision = served / ".main" / "revisions" / first
    assert record_hashes_hold(revision) > 100
    staging = [
        str(p)
        for p in revision.rglob("*")
        if p.is_file() and p.suffix != ".pyc" and b".incoming-" in p.read_bytes()
    ]
    assert staging == [], "the move into place left paths of the builder's folder"

    adding = a.popen([sys.executable, "-m", "rezup", "add", "--skip-use"], env=env_a)
    check(rezup(b, env_b, "add", "--skip-use"))  # two hosts build at once, each its own
    assert adding.wait(timeout=600) == 0
    _, second, third = ready(served / ".main" / "revisions")
    status = json.loads(check(rezup(b, env_b, "status", "--json")))
    rows = status["containers"][0]["revisions"]
    assert [row["local"] for row in rows].count("ready") == 3

    job = b.popen(
        [
            sys.executable,
            "-m",
            "rezup",
            "use",
            "--revision",
            second,
            "--",
            "sh",
            "-c",
            "echo started; exec sleep 120",
        ],
        env=env_b,
        stdout=farmhosts.subprocess.PIPE,
        text=True,
    )
    try:
        assert job.stdout.readline().strip() == "started"
        out = rezup(a, env_a, "prune", "--keep", "1")
        check(out)
        assert ready(served / ".main" / "revisions") == [second, third], out.stderr
        assert "1 job on host2" in out.stdout + out.stderr
    finally:
        job.kill()
        job.wait()
        job.stdout.close()
    check(rezup(a, env_a, "prune", "--keep", "1"))  # another host's record: not expired yet
    assert ready(served / ".main" / "revisions") == [second, third]
    check(rezup(b, env_b, "prune", "--keep", "1"))  # its own host sees the job has ended
    assert ready(served / ".main" / "revisions") == [third]
    check(rezup(a, env_a, "drop", ".main"))
    assert ready(served / ".main" / "revisions") == []


@pytest.mark.parametrize("farm", [8], indirect=True)
def test_a_shared_local_root_makes_one_build_for_64_jobs_on_8_hosts(farm):
    admin = farm.hosts[0]
    root, remote = farm.mount_point / "root", farm.mount_point / "remote"
    check(rezup(admin, host_env(admin, local=root, remote=remote), "add", "--remote", "--skip-use"))
    served = on_server(farm, root)
    [published] = ready(on_server(farm, remote) / ".main" / "revisions")
    results = run_jobs(farm.hosts, 8, lambda host: host_env(host, local=root, remote=remote))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
    assert sorted(r.stdout.split()[0] for r in results) == [published] * 64
    pulls = sum(r.stderr.count(f"] pulling revision {published}") for r in results)
    assert pulls == 1, "exactly one build across all hosts"
    assert ready(served / ".main" / "revisions") == [published]
    assert {r.stdout.split()[1] for r in results} == {h.name for h in farm.hosts}


def run_jobs(hosts, per_host: int, env_of) -> list:
    results: list = []
    lock = threading.Lock()

    def one(host) -> None:
        result = rezup(host, env_of(host), "use", "--", *JOB)
        with lock:
            results.append(result)

    threads = [
        threading.Thread(target=one, args=(host,)) for host in hosts for _ in range(per_host)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("farm", [9], indirect=True)
def test_remote_root_on_the_share_8_hosts_while_3_revisions_are_published(farm):
    """An admin host publishes 3 revisions; between publishes every one of 8 hosts runs jobs
    (64 in all): each job enters the newest revision, each host pulls each revision once,
    and the pins are the same on every host."""
    admin, *hosts = farm.hosts
    remote = farm.mount_point / "remote"
    admin_env = host_env(admin, local=admin.dir / "local", remote=remote)
    results: list = []
    published: list[str] = []
    for wave, per_host in enumerate((3, 3, 2)):
        check(rezup(admin, admin_env, "add", "--remote", "--skip-use"))
        published = ready(on_server(farm, remote) / ".main" / "revisions")
        assert len(published) == wave + 1
        wave_results = run_jobs(
            hosts, per_host, lambda host: host_env(host, local=host.dir / "local", remote=remote)
        )
        assert all(r.returncode == 0 for r in wave_results), [
            r.stderr for r in wave_results if r.returncode
        ]
        assert {r.stdout.split()[0] for r in wave_results} == {published[-1]}
        results += wave_results
    assert len(results) == 64
    remote_plans = {
        name: (on_server(farm, remote) / ".main" / "revisions" / name / "plan.lock").read_text()
        for name in published
    }
    for host in hosts:
        local = host.dir / "local" / ".main" / "revisions"
        assert ready(local) == published
        for name in published:
            assert (local / name / "plan.lock").read_text() == remote_plans[name]
            assert installed(local / name) == installed(
                hosts[0].dir / "local" / ".main" / "revisions" / name
            )
    for name in published:
        for host in hosts:
            mine = [r for r in results if r.stdout.split()[1] == host.name]
            assert sum(r.stderr.count(f"] pulling revision {name}") for r in mine) == 1


def installed(revision: Path) -> list[str]:
    [site] = (revision / "venv" / "rez" / "lib").glob("python*/site-packages")
    return sorted(p.name for p in site.glob("*.dist-info"))


def wait_for_build(folder: Path, stamp: str, timeout: float = 120) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for staging in folder.glob(f".incoming-{stamp}-*"):
            if (staging / "venv" / "rez" / "bin" / "python").exists():
                return staging
        time.sleep(0.05)
    raise AssertionError("the build never started")


def test_a_builders_host_killed_mid_build_costs_one_lease(farm):
    """The waiting job on another host runs within one lease plus one build (a 10 s lease
    here; `scripts/farm_bench.py` measures the default 60 s); nothing half-built is used; the
    dead host's folder is cleared."""
    a, b = farm.hosts
    root, remote = farm.mount_point / "root", farm.mount_point / "remote"
    lease = 10
    env_a = host_env(a, local=root, remote=remote, REZUP_LOCK_LEASE=str(lease))
    env_b = host_env(b, local=root, remote=remote, REZUP_LOCK_LEASE=str(lease))
    check(rezup(a, env_a, "add", "--remote", "--skip-use"))
    [stamp] = ready(on_server(farm, remote) / ".main" / "revisions")
    revisions = on_server(farm, root) / ".main" / "revisions"

    builder = a.popen([sys.executable, "-m", "rezup", "use", "--", *JOB], env=env_a)
    abandoned = wait_for_build(revisions, stamp)
    a.kill()  # the whole host: its rezup, its uv, its sshfs
    builder.wait()
    started = time.monotonic()
    result = rezup(b, env_b, "use", "--", *JOB)
    waited = time.monotonic() - started
    out = check(result)
    assert out.split()[:2] == [stamp, "host2"]
    assert waited < lease + 150, f"{waited:.0f}s: more than a lease plus a build"
    assert waited >= lease - 1, "the lease of a dead host of another name is waited for"
    assert "took over the lock" in result.stderr
    assert not abandoned.exists(), "the dead host's folder is cleared"
    assert ready(revisions) == [stamp]
    assert record_hashes_hold(revisions / stamp) > 100


def test_a_cut_off_builder_publishes_nothing(farm):
    """The builder's host is cut off from the share for twice the lease, then comes back:
    another host takes the lease over and builds; exactly one ready revision, complete; the
    thawed builder says in one line that it lost its lock, and marks nothing ready."""
    a, b = farm.hosts
    root, remote = farm.mount_point / "root", farm.mount_point / "remote"
    lease = "6"
    env_a = host_env(a, local=root, remote=remote, REZUP_LOCK_LEASE=lease)
    env_b = host_env(b, local=root, remote=remote, REZUP_LOCK_LEASE=lease)
    check(rezup(a, env_a, "add", "--remote", "--skip-use"))
    [stamp] = ready(on_server(farm, remote) / ".main" / "revisions")
    revisions = on_server(farm, root) / ".main" / "revisions"

    builder = a.popen(
        [sys.executable, "-m", "rezup", "use", "--", *JOB],
        env=env_a,
        stdout=farmhosts.subprocess.PIPE,
        stderr=farmhosts.subprocess.PIPE,
        text=True,
    )
    wait_for_build(revisions, stamp)
    a.freeze()
    try:
        started = time.monotonic()
        out = check(rezup(b, env_b, "use", "--", *JOB))
        assert out.split()[:2] == [stamp, "host2"]
        remaining = 2 * float(lease) - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)
    finally:
        a.thaw()
    _, stderr = builder.communicate(timeout=300)
    lines = [
        line
        for line in stderr.splitlines()
        if "lost its lock" in line or "made ready by another builder" in line
    ]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert ready(revisions) == [stamp]
    assert record_hashes_hold(revisions / stamp) > 100
    assert not list(revisions.glob(".incoming-*"))


def test_a_frozen_remote_share_never_hangs_a_job(farm):
    """With the remote root's share frozen, a job on a host with a ready local revision runs
    within the deadline with one warning, later jobs do not wait again; thawed, the next job
    pulls as usual."""
    a, b = farm.hosts
    remote = farm.mount_point / "remote"
    env_a = host_env(
        a, local=a.dir / "local", remote=remote, REZUP_REMOTE_TIMEOUT="2", REZUP_PULL_RETRY="20"
    )
    env_b = host_env(b, local=b.dir / "local", remote=remote)
    check(rezup(b, env_b, "add", "--remote", "--skip-use"))
    [first] = ready(on_server(farm, remote) / ".main" / "revisions")
    check(rezup(a, env_a, "use", "--", "true"))
    with a.frozen():
        started = time.monotonic()
        result = rezup(a, env_a, "use", "--", *JOB, timeout=60)
        took = time.monotonic() - started
        assert check(result).split()[0] == first
        assert took < 2 + 5, f"{took:.1f}s"
        warnings = [line for line in result.stderr.splitlines() if "warning" in line]
        assert len(warnings) == 1 and "did not answer within 2s" in warnings[0], result.stderr
        started = time.monotonic()
        again = rezup(a, env_a, "use", "--", *JOB, timeout=60)
        assert check(again).split()[0] == first
        assert time.monotonic() - started < 2, "a later job does not wait the deadline again"
        check(rezup(b, env_b, "add", "--remote", "--skip-use"))
        # a local root on the frozen share: nothing to fall back to, a clear error in time
        shared = host_env(a, local=farm.mount_point / "root", REZUP_REMOTE_TIMEOUT="2")
        started = time.monotonic()
        hung = rezup(a, shared, "use", "--", "true", timeout=60)
        assert hung.returncode == 1, hung.stderr
        assert time.monotonic() - started < 15
        assert "did not answer within 2s" in hung.stderr and "Traceback" not in hung.stderr
    newest = ready(on_server(farm, remote) / ".main" / "revisions")[-1]
    out = check(rezup(a, {**env_a, "REZUP_PULL_RETRY": "0"}, "use", "--", *JOB))
    assert out.split()[0] == newest
