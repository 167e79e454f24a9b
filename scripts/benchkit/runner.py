"""How a case is measured: each run in its own folder (after the case's untimed ``prepare``)
under a small timing wrapper (GNU time or getrusage for the max RSS), killed with its whole
process tree after a timeout, then checked by the case's ``verify``; warm-ups, then every case
interleaved over the rounds. A case's lanes run in parallel (farm64: 64 processes at once)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from .cases import Blocked, Case, Lanes, Outcome, wait_for_compilers
from .util import IS_WINDOWS, last_words, log, remove_tree
from .workspace import Workspace

STOP_AFTER_FAILURES = 2  # a case that failed this often and never worked is not run again

# Runs one measured command (or several "lanes" of sequential commands, lanes in parallel) and
# prints one JSON line: wall seconds, max RSS of the child tree, the first failure.
WRAPPER = r"""
import json, subprocess, sys, time
try:
    import resource
except ImportError:
    resource = None

spec = json.loads(sys.argv[1])
lanes = spec["lanes"]
results = [None] * len(lanes)


gnu_time = spec.get("gnu_time")
rss_files = []


def lane(index, commands, out, err):
    for number, command in enumerate(commands):
        run = command
        if gnu_time:
            rss_file = "%s.rss-%d-%d" % (spec["stderr"], index, number)
            rss_files.append(rss_file)
            run = [gnu_time, "-f", "%M", "-o", rss_file, *command]
        try:
            code = subprocess.call(run, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                   cwd=spec["cwd"])
        except OSError as exc:
            err.write(("error: cannot run %s: %s\n" % (command[0], exc)).encode())
            err.flush()
            code = 127
        if code != 0:
            results[index] = (code, command)
            return
    results[index] = (0, None)


with open(spec["stdout"], "wb") as out, open(spec["stderr"], "wb") as err:
    if len(lanes) > 1:
        import threading
        threads = [threading.Thread(target=lane, args=(i, cmds, out, err))
                   for i, cmds in enumerate(lanes)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        start = time.perf_counter()
        lane(0, lanes[0], out, err)
    seconds = time.perf_counter() - start

rss = 0
if gnu_time:
    for rss_file in rss_files:
        try:
            with open(rss_file) as stream:
                rss = max(rss, int(stream.read().split()[-1]))
        except (OSError, ValueError, IndexError):
            pass
elif resource is not None:
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if sys.platform == "darwin":
        rss //= 1024
results = [(-1, None) if r is None else r for r in results]
failed = next((r for r in results if r[0] != 0), (0, None))
print(json.dumps({"seconds": seconds, "rss_kb": rss, "code": failed[0], "command": failed[1]}))
"""


class Runner:
    """Measures one run of a case at a time: in a folder of its own, under the wrapper, in
    a session of its own so that a timeout or Ctrl-C ends every process it started."""

    def __init__(self, ws: Workspace, timeout: float) -> None:
        self.ws = ws
        self.timeout = timeout
        self.run_counter = 0
        self.wrapper = ws.tmp / "wrapper.py"
        self.wrapper.write_text(WRAPPER, encoding="utf-8")
        # What measured runs left behind, removed by remove_after_runs() (see measure()).
        self._run_folders: list[Path] = []
        self._logs: list[Path] = []

    def measure(self, case: Case) -> Outcome:
        self.run_counter += 1
        safe = case.id.replace("/", "_")
        if case.reuse_run_dir:
            run_dir = self.ws.dir(f"runs/{safe}")
        else:
            run_dir = self.ws.dir(f"runs/{safe}-{self.run_counter}")
        logs = self.ws.dir("logs")
        stdout = logs / f"{self.run_counter:04d}-{safe}.out"
        stderr = logs / f"{self.run_counter:04d}-{safe}.err"
        work = run_dir / "work"
        work.mkdir(parents=True, exist_ok=True)
        try:
            try:
                # compilers of earlier runs' seed packages (rezup compiles them just after a
                # build, at low priority) finish first: each run measures its own work
                wait_for_compilers(self.ws.tmp / "runs")
                if case.prepare is not None:
                    case.prepare(run_dir)
                    wait_for_compilers(self.ws.tmp / "runs")  # the prepare's own
            except Blocked as exc:
                return Outcome(None, error=f"untimed setup: {self.ws.short(str(exc))}")
            lanes, env = case.build(run_dir)
            outcome = self._run(lanes, env, work, stdout, stderr, light=case.light)
            if outcome.error is None and case.verify is not None:
                output = stderr.read_text(encoding="utf-8", errors="replace")
                problem = case.verify(run_dir, output)
                if problem:
                    return Outcome(None, outcome.rss_kb, f"check: {problem}", lanes[0][0])
            return outcome
        finally:
            # Nothing is deleted here. Removing a run's folders (a HOME, a root with its venvs,
            # cold caches: thousands of files) right after the run means removing them right
            # before the next measured run, and on some disks the file system's work for the
            # deletion then lands in that run: it was ~1.8x slower, whatever the tool. So the
            # folders are only noted here and removed once every run has been measured.
            if not self.ws.keep:
                if not case.reuse_run_dir:
                    self._run_folders.append(run_dir)
                self._logs += [stdout, stderr]

    def remove_after_runs(self) -> None:
        """Remove the run folders and empty logs of the measured runs; call this only once
        all runs are done (see ``measure``)."""
        if not self._run_folders and not self._logs:
            return
        started = time.monotonic()
        folders, self._run_folders = self._run_folders, []
        for run_dir in folders:
            remove_tree(run_dir)
        for path in self._logs:
            if path.exists() and path.stat().st_size == 0:
                path.unlink()
        self._logs = []
        log(
            f"removed {len(folders)} run folders after the runs ({time.monotonic() - started:.1f}s)"
        )

    def _run(
        self,
        lanes: Lanes,
        env: dict[str, str],
        work: Path,
        stdout: Path,
        stderr: Path,
        light: bool = False,
    ) -> Outcome:
        """Run ``lanes`` under the wrapper and read what it reports."""
        spec = {
            "lanes": lanes,
            "cwd": str(work),
            "stdout": str(stdout),
            "stderr": str(stderr),
            "gnu_time": None if light else self.ws.gnu_time,
        }
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(self.wrapper), json.dumps(spec)],
            env=env,
            cwd=str(work),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=not IS_WINDOWS,
        )
        try:
            out, err = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self._kill(process)
            return Outcome(None, error=f"timed out after {self.timeout:.0f}s", command=lanes[0][0])
        except BaseException:  # Ctrl-C: the run is in its own session, end it too
            self._kill(process)
            raise
        try:
            data = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return Outcome(None, error="wrapper failed: " + last_words(err))
        if data["code"] != 0:
            text = stderr.read_text(encoding="utf-8", errors="replace")
            if not text.strip():
                text = stdout.read_text(encoding="utf-8", errors="replace")
            reason = f"exit {data['code']}: {self.ws.short(last_words(text))}"
            return Outcome(None, data["rss_kb"], reason, data["command"])
        return Outcome(data["seconds"], data["rss_kb"])

    @staticmethod
    def _kill(process: subprocess.Popen) -> None:
        """End a measured run: the wrapper and every process it started (its own session)."""
        try:
            if IS_WINDOWS:
                process.kill()
            else:
                os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass
        process.communicate()


def warm_up(runner: Runner, cases: list[Case], verbose: bool) -> None:
    """One untimed run of each case that wants it (it fills the warm caches)."""
    for case in cases:
        if case.blocked or not case.warmup:
            continue
        outcome = runner.measure(case)
        if outcome.error:
            case.warmup_error = outcome.error
            case.failed = 1
            log(f"  warm-up {case.id}: FAILED: {outcome.error}")
        else:
            case.worked = True
            if verbose:
                log(f"  warm-up {case.id}: {outcome.seconds:.3f}s")


def schedule(runner: Runner, cases: list[Case], verbose: bool) -> None:
    """All runs, interleaved: each round runs every case once, in order; a case with fewer
    runs than there are rounds is spread evenly over them. Noise thus hits all alike."""
    total = max(case.runs for case in cases)
    started = time.monotonic()
    for index in range(total):
        round_started = time.monotonic()
        ran: Counter[str] = Counter()
        for case in cases:
            if case.blocked or case.stopped:
                continue
            # spread a case's runs evenly over all rounds
            if (index + 1) * case.runs // total == index * case.runs // total:
                continue
            outcome = runner.measure(case)
            case.outcomes.append(outcome)
            ran[case.group.split("-")[0]] += 1
            if outcome.error:
                case.failed += 1
                if not case.worked and case.failed >= STOP_AFTER_FAILURES:
                    case.stopped = True
                    log(
                        f"  {case.id}: failed {case.failed} times and never worked, "
                        f"not run again: {outcome.error}"
                    )
            else:
                case.worked = True
            if verbose:
                shown = (
                    f"{outcome.seconds:.3f}s"
                    if outcome.error is None
                    else f"FAILED ({outcome.error})"
                )
                log(f"    {case.id}: {shown}, {outcome.rss_kb / 1024:.0f} MB")
        what = ", ".join(f"{n} {kind}" for kind, n in ran.items()) or "nothing"
        log(
            f"round {index + 1}/{total}: {what} ({time.monotonic() - round_started:.1f}s, "
            f"{time.monotonic() - started:.0f}s in all)"
        )
