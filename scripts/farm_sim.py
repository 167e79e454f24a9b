#!/usr/bin/env python3
"""Simulate a render farm starting rezup at once: N processes, one remote revision.

Setup (not timed): a temporary base folder with its own HOME holding ``~/rezup.farm.toml``,
and a remote root where ``rezup add farm --remote --skip-use`` publishes one revision (recipe
and pinned plan, no venv). Then, for each mode, N workers are released together and each runs
``rezup use farm -- PYTHON -c pass`` on a local root that lacks the revision, so each one has
to pull (build) it:

``separate``  every worker has its own local root (separate machines): N builds, in parallel.
``shared``    all workers share one local root: exactly one build, the others wait for it.

For comparison one pull alone (one worker, empty local root) is timed before the waves. The
uv cache is the user's (``$UV_CACHE_DIR`` or ``~/.cache/uv``), shared by every worker. The real
HOME and ``~/.rezup`` are never touched.

Exit status: 0 when every worker succeeded, separate mode made N builds and shared mode made
exactly one; 1 otherwise; 2 when the setup failed.

Examples::

    .venv/bin/python scripts/farm_sim.py                      # 32 workers, both modes
    .venv/bin/python scripts/farm_sim.py --workers 8 --mode both
    .venv/bin/python scripts/farm_sim.py --soft-lock --mode shared --workers 16
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

CONTAINER = "farm"
DEFAULT_RECIPE = '[rez]\nname = "rez"\nurl = "rez==3.4.0"\n'
COMMAND = [sys.executable, "-c", "pass"]  # not a pyenv shim: ~95 ms of CPU a call
UNUSED_ROOT = "unused-local-root"  # REZUP_ROOT_LOCAL while publishing (nothing is built there)
PULLING = "pulling revision"  # the builder's log line: "rezup: pulling revision ..."
WAITING = "waiting for another process"  # a waiter's line, "... to finish pulling revision ..."
PULLING_RE = re.compile(r"^rezup: (?:\[[\d:]+\] )?pulling revision ", re.MULTILINE)
WAITING_RE = re.compile(r"^rezup: waiting for another process ", re.MULTILINE)
READY_RE = re.compile(r"rezup: revision \S+ of \S+ is ready \((\d+(?:\.\d+)?)s\)")
REPO = Path(__file__).resolve().parent.parent

_live: set[subprocess.Popen] = set()  # running workers, killed if this script is interrupted
_live_lock = threading.Lock()


# --------------------------------------------------------------------------------------------
# Running rezup


@dataclass
class Result:
    index: int
    argv: list[str]
    returncode: Optional[int] = None  # None: killed after the timeout
    stdout: str = ""
    stderr: str = ""
    start_offset: float = 0.0  # seconds after the wave was released
    elapsed: float = 0.0
    error: str = ""  # failure to start the process at all

    @property
    def pulled(self) -> bool:
        return PULLING_RE.search(self.stderr) is not None

    @property
    def waited(self) -> bool:
        return WAITING_RE.search(self.stderr) is not None

    @property
    def waiting_lines(self) -> int:
        return len(WAITING_RE.findall(self.stderr))

    @property
    def build_seconds(self) -> Optional[float]:
        match = READY_RE.search(self.stderr)
        return float(match.group(1)) if match else None

    def problems(self) -> list[str]:
        found = []
        if self.error:
            found.append(f"could not start: {self.error}")
        if self.returncode is None and not self.error:
            found.append("hung: killed after the timeout")
        elif self.returncode not in (None, 0):
            found.append(f"exit code {self.returncode}")
        if "Traceback (most recent call last)" in self.stderr:
            found.append("traceback on stderr")
        if "rezup: error" in self.stderr:
            found.append("'rezup: error' on stderr")
        if "cannot pull revision" in self.stderr:
            found.append("pull failed (fell back or gave up)")
        if self.waiting_lines > 1:
            found.append(f"'{WAITING}' printed {self.waiting_lines} times, expected once")
        if self.pulled and self.waited and not self.ok_to_build_after_wait():
            found.append("waited, then built again although the revision was ready")
        return found

    def ok_to_build_after_wait(self) -> bool:
        """A waiter may build only if the holder gave up; rezup says so when it clears one."""
        return "incomplete revision" in self.stderr

    @property
    def ok(self) -> bool:
        return not self.problems()


def run_rezup(
    index: int,
    argv: list[str],
    env: dict[str, str],
    timeout: float,
    cwd: Path,
    t0: Optional[float] = None,
) -> Result:
    """Run one rezup process in its own process group; kill the group after ``timeout``."""
    result = Result(index, argv)
    started = time.monotonic()
    result.start_offset = started - t0 if t0 is not None else 0.0
    try:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=str(cwd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    except OSError as exc:
        result.error = str(exc)
        result.elapsed = time.monotonic() - started
        return result
    with _live_lock:
        _live.add(proc)
    try:
        result.stdout, result.stderr = proc.communicate(timeout=timeout)
        result.returncode = proc.returncode
    except subprocess.TimeoutExpired:
        kill_group(proc)
        result.stdout, result.stderr = proc.communicate()
        result.returncode = None
    except BaseException:
        kill_group(proc)
        proc.wait()
        raise
    finally:
        with _live_lock:
            _live.discard(proc)
    result.elapsed = time.monotonic() - started
    return result


def kill_live_workers() -> None:
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        kill_group(proc)


def kill_group(proc: subprocess.Popen) -> None:
    """Kill the process group of ``proc`` (a session this script started for it)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


# --------------------------------------------------------------------------------------------
# Setup


@dataclass
class Farm:
    base: Path
    home: Path
    remote: Path
    rezup: list[str]
    uv_cache: Path
    soft_lock: bool
    timeout: float
    base_env: dict[str, str] = field(default_factory=dict)

    def env(self, local_root: Path) -> dict[str, str]:
        env = dict(self.base_env)
        env["REZUP_ROOT_LOCAL"] = str(local_root)
        return env

    def use_argv(self) -> list[str]:
        return [*self.rezup, "use", CONTAINER, "--", *COMMAND]


def user_uv_cache() -> Path:
    """The user's uv cache, found before HOME is swapped."""
    explicit = os.environ.get("UV_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser().absolute() / "uv"
    return Path.home() / ".cache" / "uv"


def default_rezup() -> list[str]:
    script = REPO / ".venv" / "bin" / "rezup"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "rezup"]


def make_base_env(home: Path, remote: Path, uv_cache: Path, soft_lock: bool) -> dict[str, str]:
    # no REZUP_* from the caller (REZUP_CONTAINER would refuse a nested session, a stray
    # REZUP_ROOT_* would point at real roots), no XDG folders that lead back to the real home
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("REZUP_")
        and key not in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")
    }
    env["HOME"] = str(home)
    env["REZUP_ROOT_REMOTE"] = str(remote)
    env["UV_CACHE_DIR"] = str(uv_cache)
    if soft_lock:
        env["REZUP_LOCK"] = "soft"
    return env


def setup(args: argparse.Namespace) -> Farm:
    uv_cache = user_uv_cache()  # before anything else, from the real environment
    parent = args.base_dir
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="rezup-farm-", dir=str(parent) if parent else None))
    home = base / "home"
    remote = base / "remote"
    home.mkdir()
    if args.recipe is not None:
        recipe_text = args.recipe.read_text(encoding="utf-8")
    else:
        recipe_text = DEFAULT_RECIPE
    (home / f"rezup.{CONTAINER}.toml").write_text(recipe_text, encoding="utf-8")
    rezup = shlex.split(args.rezup) if args.rezup else default_rezup()
    farm = Farm(
        base=base,
        home=home,
        remote=remote,
        rezup=rezup,
        uv_cache=uv_cache,
        soft_lock=args.soft_lock,
        timeout=args.timeout,
    )
    farm.base_env = make_base_env(home, remote, uv_cache, args.soft_lock)
    return farm


def publish(farm: Farm) -> Result:
    argv = [*farm.rezup, "add", CONTAINER, "--remote", "--skip-use"]
    env = farm.env(farm.base / UNUSED_ROOT)
    return run_rezup(0, argv, env, farm.timeout, cwd=farm.base)


# --------------------------------------------------------------------------------------------
# Counting what was built


@dataclass
class RevisionCount:
    folders: int = 0
    ready: int = 0
    hidden: list[str] = field(default_factory=list)  # leftovers such as .incoming-*
    lock_files: int = 0  # *.lock files under .locks (they stay; that is normal)
    claims: int = 0  # soft-lock claims still present (a holder that never released)


def count_revisions(roots: list[Path]) -> RevisionCount:
    count = RevisionCount()
    for root in roots:
        revisions = root / CONTAINER / "revisions"
        if revisions.is_dir():
            for entry in sorted(revisions.iterdir()):
                if not entry.is_dir():
                    continue
                if entry.name.startswith("."):
                    count.hidden.append(str(entry))
                    continue
                count.folders += 1
                if (entry / "revision.json").is_file():
                    count.ready += 1
        locks = root / CONTAINER / ".locks"
        if locks.is_dir():
            count.lock_files += sum(1 for _ in locks.glob("*.lock"))
            count.claims += sum(1 for _ in locks.glob("*.filelock/claims/*"))
    return count


# --------------------------------------------------------------------------------------------
# One wave


@dataclass
class WaveReport:
    mode: str
    workers: int
    results: list[Result]
    wall: float
    count: RevisionCount
    roots: list[Path]

    @property
    def successes(self) -> int:
        return sum(1 for r in self.results if r.ok)

    @property
    def builds(self) -> int:
        return sum(1 for r in self.results if r.pulled)

    @property
    def waited(self) -> int:
        return sum(1 for r in self.results if r.waited)

    def failures(self) -> list[str]:
        found = []
        if self.successes != self.workers:
            found.append(f"{self.workers - self.successes} worker(s) failed")
        expected = 1 if self.mode == "shared" else self.workers
        if self.builds != expected:
            found.append(f"{self.builds} build(s) in {self.mode} mode, expected {expected}")
        if self.count.ready != expected:
            found.append(f"{self.count.ready} ready revision folder(s), expected {expected}")
        if self.count.folders != self.count.ready:
            found.append(f"{self.count.folders - self.count.ready} revision folder(s) not ready")
        if self.count.claims:
            found.append(f"{self.count.claims} soft-lock claim(s) never released")
        if self.count.hidden:
            found.append(f"leftover hidden folders: {', '.join(self.count.hidden)}")
        return found


def run_wave(farm: Farm, mode: str, workers: int) -> WaveReport:
    mode_dir = farm.base / mode
    if mode == "shared":
        roots = [mode_dir / "root"] * workers
    else:
        roots = [mode_dir / f"machine-{i:03d}" / "root" for i in range(workers)]
    for root in set(roots):
        root.mkdir(parents=True, exist_ok=True)
    argv = farm.use_argv()
    envs = [farm.env(root) for root in roots]
    results: list[Optional[Result]] = [None] * workers
    barrier = threading.Barrier(workers + 1)
    t0_box: list[float] = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return
        results[i] = run_rezup(i, argv, envs[i], farm.timeout, cwd=mode_dir, t0=t0_box[0])

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    t0_box.append(time.monotonic())  # set before the release; workers read it after
    barrier.wait()
    t0 = t0_box[0]
    for thread in threads:
        thread.join()
    wall = time.monotonic() - t0
    done = []
    for i, result in enumerate(results):
        if result is None:  # the thread died before recording anything
            result = Result(i, argv, error="worker thread failed")
        done.append(result)
    count = count_revisions(sorted(set(roots)))
    return WaveReport(mode, workers, done, wall, count, roots)


# --------------------------------------------------------------------------------------------
# Output


def fmt(seconds: Optional[float]) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return (
        f"min {min(values):.1f}s, median {statistics.median(values):.1f}s, max {max(values):.1f}s"
    )


def print_result_detail(result: Result, env_note: str, label: str = "") -> None:
    label = label or f"worker {result.index}"
    print(f"  --- {label}: {'; '.join(result.problems()) or 'no problem seen'}")
    print(f"      command: {env_note} {shlex.join(result.argv)}")
    print(f"      exit code: {result.returncode}, elapsed {fmt(result.elapsed)}")
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        if text.strip():
            print(f"      {name}:")
            for line in text.rstrip().splitlines():
                print(f"        {line}")


def env_note(farm: Farm, result_env: dict[str, str]) -> str:
    keys = ["HOME", "REZUP_ROOT_REMOTE", "REZUP_ROOT_LOCAL", "UV_CACHE_DIR", "REZUP_LOCK"]
    return " ".join(f"{k}={shlex.quote(result_env[k])}" for k in keys if k in result_env)


def report_wave(farm: Farm, report: WaveReport, single: Optional[Result]) -> None:
    n = report.workers
    roots = 1 if report.mode == "shared" else n
    lock = "soft (REZUP_LOCK=soft)" if farm.soft_lock else "default (REZUP_LOCK unset)"
    print(f"\n== mode {report.mode}: {n} workers, {roots} local root(s), lock {lock} ==")
    print(f"successes:          {report.successes}/{n}")
    print(
        f"builds:             {report.builds} (workers logging '{PULLING}'); "
        f"revision folders: {report.count.ready} ready of {report.count.folders}"
        f" across {roots} root(s)"
    )
    print(f"waited:             {report.waited} (workers logging '{WAITING}')")
    print(f"wave wall time:     {fmt(report.wall)}")
    if single is not None and single.ok:
        ratio = report.wall / single.elapsed if single.elapsed else 0.0
        print(f"one pull alone:     {fmt(single.elapsed)} (wave / alone = {ratio:.2f}x)")
    offsets = [r.start_offset for r in report.results]
    print(f"worker start:       within {max(offsets) * 1000:.0f} ms of the release")
    print(f"worker times:       {spread([r.elapsed for r in report.results])}")
    builds = [b for b in (r.build_seconds for r in report.results) if b is not None]
    if builds:
        print(f"build times (log):  {spread(builds)}")
    waiters = [r.elapsed for r in report.results if r.waited]
    if waiters:
        print(f"waiter times:       {spread(waiters)}")
    print(
        f"lock files left:    {report.count.lock_files}"
        f"{f', soft-lock claims left: {report.count.claims}' if farm.soft_lock else ''}"
    )
    failures = report.failures()
    print(f"verdict:            {'OK' if not failures else 'FAILED: ' + '; '.join(failures)}")
    bad = [r for r in report.results if not r.ok]
    for result in bad[:10]:
        print_result_detail(result, env_note(farm, farm.env(report.roots[result.index])))
    if len(bad) > 10:
        print(f"  ... and {len(bad) - 10} more failed worker(s)")
    if report.mode == "shared" and report.builds > 1:
        for result in [r for r in report.results if r.pulled]:
            print(f"  --- worker {result.index} built (stderr):")
            for line in result.stderr.rstrip().splitlines():
                print(f"        {line}")


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="N rezup processes pull one remote revision at once; count the builds.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples::", 1)[1] if __doc__ else None,
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=32,
        metavar="N",
        help="number of concurrent workers (default: 32)",
    )
    parser.add_argument(
        "--mode",
        choices=("separate", "shared", "both"),
        default="both",
        help="separate: a local root per worker; shared: one local root for "
        "all; both (default): separate, then shared",
    )
    parser.add_argument(
        "--recipe", type=Path, metavar="FILE", help="recipe to publish instead of rez==3.4.0"
    )
    parser.add_argument(
        "--soft-lock",
        action="store_true",
        help="run with REZUP_LOCK=soft (StrictSoftFileLock, as on NFS)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--base-dir",
        type=Path,
        metavar="DIR",
        help="make the temporary folder in DIR (e.g. on NFS; default: $TMPDIR)",
    )
    parser.add_argument(
        "--rezup", metavar="CMD", help="rezup command line (default: the repo's .venv/bin/rezup)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        metavar="SECONDS",
        help="kill a worker after this long and count it as hung (default: 1800)",
    )
    parser.add_argument("--no-single", action="store_true", help="skip timing one pull alone")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.recipe is not None and not args.recipe.is_file():
        parser.error(f"--recipe {args.recipe}: no such file")
    return args


def remove_tree(path: Path) -> None:
    def onerror(func, name, _exc):
        try:
            os.chmod(name, 0o700)
            func(name)
        except OSError:
            pass

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=onerror)
    else:
        shutil.rmtree(path, onerror=onerror)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    modes = ["separate", "shared"] if args.mode == "both" else [args.mode]
    farm = setup(args)
    print(f"base folder:   {farm.base}{'  (kept)' if args.keep else ''}")
    print(f"rezup:         {shlex.join(farm.rezup)}")
    print(f"uv cache:      {farm.uv_cache} (shared by all workers)")
    print(f"lock:          {'REZUP_LOCK=soft' if farm.soft_lock else 'default'}")
    print(f"workers:       {args.workers}, modes: {', '.join(modes)}, cpus: {os.cpu_count()}")
    print(f"worker runs:   {shlex.join(farm.use_argv())}")
    code = 0
    try:
        started = time.monotonic()
        published = publish(farm)
        if not published.ok:
            print("\nsetup failed: rezup add --remote")
            print_result_detail(
                published, env_note(farm, farm.env(farm.base / UNUSED_ROOT)), label="rezup add"
            )
            return 2
        revisions = sorted(
            p.name
            for p in (farm.remote / CONTAINER / "revisions").iterdir()
            if not p.name.startswith(".")
        )
        print(
            f"published:     remote revision {', '.join(revisions)} "
            f"in {time.monotonic() - started:.1f}s (not timed)"
        )

        single = None
        if not args.no_single:
            root = farm.base / "single" / "root"
            root.mkdir(parents=True)
            single = run_rezup(
                0, farm.use_argv(), farm.env(root), farm.timeout, cwd=farm.base / "single"
            )
            count = count_revisions([root])
            note = f"builds: {int(single.pulled)}, ready folders: {count.ready}"
            if single.ok and single.pulled:
                print(
                    f"one pull alone: {fmt(single.elapsed)} "
                    f"(build {fmt(single.build_seconds)} per its log; {note})"
                )
            else:
                code = 1
                print(f"one pull alone: FAILED ({note})")
                print_result_detail(single, env_note(farm, farm.env(root)), label="single pull")

        reports = []
        for mode in modes:
            report = run_wave(farm, mode, args.workers)
            report_wave(farm, report, single)
            reports.append(report)
            if report.failures():
                code = 1

        print("\n== summary ==")
        print(
            f"{'mode':<9} {'workers':>7} {'ok':>5} {'builds':>6} {'folders':>7} "
            f"{'waited':>6} {'wave':>8} {'alone':>7}  verdict"
        )
        alone = fmt(single.elapsed) if single is not None and single.ok else "-"
        for r in reports:
            verdict = "OK" if not r.failures() else "FAILED"
            print(
                f"{r.mode:<9} {r.workers:>7} {r.successes:>5} {r.builds:>6} "
                f"{r.count.ready:>7} {r.waited:>6} {fmt(r.wall):>8} {alone:>7}  {verdict}"
            )
        print(f"exit code: {code}")
        return code
    except KeyboardInterrupt:
        kill_live_workers()
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"kept: {farm.base}")
        else:
            remove_tree(farm.base)


if __name__ == "__main__":
    sys.exit(main())
