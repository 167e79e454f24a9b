#!/usr/bin/env python3
"""Benchmark rezup on a render farm of several hosts that mount one network share.

Run by hand from the repository, as root (the harness needs Linux namespaces and FUSE)::

    uv run python scripts/farm_bench.py                     # 4 hosts x 4 jobs, 60 s lease
    uv run python scripts/farm_bench.py --hosts 2 --jobs-per-host 2 --lease 5
    uv run python scripts/farm_bench.py --only remote-pull,shared-root --markdown farm.md

The farm is ``scripts/farmhosts.py``: every host has its own hostname, PID and mount
namespaces and mounts the share through its own sshfs client (an sshd on 127.0.0.1), at the
same path on every host, the way farm machines mount one NFS export. Every host has its own
HOME (``~/rezup.toml``: rez 3.4.0), its own uv cache (cold at the start of each case) and
folder on the local disk; its environment hides this machine's pip and uv settings. Every job
is ``rezup use -- sh -c 'echo "$REZUP_REVISION $(hostname)"; rez --version'``, run on a host
through ``python -m rezup`` with this interpreter (the repository's ``.venv/bin/python``).

Cases (each builds a fresh farm in a fresh folder; every figure is one wall-clock run):

``remote-pull``
    Remote root on the share, local roots on each host's local disk. host1 publishes
    (``rezup add --remote --skip-use``); host2 runs one job (its first pull, cold uv cache);
    then the N other hosts run M jobs each, all at once: wall time until the last one ends,
    median and max time per job. N + 2 hosts.
``shared-root``
    Remote root and local root both on the share. host1 publishes; N other hosts run M jobs
    each at once (exactly one of them may build: the ``] pulling revision`` lines in the jobs'
    stderr are counted); then one more job on the ready revision. N + 1 hosts.
``shared-add``
    ``rezup add --skip-use`` on one host into a local root on the share (no remote root),
    against the same into a root on the host's local disk, both with a warm uv cache (warmed
    by a first, also timed, local add): the ratio is the cost of building over sshfs.
``killed-host``
    Local root and remote root on the share. host1 publishes and starts a job; once its build
    folder (``.incoming-<stamp>-*`` with ``venv/rez/bin/python``) appears on the file server,
    host1 crashes (every process of it killed at once); a job on host2 then has to wait for
    the dead builder's lease (``REZUP_LOCK_LEASE``, 60 s by default, ``--lease``) and build:
    its time is measured.
``frozen-remote``
    Remote root on the share, local root per host. host2 publishes, host1 pulls once. A job on
    host1 on its ready revision (reference), then host1 is cut off from the file server (its
    sshfs stopped): a job with ``REZUP_REMOTE_TIMEOUT=2`` (about 2 s more than the reference:
    the remote look gives up), and one right after it (no wait: the failure is remembered).
``wheelhouse-pull``
    A revision published with ``--wheels``; a job on a host with an empty uv cache pulls it
    from the wheelhouse on the share, against bare uv installing the same pins from the same
    folder on another fresh host (3 interleaved rounds, fresh hosts each).

``--lease S`` sets ``REZUP_LOCK_LEASE`` on every host of every case. The temporary folder
(``$TMPDIR``) is removed at the end unless ``--keep``. Exit status: 0 when every case ran to
its end and its checks held, 1 otherwise, 2 when the farm cannot run on this machine.

Standard library only, Python 3.9+, Linux only.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

# `python scripts/farm_bench.py` puts scripts/ on sys.path, but not under -I or -P.
_SCRIPTS = str(Path(__file__).resolve().parent)
if _SCRIPTS not in sys.path:
    sys.path.insert(0, _SCRIPTS)

import farmhosts  # noqa: E402

CASES = (
    "remote-pull",
    "shared-root",
    "shared-add",
    "killed-host",
    "frozen-remote",
    "wheelhouse-pull",
)
WHEELHOUSE_ROUNDS = 3  # wheelhouse-pull: fresh hosts per tool and round
RECIPE = '[rez]\nname = "rez"\nurl = "rez==3.4.0"\n'
JOB = ["sh", "-c", 'echo "$REZUP_REVISION $(hostname)"; rez --version']
PULLING = "] pulling revision"  # the builder's log line: "rezup: [12:00:00] pulling revision"
READY_RE = re.compile(r"\] revision \S+ of \S+ is ready \((\d+(?:\.\d+)?)s")  # its build time
DEFAULT_LEASE = 60.0  # rezup's own default of REZUP_LOCK_LEASE
REMOTE_TIMEOUT = 2  # REZUP_REMOTE_TIMEOUT of the frozen-remote case

# this machine's settings that must not reach a host: a variable named here, or starting with
# one of the prefixes (pip's and uv's settings, every rezup and rez setting)
_DROPPED = ("VIRTUAL_ENV", "XDG_CONFIG_HOME", "XDG_STATE_HOME")
_DROPPED_PREFIXES = ("PIP_", "UV_", "REZUP_", "REZ_")


class CaseFailed(Exception):
    """A step of a case failed or a check did not hold: the case stops there."""


@dataclass
class Row:
    """One line of the report."""

    case: str
    measurement: str
    seconds: Optional[float]
    note: str = ""


@dataclass
class Job:
    """One rezup command run on a host, and how long it took (wall clock)."""

    host: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def revision(self) -> str:
        """The revision the job ran in (its first word), "" when it printed nothing."""
        words = self.stdout.split()
        return words[0] if words else ""

    @property
    def hostname(self) -> str:
        """The hostname the job saw (its second word)."""
        words = self.stdout.split()
        return words[1] if len(words) > 1 else ""

    @property
    def pulls(self) -> int:
        return self.stderr.count(PULLING)

    @property
    def build_seconds(self) -> Optional[float]:
        """How long its build took by its own log ("is ready (N.Ns)"), None if it built none."""
        found = READY_RE.search(self.stderr)
        return float(found.group(1)) if found else None

    def why(self) -> str:
        """Its exit status and last line of stderr, for a failure message."""
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return f"{self.host}: exit {self.returncode}: {lines[-1] if lines else '(no stderr)'}"


def log(message: str) -> None:
    print(message, flush=True)


def host_env(
    host: farmhosts.Host, *, local: Path, remote: Optional[Path] = None, **extra: str
) -> dict[str, str]:
    """A farm machine's environment: its own HOME with the recipe, its own uv cache and local
    root, none of this machine's pip/uv/rezup settings."""
    home = host.dir / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "rezup.toml").write_text(RECIPE, encoding="utf-8")
    config_dirs = host.dir / ".machine-config"  # empty: hides /etc/xdg/pip, /etc/uv
    config_dirs.mkdir(parents=True, exist_ok=True)
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _DROPPED and not name.startswith(_DROPPED_PREFIXES)
    }
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_DIRS": str(config_dirs),
            "XDG_CONFIG_HOME": str(host.dir / ".config"),
            "UV_NO_CONFIG": "1",
            "UV_CACHE_DIR": str(host.dir / "uv-cache"),  # each machine has its own
            "UV_LINK_MODE": "copy",  # the cache and a root on the share are two filesystems
            "UV_PYTHON_DOWNLOADS": "never",
            "PIP_CONFIG_FILE": os.devnull,
            "REZUP_NO_UPGRADE": "1",
            "REZUP_ROOT_LOCAL": str(local),
        }
    )
    if remote is not None:
        env["REZUP_ROOT_REMOTE"] = str(remote)
    env.update(extra)
    return env


def ready(folder: Path) -> list[str]:
    """The ready revisions in a container's ``revisions`` folder (as the file server sees it)."""
    if not folder.is_dir():
        return []
    return sorted(
        p.name
        for p in folder.iterdir()
        if not p.name.startswith(".") and (p / "revision.json").is_file()
    )


def seconds_text(seconds: Optional[float]) -> str:
    return "-" if seconds is None else f"{seconds:.2f}"


class Bench:
    """The options, the temporary folder, the rows measured so far."""

    def __init__(
        self, base: Path, hosts: int, jobs: int, lease: Optional[float], timeout: float
    ) -> None:
        self.base = base
        self.hosts = hosts
        self.jobs = jobs
        self.lease = lease
        self.timeout = timeout
        self.rows: list[Row] = []

    # -- plumbing

    def record(self, case: str, measurement: str, seconds: Optional[float], note: str = "") -> None:
        self.rows.append(Row(case, measurement, seconds, note))
        shown = f"{seconds_text(seconds)} s" if seconds is not None else "-"
        log(f"  {case}: {measurement}: {shown}" + (f"  ({note})" if note else ""))

    @contextlib.contextmanager
    def farm(self, case: str, hosts: int) -> Iterator[farmhosts.Farm]:
        """A fresh farm of ``hosts`` hosts in a fresh folder of its own."""
        folder = self.base / case
        folder.mkdir(parents=True)
        with farmhosts.Farm(folder, hosts=hosts) as farm:
            yield farm

    def env(
        self, host: farmhosts.Host, *, local: Path, remote: Optional[Path] = None, **extra: str
    ) -> dict[str, str]:
        if self.lease is not None:
            extra.setdefault("REZUP_LOCK_LEASE", f"{self.lease:g}")
        return host_env(host, local=local, remote=remote, **extra)

    def rezup(
        self, host: farmhosts.Host, env: dict[str, str], *args: str, timeout: Optional[float] = None
    ) -> Job:
        """Run ``python -m rezup ARGS`` on ``host``; a timeout is a failed case."""
        argv = [sys.executable, "-m", "rezup", *args]
        started = time.perf_counter()
        try:
            result = host.run(argv, env=env, timeout=timeout or self.timeout)
        except subprocess.TimeoutExpired:
            raise CaseFailed(
                f"{host.name}: rezup {' '.join(args[:2])} still ran after "
                f"{timeout or self.timeout:g}s"
            ) from None
        return Job(
            host.name,
            result.returncode,
            result.stdout,
            result.stderr,
            time.perf_counter() - started,
        )

    def job(
        self, host: farmhosts.Host, env: dict[str, str], timeout: Optional[float] = None
    ) -> Job:
        return self.rezup(host, env, "use", "--", *JOB, timeout=timeout)

    def jobs_at_once(
        self,
        hosts: Sequence[farmhosts.Host],
        per_host: int,
        env_of: Callable[[farmhosts.Host], dict[str, str]],
    ) -> tuple[float, list[Job]]:
        """``per_host`` jobs on each host, released together; the wall time until the last
        one ended, and every job (a timed-out one as exit -1)."""
        envs = {host.name: env_of(host) for host in hosts}
        count = len(hosts) * per_host
        barrier = threading.Barrier(count + 1)
        jobs: list[Job] = []
        lock = threading.Lock()

        def one(host: farmhosts.Host) -> None:
            barrier.wait()
            try:
                job = self.job(host, envs[host.name])
            except CaseFailed as error:
                job = Job(host.name, -1, "", str(error), float(self.timeout))
            with lock:
                jobs.append(job)

        threads = [
            threading.Thread(target=one, args=(host,), daemon=True)
            for host in hosts
            for _ in range(per_host)
        ]
        for thread in threads:
            thread.start()
        barrier.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        return time.perf_counter() - started, jobs

    @staticmethod
    def on_server(farm: farmhosts.Farm, path: Path) -> Path:
        """Where ``path`` (under the hosts' mount point) is on the file server: this process
        runs on no host, and reads the share there."""
        return farm.share.export / path.relative_to(farm.mount_point)

    def publish(
        self, farm: farmhosts.Farm, host: farmhosts.Host, env: dict[str, str], remote: Path
    ) -> tuple[str, float]:
        """``rezup add --remote --skip-use`` on ``host``: the revision published, seconds."""
        os.sync()
        result = self.rezup(host, env, "add", "--remote", "--skip-use")
        check(result, "publish")
        published = ready(self.on_server(farm, remote) / ".main" / "revisions")
        if len(published) != 1:
            raise CaseFailed(f"the remote root holds {published or 'no revision'}")
        return published[0], result.seconds

    # -- the cases

    def remote_pull(self) -> None:
        case = "remote-pull"
        with self.farm(case, self.hosts + 2) as farm:
            publisher, first, *workers = farm.hosts
            remote = farm.mount_point / "remote"

            def env_of(host: farmhosts.Host) -> dict[str, str]:
                return self.env(host, local=host.dir / "local", remote=remote)

            stamp, took = self.publish(farm, publisher, env_of(publisher), remote)
            self.record(case, "publish (add --remote --skip-use)", took, publisher.name)

            os.sync()
            job = check_job(self.job(first, env_of(first)), stamp, first.name)
            self.record(
                case,
                "first pull on a host, cold uv cache",
                job.seconds,
                f"{first.name}, {job.pulls} build",
            )

            os.sync()
            wall, jobs = self.jobs_at_once(workers, self.jobs, env_of)
            failed = check_all(jobs, stamp)
            builds = {
                host.name: sum(j.pulls for j in jobs if j.host == host.name) for host in workers
            }
            note = (
                f"{len(workers)} hosts x {self.jobs} jobs, "
                f"{len(jobs) - len(failed)}/{len(jobs)} exit 0, "
                f"{sum(builds.values())} builds ({per_host_text(builds)})"
            )
            self.record(case, f"{len(jobs)} jobs at once, cold caches: wall", wall, note)
            times = [j.seconds for j in jobs]
            self.record(case, "  per job: median", statistics.median(times))
            self.record(case, "  per job: max", max(times))
            if failed:
                raise CaseFailed("; ".join(j.why() for j in failed[:3]))
            if any(count != 1 for count in builds.values()):
                raise CaseFailed(f"expected one build per host: {per_host_text(builds)}")

    def shared_root(self) -> None:
        case = "shared-root"
        with self.farm(case, self.hosts + 1) as farm:
            publisher, *workers = farm.hosts
            root, remote = farm.mount_point / "root", farm.mount_point / "remote"

            def env_of(host: farmhosts.Host) -> dict[str, str]:
                return self.env(host, local=root, remote=remote)

            stamp, took = self.publish(farm, publisher, env_of(publisher), remote)
            self.record(case, "publish (add --remote --skip-use)", took, publisher.name)

            os.sync()
            wall, jobs = self.jobs_at_once(workers, self.jobs, env_of)
            failed = check_all(jobs, stamp)
            builds = sum(j.pulls for j in jobs)
            builders = sorted({j.host for j in jobs if j.pulls})
            build_times = [built for j in jobs if (built := j.build_seconds) is not None]
            if build_times:
                builders.append(f"build {max(build_times):.1f} s")
            times = [j.seconds for j in jobs]
            note = (
                f"{len(workers)} hosts x {self.jobs} jobs, "
                f"{len(jobs) - len(failed)}/{len(jobs)} exit 0, {builds} build"
                f"{'' if builds == 1 else 's'} ({', '.join(builders) or 'none'}); "
                f"per job median {statistics.median(times):.2f} s, "
                f"max {max(times):.2f} s"
            )
            self.record(case, f"{len(jobs)} jobs at once, one shared root: wall", wall, note)
            if failed:
                raise CaseFailed("; ".join(j.why() for j in failed[:3]))
            if builds != 1:
                raise CaseFailed(f"{builds} builds across the hosts, expected exactly 1")
            served = ready(self.on_server(farm, root) / ".main" / "revisions")
            if served != [stamp]:
                raise CaseFailed(f"the shared root holds {served}, expected [{stamp}]")

            host = workers[0]
            os.sync()
            job = check_job(self.job(host, env_of(host)), stamp, host.name)
            self.record(
                case,
                "use on a ready shared-root revision",
                job.seconds,
                f"{host.name}, {job.pulls} build; rez --version runs from the share",
            )
            bare = check(self.rezup(host, env_of(host), "use", "--", "true"), "use -- true")
            self.record(
                case,
                "use -- true on a ready shared-root revision",
                bare.seconds,
                f"{host.name}: rezup alone, no rez start",
            )

    def shared_add(self) -> None:
        case = "shared-add"
        with self.farm(case, 1) as farm:
            [host] = farm.hosts
            os.sync()
            cold = check(
                self.rezup(
                    host, self.env(host, local=host.dir / "local-cold"), "add", "--skip-use"
                ),
                "add (local disk, cold)",
            )
            self.record(
                case,
                "add --skip-use, local-disk root, cold uv cache",
                cold.seconds,
                "warms the cache for the two below",
            )

            os.sync()
            shared = check(
                self.rezup(
                    host, self.env(host, local=farm.mount_point / "root"), "add", "--skip-use"
                ),
                "add (share)",
            )
            served = ready(self.on_server(farm, farm.mount_point / "root") / ".main" / "revisions")
            if len(served) != 1:
                raise CaseFailed(f"the root on the share holds {served or 'no revision'}")
            os.sync()
            local = check(
                self.rezup(
                    host, self.env(host, local=host.dir / "local-warm"), "add", "--skip-use"
                ),
                "add (local disk, warm)",
            )
            self.record(
                case,
                "add --skip-use, root on the share, warm uv cache",
                shared.seconds,
                f"{shared.seconds / local.seconds:.2f}x local disk",
            )
            self.record(
                case, "add --skip-use, local-disk root, warm uv cache", local.seconds, "1.00x"
            )

    def killed_host(self) -> None:
        case = "killed-host"
        lease = self.lease if self.lease is not None else DEFAULT_LEASE
        lease_note = f"lease {lease:g} s ({'--lease' if self.lease is not None else 'default'})"
        with self.farm(case, 2) as farm:
            builder_host, waiter = farm.hosts
            root, remote = farm.mount_point / "root", farm.mount_point / "remote"
            env_a = self.env(builder_host, local=root, remote=remote)
            env_b = self.env(waiter, local=root, remote=remote)
            stamp, took = self.publish(farm, builder_host, env_a, remote)
            self.record(case, "publish (add --remote --skip-use)", took, builder_host.name)
            revisions = self.on_server(farm, root) / ".main" / "revisions"

            builder_log = self.base / case / "builder.log"
            with builder_log.open("wb") as output:
                builder = builder_host.popen(
                    [sys.executable, "-m", "rezup", "use", "--", *JOB],
                    env=env_a,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=output,
                )
            built_for = time.perf_counter()
            try:
                abandoned = wait_for_build(revisions, stamp, builder, self.timeout)
                builder_host.kill()  # the whole host: its rezup, its uv, its sshfs
                built_for = time.perf_counter() - built_for
            finally:
                if builder.poll() is None:
                    builder.kill()
                builder.wait(30)
            os.sync()
            job = self.job(waiter, env_b, timeout=lease + self.timeout)
            check_job(job, stamp, waiter.name)
            took_over = "took over the lock" in job.stderr
            checks = [
                f"{job.pulls} build",
                "took over the lock" if took_over else "no 'took over the lock' line",
            ]
            checks.append(
                "dead host's folder cleared"
                if not abandoned.exists()
                else "dead host's folder LEFT"
            )
            build = job.build_seconds
            split = (
                ""
                if build is None
                else f", of which its build {build:.1f} s, the rest {job.seconds - build:.1f} s"
            )
            self.record(
                case,
                "job on another host after the builder's host crashed",
                job.seconds,
                f"{lease_note}{split}; {builder_host.name} killed "
                f"{built_for:.1f} s into its job; {', '.join(checks)}",
            )
            served = ready(revisions)
            if served != [stamp]:
                raise CaseFailed(f"the shared root holds {served}, expected [{stamp}]")
            if not took_over or abandoned.exists() or job.pulls != 1:
                raise CaseFailed(", ".join(checks))

    def frozen_remote(self) -> None:
        case = "frozen-remote"
        with self.farm(case, 2) as farm:
            host, publisher = farm.hosts
            remote = farm.mount_point / "remote"
            env_a = self.env(
                host,
                local=host.dir / "local",
                remote=remote,
                REZUP_REMOTE_TIMEOUT=str(REMOTE_TIMEOUT),
            )
            env_b = self.env(publisher, local=publisher.dir / "local", remote=remote)
            stamp, took = self.publish(farm, publisher, env_b, remote)
            self.record(case, "publish (add --remote --skip-use)", took, publisher.name)
            check(self.rezup(host, env_a, "use", "--", "true"), "first pull")

            os.sync()
            reference = check_job(self.job(host, env_a, timeout=60), stamp, host.name)
            self.record(
                case, "job on a ready revision, share answering", reference.seconds, "reference"
            )
            host.freeze()
            try:
                first = check_job(self.job(host, env_a, timeout=60), stamp, host.name)
                second = check_job(self.job(host, env_a, timeout=60), stamp, host.name)
            finally:
                host.thaw()
            warnings = [line for line in first.stderr.splitlines() if "warning" in line]
            warned = (
                len(warnings) == 1 and f"did not answer within {REMOTE_TIMEOUT}s" in warnings[0]
            )
            self.record(
                case,
                f"job, share frozen, REZUP_REMOTE_TIMEOUT={REMOTE_TIMEOUT}",
                first.seconds,
                f"+{first.seconds - reference.seconds:.2f} s over the reference; "
                + ("one warning" if warned else f"{len(warnings)} warnings"),
            )
            self.record(
                case,
                "next job, share still frozen",
                second.seconds,
                f"+{second.seconds - reference.seconds:.2f} s over the reference",
            )
            if not warned:
                raise CaseFailed(f"expected one 'did not answer' warning:\n{first.stderr}")
            if second.seconds > reference.seconds + REMOTE_TIMEOUT / 2:
                raise CaseFailed("the next job waited for the remote root again")

    def wheelhouse_pull(self) -> None:
        """A revision published with ``--wheels`` on the share, pulled by a host with an empty
        uv cache (``rezup use -- true``, as a job would), against bare uv installing the
        revision's pins from the same wheelhouse on another fresh host (``uv venv`` + ``uv pip
        install --no-index --find-links WHEELS --compile-bytecode -r PINS``); rounds
        interleaved, each on fresh hosts. ``rezup, --no-background`` compiles the seed packages
        before it returns, as bare uv does; plain ``rezup`` leaves them to a process of its own."""
        import tomllib

        case = "wheelhouse-pull"
        rounds = WHEELHOUSE_ROUNDS
        with self.farm(case, 1 + 3 * rounds) as farm:
            publisher, *hosts = farm.hosts
            remote = farm.mount_point / "remote"

            def env_of(host: farmhosts.Host, **extra: str) -> dict[str, str]:
                return self.env(host, local=host.dir / "local", remote=remote, **extra)

            os.sync()
            result = self.rezup(
                publisher, env_of(publisher), "add", "--remote", "--wheels", "--skip-use"
            )
            check(result, "publish --wheels")
            [stamp] = ready(self.on_server(farm, remote) / ".main" / "revisions")
            self.record(case, "publish (add --remote --wheels --skip-use)", result.seconds)
            revision = remote / ".main" / "revisions" / stamp
            plan = tomllib.loads((self.on_server(farm, revision) / "plan.lock").read_text())
            [venv] = plan["venv"]
            pins = self.base / "wheelhouse-pins.txt"
            pins.write_text("".join(f"{line}\n" for line in venv["requirements"]))
            wheels = revision / "wheels"

            times: dict[str, list[float]] = {"rezup": [], "rezup-nobg": [], "uv": []}
            for index in range(rounds):
                rezup_host, nobg_host, uv_host = hosts[3 * index : 3 * index + 3]
                os.sync()
                job = check(self.rezup(rezup_host, env_of(rezup_host), "use", "--", "true"), "pull")
                times["rezup"].append(job.seconds)
                os.sync()
                job = check(
                    self.rezup(
                        nobg_host, env_of(nobg_host, REZUP_NO_BACKGROUND="1"), "use", "--", "true"
                    ),
                    "pull --no-background",
                )
                times["rezup-nobg"].append(job.seconds)
                os.sync()
                target = uv_host.dir / "venv"
                uv = shutil.which("uv") or "uv"
                script = (
                    f"{shlex.quote(uv)} venv --quiet --python {shlex.quote(venv['python'])} "
                    f"{shlex.quote(str(target))} && {shlex.quote(uv)} pip install --quiet "
                    f"--no-index --find-links {shlex.quote(str(wheels))} --compile-bytecode "
                    f"--python {shlex.quote(str(target / 'bin' / 'python'))} "
                    f"-r {shlex.quote(str(pins))}"
                )
                started = time.perf_counter()
                done = uv_host.run(["sh", "-c", script], env=env_of(uv_host), timeout=self.timeout)
                took = time.perf_counter() - started
                if done.returncode != 0:
                    raise CaseFailed(f"bare uv from the wheelhouse failed: {done.stderr[-500:]}")
                times["uv"].append(took)
            floor = statistics.median(times["uv"])
            for label, what in (
                ("uv", "bare uv from the wheelhouse, cold cache"),
                ("rezup", "rezup use (pull from the wheelhouse), cold cache"),
                ("rezup-nobg", "rezup use, REZUP_NO_BACKGROUND=1, cold cache"),
            ):
                median = statistics.median(times[label])
                runs = ", ".join(f"{t:.2f}" for t in times[label])
                self.record(case, f"{what}: median", median, f"{median / floor:.2f}x uv; {runs}")


def check(job: Job, what: str) -> Job:
    if job.returncode != 0:
        raise CaseFailed(f"{what}: {job.why()}")
    return job


def check_job(job: Job, stamp: str, hostname: str) -> Job:
    """A job that exited 0 and ran in revision ``stamp`` on host ``hostname``."""
    check(job, "job")
    if (job.revision, job.hostname) != (stamp, hostname):
        raise CaseFailed(
            f"{job.host}: the job printed {job.stdout.strip()!r}, expected '{stamp} {hostname}'"
        )
    return job


def check_all(jobs: list[Job], stamp: str) -> list[Job]:
    """The jobs that failed: not exit 0, or not in revision ``stamp`` on their own host."""
    return [
        job
        for job in jobs
        if job.returncode != 0 or (job.revision, job.hostname) != (stamp, job.host)
    ]


def per_host_text(counts: dict[str, int]) -> str:
    values = set(counts.values())
    if len(values) == 1:
        return f"{values.pop()} per host"
    return ", ".join(f"{name} {count}" for name, count in counts.items())


def wait_for_build(
    folder: Path, stamp: str, builder: subprocess.Popen[bytes], timeout: float
) -> Path:
    """The build folder of ``stamp`` once it holds the rez venv's python (on the server)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for staging in folder.glob(f".incoming-{stamp}-*"):
            if (staging / "venv" / "rez" / "bin" / "python").exists():
                return staging
        if builder.poll() is not None:
            raise CaseFailed(
                f"the builder ended (exit {builder.returncode}) before its build folder was seen"
            )
        time.sleep(0.02)
    raise CaseFailed(f"no build folder after {timeout:g}s")


# -- the report ------------------------------------------------------------------------------------


def text_table(rows: Sequence[Row]) -> str:
    header = ("case", "measurement", "seconds", "note")
    cells = [header] + [(r.case, r.measurement, seconds_text(r.seconds), r.note) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(3)]
    lines = []
    for number, row in enumerate(cells):
        lines.append(
            f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  "
            f"{row[2]:>{widths[2]}}  {row[3]}".rstrip()
        )
        if number == 0:
            lines.append("  ".join("-" * width for width in widths) + "  ----")
    return "\n".join(lines)


def markdown_table(
    rows: Sequence[Row], command: str, started: datetime.datetime, bench: Bench
) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lease = f"{bench.lease:g} s" if bench.lease is not None else f"{DEFAULT_LEASE:g} s (default)"
    lines = [
        f"Run: {started:%Y-%m-%d %H:%M}, `{command}`: {bench.hosts} hosts x {bench.jobs} jobs, "
        f"lease {lease}, {os.cpu_count()} cores. Single wall-clock runs.",
        "",
        "| case | measurement | seconds | note |",
        "|---|---|---:|---|",
    ]
    lines += [
        f"| {cell(r.case)} | {cell(r.measurement.strip())} | {seconds_text(r.seconds)} "
        f"| {cell(r.note)} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="rezup on a farm of hosts mounting one sshfs share (scripts/farmhosts.py).",
        epilog=f"cases: {', '.join(CASES)}",
    )
    parser.add_argument(
        "--hosts", type=int, default=4, metavar="N", help="hosts running jobs at once (default 4)"
    )
    parser.add_argument(
        "--jobs-per-host",
        type=int,
        default=4,
        metavar="M",
        help="jobs started at once on each of them (default 4)",
    )
    parser.add_argument(
        "--lease",
        type=float,
        default=None,
        metavar="S",
        help=f"REZUP_LOCK_LEASE on every host (default: rezup's, {DEFAULT_LEASE:g} s)",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write the table as Markdown to FILE",
    )
    parser.add_argument(
        "--only",
        default=",".join(CASES),
        metavar="CASE,...",
        help="the cases to run, comma-separated (default: all)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        metavar="S",
        help="the longest any one rezup command may take (default 900)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    args.cases = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in args.cases if name not in CASES]
    if unknown or not args.cases:
        parser.error(
            f"unknown case {', '.join(unknown) or '(none)'}: choose from {', '.join(CASES)}"
        )
    if args.hosts < 1 or args.jobs_per_host < 1:
        parser.error("--hosts and --jobs-per-host must be at least 1")
    if args.lease is not None and args.lease < 1:
        parser.error("--lease must be at least 1 second")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    reason = farmhosts.unavailable_reason()
    if reason is not None:
        print(f"farm_bench: cannot run here: {reason}", file=sys.stderr)
        return 2
    probe = subprocess.run(
        [sys.executable, "-m", "rezup", "--version"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if probe.returncode != 0:
        print(
            f"farm_bench: {sys.executable} -m rezup does not run (use `uv run python "
            f"scripts/farm_bench.py` from the repository)",
            file=sys.stderr,
        )
        return 2

    command = shlex.join(["scripts/farm_bench.py", *(sys.argv[1:] if argv is None else argv)])
    started = datetime.datetime.now()
    base = Path(tempfile.mkdtemp(prefix="rezup-farm-bench-"))
    bench = Bench(base, args.hosts, args.jobs_per_host, args.lease, args.timeout)
    log(f"{probe.stdout.strip()}, {sys.executable}; folder {base}")
    runs = {
        "remote-pull": bench.remote_pull,
        "shared-root": bench.shared_root,
        "shared-add": bench.shared_add,
        "killed-host": bench.killed_host,
        "frozen-remote": bench.frozen_remote,
        "wheelhouse-pull": bench.wheelhouse_pull,
    }
    failures = 0
    try:
        for name in CASES:
            if name not in args.cases:
                continue
            log(f"{name}:")
            case_started = time.perf_counter()
            try:
                runs[name]()
            except (CaseFailed, farmhosts.FarmError) as error:
                failures += 1
                bench.record(name, "FAILED", None, str(error).strip().splitlines()[0])
            log(f"  ({name} took {time.perf_counter() - case_started:.0f} s in all)")
    finally:
        if args.keep:
            log(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
            if base.exists():
                log(f"could not remove all of {base}")

    log("")
    log(text_table(bench.rows))
    if args.markdown:
        args.markdown.write_text(
            markdown_table(bench.rows, command, started, bench), encoding="utf-8"
        )
        log(f"\nwrote {args.markdown}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
