#!/usr/bin/env python3
"""Benchmark harness for rezup: build speed, ``rezup use`` start-up, pulls, peak memory.

Run from the repository (standard library only, Python 3.9+)::

    python scripts/bench.py --quick              # about 3-5 minutes
    python scripts/bench.py                      # the full run (7 rounds, 40 use runs)
    python scripts/bench.py --only add-minimal,use --markdown bench.md
    python scripts/bench.py --list               # the cases and what each one runs

Every case runs INTERLEAVED with the others: round 1 runs each case once, round 2 again, and
so on; cases with fewer runs are spread evenly over the rounds. Noise thus hits all alike.

Cases:

* ``add-{minimal,studio}-{warm,cold}/{rezup,uv,orig}``: ``rezup add --skip-use`` in a fresh
  HOME (recipe as ``~/rezup.toml``) and a fresh ``REZUP_ROOT_LOCAL``; the same venvs and
  installs made by bare uv (``uv venv --seed`` + ``uv pip install --compile-bytecode``, one lane
  per venv, lanes in parallel as rezup builds them); and the original tool (rezup-api 2.6.0 +
  rezup 2.1.1, installed here into a throw-away venv). Warm: one shared cache (uv, pip and
  virtualenv), filled by one untimed run of each case. Cold: fresh empty caches every run.
* ``use/*``: ``rezup use -- PY -c pass`` against ``PY -c pass`` itself, where PY is the python
  of the revision's rez venv; for rezup with 1, 100 and 1,000 revisions in the container (the
  extra ones are fake, older, "ready" revisions holding only rezup.toml and revision.json),
  and for the original tool.
* ``pull/*``: ``rezup use -- PY -c pass`` with a remote root holding one revision of the
  minimal recipe and an empty local root (so the revision is built from the remote plan),
  against ``rezup add --skip-use`` of the same recipe; warm cache.

Each command runs under a small wrapper process that times it and reports the max RSS of its
process tree (``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the largest single process).
rezup is only ever called through its command line. Everything lives in one temporary folder,
removed at the end unless ``--keep``; the real HOME and ~/.rezup are never touched.
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parent.parent
IS_WINDOWS = os.name == "nt"

REZ_PIN = "rez==3.4.0"
STUDIO_LIBS = ("pyyaml==6.0.2", "six==1.17.0", "colorama==0.4.6")
ISOLATED_NAME, ISOLATED_PIN = "pipdeptree", "pipdeptree==2.23.4"
EDITABLE_NAME = "benchtool"
ORIG_REQUIREMENTS = ("rezup-api==2.6.0", "rezup==2.1.1")
FAKE_REVISION_COUNTS = (1, 100, 1000)

DEFAULT_ROUNDS, QUICK_ROUNDS = 7, 3
DEFAULT_USE_RUNS, QUICK_USE_RUNS = 40, 20
STOP_AFTER_FAILURES = 2  # a case that failed this often and never worked is not run again

GOAL_ADD_VS_ORIG = 5.0  # rezup add (minimal, warm) at least this many times faster
GOAL_ADD_VS_FLOOR = 1.25  # ... and at most this many times the bare-uv floor
GOAL_USE_OVERHEAD_MS = 25.0
GOAL_USE_FLAT_MS = 5.0
GOAL_PULL_VS_ADD = 1.5

# Variables that would make a run depend on the user's own setup rather than on the fresh
# HOME and caches each run gets.
_DROPPED_ENV = {
    "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP",
    "UV_CACHE_DIR", "UV_PROJECT_ENVIRONMENT", "PIP_CACHE_DIR", "PIP_REQUIRE_VIRTUALENV",
    "VIRTUALENV_OVERRIDE_APP_DATA", "VIRTUALENV_APP_DATA",
    "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME",
    # Without cached bytecode every start of rezup (and of the original tool, and of pip in
    # it) would compile its modules again: not what an installed tool does.
    "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX",
}

# Runs one measured command (or several "lanes" of sequential commands, lanes in parallel) and
# prints one JSON line: wall seconds, max RSS of the child tree, the first failure.
WRAPPER = r'''
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
'''


# --------------------------------------------------------------------------------------------
# Small helpers


def log(message: str) -> None:
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


def bin_dir(venv: Path) -> Path:
    return venv / ("Scripts" if IS_WINDOWS else "bin")


def venv_python(venv: Path) -> Path:
    return bin_dir(venv) / ("python.exe" if IS_WINDOWS else "python")


def remove_tree(path: Path) -> None:
    def make_writable_and_retry(func, target, _exc_info):
        try:
            os.chmod(target, 0o700)
            func(target)
        except OSError:
            pass

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=make_writable_and_retry)


def quiet_run(command: list[str], env: dict[str, str], cwd: Path,
              timeout: float = 600) -> subprocess.CompletedProcess:
    """Run an untimed helper command; never raises for a non-zero exit."""
    try:
        return subprocess.run(command, env=env, cwd=str(cwd), capture_output=True, text=True,
                              timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(command, 127, "", f"error: {exc}")


def last_words(text: str, limit: int = 220) -> str:
    """The line of a tool's output that says what went wrong."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "no output"
    picked = None
    for line in reversed(lines):
        if re.search(r"error|exception|failed|cannot|not found", line, re.IGNORECASE):
            picked = line
            break
    picked = picked or lines[-1]
    return picked if len(picked) <= limit else picked[: limit - 3] + "..."


def fmt_seconds(value: Optional[float], unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value * 1000:.1f}"
    return f"{value:.2f}"


# --------------------------------------------------------------------------------------------
# Cases and results


class Blocked(Exception):
    """A case cannot run because something it needs could not be set up."""


@dataclass
class Outcome:
    seconds: Optional[float]
    rss_kb: int = 0
    error: Optional[str] = None
    command: Optional[list[str]] = None


@dataclass
class Case:
    id: str  # "add-minimal-warm/rezup"
    group: str  # "add-minimal-warm"
    label: str  # "rezup"
    runs: int
    build: Callable[[Path], tuple[list[list[list[str]]], dict[str, str]]]  # run dir -> lanes, env
    needs: tuple[str, ...] = ()
    warmup: bool = False
    reuse_run_dir: bool = False  # use cases: nothing is written, no fresh folders needed
    outcomes: list[Outcome] = field(default_factory=list)
    warmup_error: Optional[str] = None
    blocked: Optional[str] = None
    stopped: bool = False
    worked: bool = False  # one run (or the warm-up) succeeded
    failed: int = 0  # failed runs, the warm-up included

    def times(self) -> list[float]:
        return [o.seconds for o in self.outcomes if o.error is None and o.seconds is not None]

    def median(self) -> Optional[float]:
        times = self.times()
        return statistics.median(times) if times else None

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error is not None]

    def failure_summary(self) -> Optional[str]:
        if self.blocked:
            return self.blocked
        errors = Counter(o.error for o in self.failures())
        if not errors:
            return None
        return errors.most_common(1)[0][0]


GROUP_TITLES = {
    "add-minimal-warm": "add, minimal recipe, warm cache",
    "add-minimal-cold": "add, minimal recipe, cold cache",
    "add-studio-warm": "add, studio recipe, warm cache",
    "add-studio-cold": "add, studio recipe, cold cache",
    "use": "use: `rezup use -- PY -c pass` vs `PY -c pass`",
    "pull": "pull of a remote revision into an empty local root vs local add (minimal, warm)",
}

GROUP_SHORT = {
    "add-minimal-warm": "add minimal, warm",
    "add-minimal-cold": "add minimal, cold",
    "add-studio-warm": "add studio, warm",
    "add-studio-cold": "add studio, cold",
    "use": "use -- PY -c pass",
    "pull": "pull vs add",
}

LABELS = {
    "rezup": "rezup (this repo)",
    "uv": "bare uv (floor)",
    "orig": "rezup 2.x (original)",
    "python": "bare python",
    "rezup-1": "rezup, 1 revision",
    "rezup-100": "rezup, 100 revisions",
    "rezup-1000": "rezup, 1,000 revisions",
    "pull": "rezup use (pull)",
    "add": "rezup add (local)",
}


# --------------------------------------------------------------------------------------------
# The benchmark


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="rezup-bench-"))
        self.keep = args.keep
        self.rezup = self._find_rezup(args.rezup)
        self.rezup_python = self._rezup_venv_python()
        self.misc_home = self._dir("home-misc")
        self.uv = self._find_uv()
        self.shared_uv_cache = self._dir("cache/uv")
        self.shared_pip_cache = self._dir("cache/pip")
        self.shared_venv_data = self._dir("cache/virtualenv")
        self.editable_src = self._write_editable_package()
        self.recipes = {"minimal": self._minimal_recipe(), "studio": self._studio_recipe()}
        self.python: Optional[str] = None  # the interpreter rezup builds venvs with
        self.use_python: Optional[str] = None  # the python of the use revision's rez venv
        self.orig_rezup: Optional[Path] = None
        self.orig_version = ""
        self.setup_errors: dict[str, str] = {}
        self.setup_done: set[str] = set()
        self.run_counter = 0
        self.gnu_time = self._find_gnu_time()
        self.wrapper = self.tmp / "wrapper.py"
        self.wrapper.write_text(WRAPPER, encoding="utf-8")
        self.use_roots: dict[int, Path] = {}
        self.use_home = self.tmp / "use" / "home"
        self.orig_use_root = self.tmp / "use" / "root-orig"
        self.remote_root = self.tmp / "pull" / "remote"

    # -- paths and environment ---------------------------------------------------------------

    def _dir(self, relative: str) -> Path:
        path = self.tmp / relative
        path.mkdir(parents=True, exist_ok=True)
        return path

    def short(self, text: str) -> str:
        """``text`` with the temporary folder, run folders and revision names made generic,
        so that one failure reads the same in every run."""
        text = text.replace(str(self.tmp), "$TMP")
        text = re.sub(r"\$TMP/runs/[^/\s'\"]+", "$RUN", text)
        return re.sub(r"(revisions[/\\])\d{9,}\.\d+", r"\1<stamp>", text)

    def _find_rezup(self, explicit: Optional[str]) -> Path:
        candidates = [Path(explicit)] if explicit else [
            bin_dir(REPO / ".venv") / ("rezup.exe" if IS_WINDOWS else "rezup"),
        ]
        for candidate in candidates:
            if candidate.is_file():
                return candidate.absolute()
        found = shutil.which("rezup")
        if found and not explicit:
            return Path(found)
        raise SystemExit(f"bench: cannot find the rezup command (tried {candidates[0]}); "
                         "run `uv sync` in the repository or pass --rezup PATH")

    def _rezup_venv_python(self) -> Path:
        python = self.rezup.parent / ("python.exe" if IS_WINDOWS else "python")
        if python.exists():
            return python
        first = self.rezup.read_text(encoding="utf-8", errors="replace").splitlines()[:1]
        if first and first[0].startswith("#!"):
            return Path(first[0][2:].strip().split()[0])
        return Path(sys.executable)

    def base_env(self, home: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in _DROPPED_ENV and not k.startswith("REZUP_")}
        env["HOME"] = str(home)
        if IS_WINDOWS:
            env["USERPROFILE"] = str(home)
        env["REZUP_NO_UPGRADE"] = "1"
        return env

    def cache_env(self, env: dict[str, str], warm: bool, run_dir: Path) -> dict[str, str]:
        if warm:
            env["UV_CACHE_DIR"] = str(self.shared_uv_cache)
            env["PIP_CACHE_DIR"] = str(self.shared_pip_cache)
            env["VIRTUALENV_OVERRIDE_APP_DATA"] = str(self.shared_venv_data)
        else:
            env["UV_CACHE_DIR"] = str(run_dir / "cache" / "uv")
            env["PIP_CACHE_DIR"] = str(run_dir / "cache" / "pip")
            env["VIRTUALENV_OVERRIDE_APP_DATA"] = str(run_dir / "cache" / "virtualenv")
        return env

    def make_home(self, home: Path, recipe: str) -> Path:
        home.mkdir(parents=True, exist_ok=True)
        (home / "rezup.toml").write_text(recipe, encoding="utf-8")
        return home

    def _find_gnu_time(self) -> Optional[str]:
        """GNU time, to read each command's max RSS (a Python wrapper's own size at fork would
        otherwise count towards it: ~10 MB, as much as ``python -c pass`` itself)."""
        if self.args.rusage or IS_WINDOWS or not os.path.isfile("/usr/bin/time"):
            return None
        done = quiet_run(["/usr/bin/time", "--version"], self.base_env(self.misc_home), self.tmp)
        return "/usr/bin/time" if "GNU" in done.stdout + done.stderr else None

    def _find_uv(self) -> str:
        if os.environ.get("UV"):
            return os.environ["UV"]
        done = quiet_run([str(self.rezup_python), "-c", "import uv; print(uv.find_uv_bin())"],
                         self.base_env(self.misc_home), self.tmp)
        found = done.stdout.strip()
        if done.returncode == 0 and found and Path(found).exists():
            return found
        found = shutil.which("uv") or ""
        if not found:
            raise SystemExit("bench: cannot find uv (not in rezup's venv nor on PATH)")
        return found

    # -- recipes -----------------------------------------------------------------------------

    def _write_editable_package(self) -> Path:
        root = self._dir(f"src/{EDITABLE_NAME}")
        (root / "pyproject.toml").write_text(
            "[build-system]\n"
            'requires = ["hatchling"]\n'
            'build-backend = "hatchling.build"\n\n'
            "[project]\n"
            f'name = "{EDITABLE_NAME}"\n'
            'version = "0.1.0"\n'
            'requires-python = ">=3.8"\n\n'
            "[project.scripts]\n"
            f'{EDITABLE_NAME} = "{EDITABLE_NAME}:main"\n',
            encoding="utf-8",
        )
        package = root / EDITABLE_NAME
        package.mkdir(exist_ok=True)
        (package / "__init__.py").write_text(
            "def main():\n    print('benchtool ok')\n    return 0\n", encoding="utf-8"
        )
        return root

    def _minimal_recipe(self) -> str:
        return f'[rez]\nname = "rez"\nurl = "{REZ_PIN}"\n'

    def _studio_recipe(self) -> str:
        libs = ", ".join(f'"{lib}"' for lib in STUDIO_LIBS)
        return (
            f'[rez]\nname = "rez"\nurl = "{REZ_PIN}"\nlib = [{libs}]\n\n'
            f'[[extension]]\nname = "{ISOLATED_NAME}"\nurl = "{ISOLATED_PIN}"\n'
            "isolation = true\n\n"
            f'[[extension]]\nname = "{EDITABLE_NAME}"\nurl = {json.dumps(str(self.editable_src))}\n'
            "edit = true\n"
        )

    def floor_venvs(self, recipe: str) -> list[tuple[str, list[str]]]:
        """(venv name, uv pip install arguments) for the venvs rezup makes from ``recipe``."""
        if recipe == "minimal":
            return [("rez", [REZ_PIN])]
        return [
            ("rez", [REZ_PIN, *STUDIO_LIBS, "-e", str(self.editable_src)]),
            (ISOLATED_NAME, [ISOLATED_PIN, REZ_PIN]),
        ]

    # -- setup -------------------------------------------------------------------------------

    def machine(self) -> list[tuple[str, str]]:
        cpu = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as stream:
                for line in stream:
                    if line.lower().startswith(("model name", "hardware", "cpu model")):
                        cpu = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        cores = str(os.cpu_count() or "?")
        if hasattr(os, "sched_getaffinity"):
            usable = len(os.sched_getaffinity(0))
            if str(usable) != cores:
                cores += f" ({usable} usable)"
        memory = "?"
        try:
            with open("/proc/meminfo", encoding="utf-8") as stream:
                for line in stream:
                    if line.startswith("MemTotal:"):
                        memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                        break
        except OSError:
            try:
                pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
                memory = f"{pages / 1024 ** 3:.1f} GiB"
            except (ValueError, OSError, AttributeError):
                pass
        env = self.base_env(self.misc_home)
        uv_version = quiet_run([self.uv, "--version"], env, self.tmp).stdout.strip()
        rezup_version = quiet_run([str(self.rezup), "--version"], env, self.tmp)
        rezup_python = quiet_run([str(self.rezup_python), "-c",
                                  "import sys; print(sys.version.split()[0])"], env, self.tmp)
        return [
            ("CPU", cpu),
            ("cores", cores),
            ("memory", memory),
            ("OS", platform.platform()),
            ("Python (harness)", f"{platform.python_version()} ({sys.executable})"),
            ("Python (rezup)", f"{rezup_python.stdout.strip()} ({self.rezup_python})"),
            ("uv", f"{uv_version or '?'} ({self.uv})"),
            ("rezup", f"{(rezup_version.stdout or rezup_version.stderr).strip()} "
                      f"({self.rezup})"),
            ("temp folder", str(self.tmp)),
            ("environment", "each run: fresh HOME, no REZUP_*/VIRTUAL_ENV/XDG_*/PYTHON*"
                            " variables, bytecode writing on"),
            ("max RSS", "GNU time %M of each command, max over a case's commands (largest "
                        "single process; times include its ~1 ms)" if self.gnu_time else
                        "getrusage(RUSAGE_CHILDREN).ru_maxrss in a fresh wrapper per run "
                        "(largest single process; floor: the wrapper's own size)"),
        ]

    def ensure(self, need: str) -> None:
        """Set up ``need`` once; on failure remember why (cases needing it are blocked)."""
        if need in self.setup_done or need in self.setup_errors:
            if need in self.setup_errors:
                raise Blocked(self.setup_errors[need])
            return
        started = time.monotonic()
        try:
            {
                "python": self._setup_python,
                "orig": self._setup_orig,
                "use": self._setup_use,
                "use-orig": self._setup_use_orig,
                "remote": self._setup_remote,
            }[need]()
        except Blocked as exc:
            self.setup_errors[need] = str(exc)
            log(f"  setup {need}: FAILED: {exc}")
            raise
        self.setup_done.add(need)
        log(f"  setup {need}: done ({time.monotonic() - started:.1f}s)")

    def _setup_python(self) -> None:
        """The interpreter rezup builds with, read from the plan of ``rezup add --dry-run``."""
        home = self.make_home(self.tmp / "setup" / "python-home", self.recipes["minimal"])
        env = self.cache_env(self.base_env(home), True, home)
        env["REZUP_ROOT_LOCAL"] = str(self.tmp / "setup" / "python-root")
        done = quiet_run([str(self.rezup), "add", "--dry-run"], env, home)
        match = re.search(r'^python = (".*")$', done.stdout, re.MULTILINE)
        if done.returncode != 0 or not match:
            raise Blocked("`rezup add --dry-run` gave no plan: "
                          + self.short(last_words(done.stderr or done.stdout)))
        self.python = json.loads(match.group(1))

    def _setup_orig(self) -> None:
        self.ensure("python")
        venv = self.tmp / "orig-venv"
        env = self.cache_env(self.base_env(self.misc_home), True, self.misc_home)
        steps = [
            [self.uv, "venv", "--quiet", "--no-project", "--python", str(self.python), str(venv)],
            [self.uv, "pip", "install", "--quiet", "--python", str(venv_python(venv)),
             *ORIG_REQUIREMENTS],
        ]
        for step in steps:
            done = quiet_run(step, env, self.tmp)
            if done.returncode != 0:
                raise Blocked(f"cannot install {' '.join(ORIG_REQUIREMENTS)}: "
                              + self.short(last_words(done.stderr)))
        rezup = bin_dir(venv) / ("rezup.exe" if IS_WINDOWS else "rezup")
        env["REZUP_NO_UPGRADE"] = "1"
        add_help = quiet_run([str(rezup), "add", "--help"], env, self.tmp)
        use_help = quiet_run([str(rezup), "use", "--help"], env, self.tmp)
        if "--skip-use" not in add_help.stdout:
            raise Blocked("the original `rezup add` has no --skip-use: "
                          + last_words(add_help.stdout + add_help.stderr))
        if not re.search(r"\[-- |\s-- [\[{A-Za-z]", use_help.stdout):
            raise Blocked("the original `rezup use` takes no `-- command`")
        version = quiet_run([str(rezup), "--version"], env, self.tmp)
        self.orig_version = self.short(version.stdout.strip() or version.stderr.strip())
        self.orig_rezup = rezup
        log(f"  original tool: {' + '.join(ORIG_REQUIREMENTS)}: {self.orig_version}")

    def _rezup_add(self, home: Path, root: Path, *extra: str,
                   env_extra: Optional[dict[str, str]] = None) -> None:
        env = self.cache_env(self.base_env(home), True, home)
        env["REZUP_ROOT_LOCAL"] = str(root)
        env.update(env_extra or {})
        done = quiet_run([str(self.rezup), "add", "--skip-use", *extra], env, home)
        if done.returncode != 0:
            raise Blocked(f"`rezup add --skip-use {' '.join(extra)}` failed: "
                          + self.short(last_words(done.stderr or done.stdout)))

    def _setup_use(self) -> None:
        """Three containers of the minimal recipe, with 1, 100 and 1,000 revisions."""
        self.ensure("python")
        self.make_home(self.use_home, self.recipes["minimal"])
        for count in FAKE_REVISION_COUNTS:
            root = self.tmp / "use" / f"root-{count}"
            self._rezup_add(self.use_home, root)
            newest = self._newest_revision(root / ".main")
            if count > 1:
                self._add_fake_revisions(newest, count - 1)
            self.use_roots[count] = root
            if count == 1:
                self.use_python = str(venv_python(newest / "venv" / "rez"))
        # Check, through the CLI, that the real revision is the one entered in each container.
        for count, root in self.use_roots.items():
            env = self.base_env(self.use_home)
            env["REZUP_ROOT_LOCAL"] = str(root)
            newest = self._newest_revision(root / ".main")
            done = quiet_run(
                [str(self.rezup), "use", "--", str(self.use_python), "-c",
                 "import os; print(os.environ.get('REZUP_REVISION', ''))"],
                env, self.use_home,
            )
            entered = done.stdout.strip()
            if done.returncode != 0:
                raise Blocked(f"`rezup use` failed with {count} revisions: "
                              + self.short(last_words(done.stderr)))
            if entered and entered != newest.name:
                raise Blocked(f"with {count} revisions rezup entered {entered}, "
                              f"not the newest real revision {newest.name}")
        log(f"  use: containers with {', '.join(map(str, FAKE_REVISION_COUNTS))} revisions; "
            f"PY = {self.short(str(self.use_python))}")

    def _newest_revision(self, container: Path) -> Path:
        revisions = container / "revisions"
        stamped = []
        for entry in revisions.iterdir() if revisions.is_dir() else ():
            try:
                stamped.append((float(entry.name), entry))
            except ValueError:
                continue
        ready = [item for item in stamped if (item[1] / "revision.json").is_file()]
        if not ready:
            raise Blocked(f"no ready revision in {self.short(str(container))}")
        return max(ready)[1]

    def _add_fake_revisions(self, real: Path, count: int) -> None:
        """``count`` older revisions that look ready: a rezup.toml and a revision.json each."""
        metadata = json.loads((real / "revision.json").read_text(encoding="utf-8"))
        recipe = (real / "rezup.toml").read_text(encoding="utf-8")
        oldest = float(real.name) - 86400.0
        for index in range(count):
            stamp = oldest - index * 61.0
            folder = real.parent / f"{stamp:.6f}"
            folder.mkdir()
            (folder / "rezup.toml").write_text(recipe, encoding="utf-8")
            fake = dict(metadata, revision_path=str(folder), created=stamp, bench_fake=True)
            (folder / "revision.json").write_text(json.dumps(fake, indent=2), encoding="utf-8")

    def _setup_use_orig(self) -> None:
        self.ensure("orig")
        self.ensure("use")
        env = self.cache_env(self.base_env(self.use_home), True, self.use_home)
        env["REZUP_ROOT_LOCAL"] = str(self.orig_use_root)
        done = quiet_run([str(self.orig_rezup), "add", "--skip-use"], env, self.use_home)
        if done.returncode != 0:
            raise Blocked("the original `rezup add --skip-use` failed: "
                          + self.short(last_words(done.stderr or done.stdout)))

    def _setup_remote(self) -> None:
        self.ensure("python")
        home = self.make_home(self.tmp / "pull" / "publisher-home", self.recipes["minimal"])
        self._rezup_add(home, self.tmp / "pull" / "publisher-local", "--remote",
                        env_extra={"REZUP_ROOT_REMOTE": str(self.remote_root)})
        self._newest_revision(self.remote_root / ".main")

    # -- cases -------------------------------------------------------------------------------

    def all_cases(self) -> list[Case]:
        args = self.args
        cases: list[Case] = []
        use_runs, rounds = args.use_runs, args.rounds

        def use_case(label: str, build, needs: tuple[str, ...]) -> Case:
            return Case(f"use/{label}", "use", label, use_runs, build, needs, warmup=True,
                        reuse_run_dir=True)

        cases.append(use_case("python", self._build_use_python, ("use",)))
        for count in FAKE_REVISION_COUNTS:
            cases.append(use_case(f"rezup-{count}", self._build_use_rezup(count), ("use",)))
        cases.append(use_case("orig", self._build_use_orig, ("use", "use-orig")))

        cases.append(Case("pull/pull", "pull", "pull", rounds, self._build_pull,
                          ("python", "remote"), warmup=True))
        cases.append(Case("pull/add", "pull", "add", rounds, self._build_add("minimal", True),
                          ("python",), warmup=True))

        for recipe in ("minimal", "studio"):
            for cache in ("warm", "cold"):
                group = f"add-{recipe}-{cache}"
                warm = cache == "warm"
                cases.append(Case(f"{group}/rezup", group, "rezup", rounds,
                                  self._build_add(recipe, warm), ("python",), warmup=warm))
                cases.append(Case(f"{group}/uv", group, "uv", rounds,
                                  self._build_floor(recipe, warm), ("python",), warmup=warm))
                cases.append(Case(f"{group}/orig", group, "orig", rounds,
                                  self._build_orig_add(recipe, warm), ("python", "orig"),
                                  warmup=warm))
        return cases

    def _build_add(self, recipe: str, warm: bool):
        def build(run_dir: Path):
            home = self.make_home(run_dir / "home", self.recipes[recipe])
            env = self.cache_env(self.base_env(home), warm, run_dir)
            env["REZUP_ROOT_LOCAL"] = str(run_dir / "root")
            return [[[str(self.rezup), "add", "--skip-use"]]], env
        return build

    def _build_floor(self, recipe: str, warm: bool):
        def build(run_dir: Path):
            home = self.make_home(run_dir / "home", self.recipes[recipe])
            env = self.cache_env(self.base_env(home), warm, run_dir)
            lanes = []
            for name, requirements in self.floor_venvs(recipe):
                venv = run_dir / "root" / "venv" / name
                lanes.append([
                    [self.uv, "venv", "--seed", "--python", str(self.python), str(venv)],
                    [self.uv, "pip", "install", "--compile-bytecode",
                     "--python", str(venv_python(venv)), *requirements],
                ])
            return lanes, env
        return build

    def _build_orig_add(self, recipe: str, warm: bool):
        def build(run_dir: Path):
            home = self.make_home(run_dir / "home", self.recipes[recipe])
            env = self.cache_env(self.base_env(home), warm, run_dir)
            env["REZUP_ROOT_LOCAL"] = str(run_dir / "root")
            return [[[str(self.orig_rezup), "add", "--skip-use"]]], env
        return build

    def _use_command(self) -> list[str]:
        return [str(self.use_python), "-c", "pass"]

    def _build_use_python(self, _run_dir: Path):
        env = self.base_env(self.use_home)
        env["REZUP_ROOT_LOCAL"] = str(self.use_roots[1])
        return [[self._use_command()]], env

    def _build_use_rezup(self, count: int):
        def build(_run_dir: Path):
            env = self.base_env(self.use_home)
            env["REZUP_ROOT_LOCAL"] = str(self.use_roots[count])
            return [[[str(self.rezup), "use", "--", *self._use_command()]]], env
        return build

    def _build_use_orig(self, _run_dir: Path):
        env = self.base_env(self.use_home)
        env["REZUP_ROOT_LOCAL"] = str(self.orig_use_root)
        return [[[str(self.orig_rezup), "use", "--", *self._use_command()]]], env

    def _build_pull(self, run_dir: Path):
        home = self.make_home(run_dir / "home", self.recipes["minimal"])
        env = self.cache_env(self.base_env(home), True, run_dir)
        env["REZUP_ROOT_LOCAL"] = str(run_dir / "root")
        env["REZUP_ROOT_REMOTE"] = str(self.remote_root)
        return [[[str(self.rezup), "use", "--", str(self.python), "-c", "pass"]]], env

    # -- running -----------------------------------------------------------------------------

    def measure(self, case: Case) -> Outcome:
        self.run_counter += 1
        safe = case.id.replace("/", "_")
        if case.reuse_run_dir:
            run_dir = self._dir(f"runs/{safe}")
        else:
            run_dir = self._dir(f"runs/{safe}-{self.run_counter}")
        logs = self._dir("logs")
        stdout = logs / f"{self.run_counter:04d}-{safe}.out"
        stderr = logs / f"{self.run_counter:04d}-{safe}.err"
        work = run_dir / "work"
        work.mkdir(parents=True, exist_ok=True)
        try:
            lanes, env = case.build(run_dir)
            spec = {"lanes": lanes, "cwd": str(work), "stdout": str(stdout),
                    "stderr": str(stderr), "gnu_time": self.gnu_time}
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(self.wrapper), json.dumps(spec)],
                env=env, cwd=str(work), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL, text=True, start_new_session=not IS_WINDOWS,
            )
            try:
                out, err = process.communicate(timeout=self.args.timeout)
            except subprocess.TimeoutExpired:
                self._kill(process)
                return Outcome(None, error=f"timed out after {self.args.timeout:.0f}s",
                               command=lanes[0][0])
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
                reason = f"exit {data['code']}: {self.short(last_words(text))}"
                return Outcome(None, data["rss_kb"], reason, data["command"])
            return Outcome(data["seconds"], data["rss_kb"])
        finally:
            if not self.keep and not case.reuse_run_dir:
                remove_tree(run_dir)
            if not self.keep:
                for path in (stdout, stderr):
                    if path.exists() and path.stat().st_size == 0:
                        path.unlink()

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

    def prepare(self, cases: list[Case]) -> None:
        for case in cases:
            if case.blocked:
                continue
            try:
                for need in case.needs:
                    self.ensure(need)
            except Blocked as exc:
                case.blocked = f"setup failed: {exc}"
        for case in cases:
            if case.blocked or not case.warmup:
                continue
            outcome = self.measure(case)
            if outcome.error:
                case.warmup_error = outcome.error
                case.failed = 1
                log(f"  warm-up {case.id}: FAILED: {outcome.error}")
            else:
                case.worked = True
                if self.args.verbose:
                    log(f"  warm-up {case.id}: {outcome.seconds:.3f}s")
        if self.args.importtime and any(c.group == "use" and not c.blocked for c in cases):
            self.importtime_report()

    def schedule(self, cases: list[Case]) -> None:
        total = max(case.runs for case in cases)
        started = time.monotonic()
        for index in range(total):
            round_started = time.monotonic()
            ran = Counter()
            for case in cases:
                if case.blocked or case.stopped:
                    continue
                # spread a case's runs evenly over all rounds
                if (index + 1) * case.runs // total == index * case.runs // total:
                    continue
                outcome = self.measure(case)
                case.outcomes.append(outcome)
                ran[case.group.split("-")[0]] += 1
                if outcome.error:
                    case.failed += 1
                    if not case.worked and case.failed >= STOP_AFTER_FAILURES:
                        case.stopped = True
                        log(f"  {case.id}: failed {case.failed} times and never worked, "
                            f"not run again: {outcome.error}")
                else:
                    case.worked = True
                if self.args.verbose:
                    shown = f"{outcome.seconds:.3f}s" if outcome.error is None \
                        else f"FAILED ({outcome.error})"
                    log(f"    {case.id}: {shown}, {outcome.rss_kb / 1024:.0f} MB")
            what = ", ".join(f"{n} {kind}" for kind, n in ran.items()) or "nothing"
            log(f"round {index + 1}/{total}: {what} ({time.monotonic() - round_started:.1f}s, "
                f"{time.monotonic() - started:.0f}s in all)")

    def importtime_report(self) -> None:
        """Which imports ``rezup use`` spends its start-up on (``python -X importtime``)."""
        env = self.base_env(self.use_home)
        env["REZUP_ROOT_LOCAL"] = str(self.use_roots[1])
        done = quiet_run([str(self.rezup_python), "-X", "importtime", str(self.rezup), "use",
                          "--", *self._use_command()], env, self.use_home)
        rows = []
        for line in done.stderr.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[0].startswith("import time:"):
                try:
                    rows.append((int(parts[1]), int(parts[0].split(":")[1]), parts[2].rstrip()))
                except ValueError:
                    continue
        top = [r for r in rows if not r[2].startswith("  ")]
        log("  import time of `rezup use` (cumulative, top level, microseconds):")
        for cumulative, own, name in sorted(top, reverse=True)[:12]:
            log(f"    {cumulative:>8} {own:>8}  {name.strip()}")


# --------------------------------------------------------------------------------------------
# Selection


def select(cases: list[Case], only: Optional[str]) -> list[Case]:
    if not only:
        return cases
    tokens = [t.strip() for t in only.split(",") if t.strip()]
    chosen = []
    for case in cases:
        for token in tokens:
            if (case.id == token or case.group == token
                    or case.id.startswith((token + "-", token + "/"))
                    or fnmatch.fnmatch(case.id, token)):
                chosen.append(case)
                break
    unknown = [t for t in tokens if not any(
        c.id == t or c.group == t or c.id.startswith((t + "-", t + "/"))
        or fnmatch.fnmatch(c.id, t) for c in cases)]
    if unknown:
        raise SystemExit(f"bench: --only: no case matches {', '.join(unknown)} "
                         "(see --list)")
    if any(c.group == "use" for c in chosen) and not any(c.id == "use/python" for c in chosen):
        chosen.insert(0, next(c for c in cases if c.id == "use/python"))
    return chosen


# --------------------------------------------------------------------------------------------
# Reporting


@dataclass
class Row:
    case: Case
    label: str
    runs: str
    median: str
    span: str
    rss: str
    compare: str


def group_rows(bench: Bench, group: str, cases: list[Case]) -> tuple[str, list[Row]]:
    unit = "ms" if group == "use" else "s"
    by_label = {c.label: c for c in cases}
    reference = {"use": "python", "pull": "add"}.get(group, "rezup")
    ref_median = by_label[reference].median() if reference in by_label else None
    rows = []
    for case in cases:
        times = case.times()
        failures = case.failures()
        runs = f"{len(times)}" + (f" ({len(failures)} failed)" if failures else "")
        rss_values = [o.rss_kb for o in case.outcomes if o.rss_kb]
        rss = f"{max(rss_values) / 1024:.0f} MB" if rss_values else "-"
        median = case.median()
        if median is None:
            reason = case.failure_summary() or case.warmup_error
            rows.append(Row(case, LABELS.get(case.label, case.label), runs,
                            f"failed: {reason}" if reason else "not run", "", rss, ""))
            continue
        span = f"{fmt_seconds(min(times), unit)}-{fmt_seconds(max(times), unit)}"
        compare = ""
        if ref_median:
            if group == "use":
                if case.label != reference:
                    compare = f"{(median - ref_median) * 1000:+.1f} ms vs python"
            else:
                compare = f"{median / ref_median:.2f}x {reference}"
        rows.append(Row(case, LABELS.get(case.label, case.label), runs,
                        f"{fmt_seconds(median, unit)} {unit}", f"{span} {unit}", rss, compare))
    return unit, rows


def goals(cases: list[Case]) -> list[tuple[str, str, Optional[bool]]]:
    """(goal, measured, passed or None when it cannot be judged)."""
    by_id = {c.id: c for c in cases}

    def med(case_id: str) -> Optional[float]:
        case = by_id.get(case_id)
        return case.median() if case else None

    results: list[tuple[str, str, Optional[bool]]] = []
    new, orig, floor = (med("add-minimal-warm/rezup"), med("add-minimal-warm/orig"),
                        med("add-minimal-warm/uv"))
    if new and orig:
        results.append((f"add minimal warm >= {GOAL_ADD_VS_ORIG:g}x faster than the original",
                        f"{orig / new:.2f}x faster", orig / new >= GOAL_ADD_VS_ORIG))
    else:
        results.append((f"add minimal warm >= {GOAL_ADD_VS_ORIG:g}x faster than the original",
                        "n/a", None))
    if new and floor:
        results.append((f"add minimal warm <= {GOAL_ADD_VS_FLOOR:g}x the bare-uv floor",
                        f"{new / floor:.2f}x", new / floor <= GOAL_ADD_VS_FLOOR))
    else:
        results.append((f"add minimal warm <= {GOAL_ADD_VS_FLOOR:g}x the bare-uv floor",
                        "n/a", None))
    python = med("use/python")
    one = med("use/rezup-1")
    if python is not None and one is not None:
        overhead = (one - python) * 1000
        results.append((f"use overhead <= {GOAL_USE_OVERHEAD_MS:g} ms over bare python",
                        f"{overhead:+.1f} ms", overhead <= GOAL_USE_OVERHEAD_MS))
    else:
        results.append((f"use overhead <= {GOAL_USE_OVERHEAD_MS:g} ms over bare python",
                        "n/a", None))
    many = [(n, med(f"use/rezup-{n}")) for n in FAKE_REVISION_COUNTS]
    if one is not None and all(m is not None for _, m in many):
        deltas = [((m or 0.0) - one) * 1000 for _, m in many[1:]]
        measured = ", ".join(f"{n}: {d:+.1f} ms" for (n, _), d in zip(many[1:], deltas))
        results.append((f"use flat (+-{GOAL_USE_FLAT_MS:g} ms) from 1 to 1,000 revisions",
                        measured, all(abs(d) <= GOAL_USE_FLAT_MS for d in deltas)))
    else:
        results.append((f"use flat (+-{GOAL_USE_FLAT_MS:g} ms) from 1 to 1,000 revisions",
                        "n/a", None))
    pull, add = med("pull/pull"), med("pull/add")
    if pull and add:
        results.append((f"pull <= {GOAL_PULL_VS_ADD:g}x a local add", f"{pull / add:.2f}x",
                        pull / add <= GOAL_PULL_VS_ADD))
    else:
        results.append((f"pull <= {GOAL_PULL_VS_ADD:g}x a local add", "n/a", None))
    return results


def verdict(passed: Optional[bool]) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a"}[passed]


def groups_in_order(cases: list[Case]) -> list[tuple[str, list[Case]]]:
    order: dict[str, list[Case]] = {}
    for case in cases:
        order.setdefault(case.group, []).append(case)
    return list(order.items())


def text_report(bench: Bench, cases: list[Case]) -> str:
    lines = [""]
    for group, members in groups_in_order(cases):
        unit, rows = group_rows(bench, group, members)
        lines.append(f"== {GROUP_TITLES.get(group, group)}")
        table = [("", "runs", f"median ({unit})", f"min-max ({unit})", "max RSS", "compared")]
        for row in rows:
            if not row.span:
                table.append((row.label, row.runs, row.median, "", row.rss, ""))
            else:
                table.append((row.label, row.runs, row.median.split()[0],
                              row.span.rsplit(" ", 1)[0], row.rss, row.compare))
        plain = [r for r, row in zip(table, [None, *rows]) if row is None or row.span]
        widths = [max(len(r[i]) for r in (plain if i >= 2 else table)) for i in range(6)]
        for row, source in zip(table, [None, *rows]):
            if source is not None and not source.span:
                lines.append(f"  {row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]}")
            else:
                lines.append("  " + "  ".join(
                    f"{cell:<{widths[i]}}" if i in (0, 5) else f"{cell:>{widths[i]}}"
                    for i, cell in enumerate(row)).rstrip())
        lines.append("")
    lines.append("== goals (medians of this interleaved run)")
    for goal, measured, passed in goals(cases):
        lines.append(f"  {verdict(passed):<4}  {goal}: {measured}")
    failures = [c for c in cases if c.failures() or c.blocked or c.warmup_error]
    if failures:
        lines += ["", "== failures"]
        for case in failures:
            if case.blocked:
                lines.append(f"  {case.id}: {case.blocked}")
                continue
            errors = Counter(o.error for o in case.failures())
            if case.warmup_error and not errors:
                errors[case.warmup_error] += 0
            first = next((o for o in case.failures() if o.command), None)
            command = bench.short(subprocess.list2cmdline(first.command)) if first else ""
            runs = len(case.outcomes)
            lines.append(f"  {case.id}: {sum(errors.values())}/{runs} timed runs failed"
                         + (" (and the warm-up)" if case.warmup_error else "")
                         + (f"; command: {command}" if command else ""))
            for error, count in errors.most_common():
                lines.append(f"      {count}x {error}")
    return "\n".join(lines) + "\n"


def markdown_report(bench: Bench, cases: list[Case], machine: list[tuple[str, str]],
                    settings: str) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["## rezup benchmark", "", settings, "", "| Machine | |", "|---|---|"]
    lines += [f"| {cell(k)} | {cell(v)} |" for k, v in machine if k != "temp folder"]
    if bench.orig_version:
        lines.append(f"| original tool | {cell(' + '.join(ORIG_REQUIREMENTS))}: "
                     f"{cell(bench.orig_version)} |")
    lines += ["", "| Scenario | Tool | Runs | Median | Min-max | Max RSS | Compared |",
              "|---|---|---:|---:|---:|---:|---|"]
    for group, members in groups_in_order(cases):
        _, rows = group_rows(bench, group, members)
        for row in rows:
            lines.append("| " + " | ".join(cell(x) for x in (
                GROUP_SHORT.get(group, group), row.label, row.runs, row.median, row.span,
                row.rss, row.compare)) + " |")
    lines += ["", "| Goal | Measured | Result |", "|---|---|---|"]
    for goal, measured, passed in goals(cases):
        lines.append(f"| {cell(goal)} | {cell(measured)} | {verdict(passed)} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark rezup against bare uv and the original rezup, interleaved.",
    )
    parser.add_argument("--quick", action="store_true",
                        help=f"short run: {QUICK_ROUNDS} rounds of add/pull, "
                             f"{QUICK_USE_RUNS} runs of use")
    parser.add_argument("--rounds", type=int,
                        help=f"runs of each add and pull case (default {DEFAULT_ROUNDS}, "
                             f"{QUICK_ROUNDS} with --quick)")
    parser.add_argument("--use-runs", type=int,
                        help=f"runs of each use case (default {DEFAULT_USE_RUNS}, "
                             f"{QUICK_USE_RUNS} with --quick)")
    parser.add_argument("--only", metavar="NAME,...",
                        help="cases to run: ids, groups or prefixes (add, add-minimal, "
                             "add-studio-cold, use, pull, add-*/orig ...); see --list")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--markdown", metavar="FILE", help="also write the results as Markdown")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (revisions, caches, logs)")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds before one run is killed (default 900)")
    parser.add_argument("--rezup", metavar="PATH",
                        help="the rezup command to measure (default: the repo's .venv)")
    parser.add_argument("--importtime", action="store_true",
                        help="also show the slowest imports of `rezup use` (python -X importtime)")
    parser.add_argument("--rusage", action="store_true",
                        help="measure max RSS with getrusage in the wrapper, not GNU time")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every run")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS
    if args.use_runs is None:
        args.use_runs = QUICK_USE_RUNS if args.quick else DEFAULT_USE_RUNS
    if args.rounds < 1 or args.use_runs < 1:
        parser.error("--rounds and --use-runs must be at least 1")
    return args


def describe_case(bench: Bench, case: Case) -> str:
    try:
        bench.python = bench.python or "PYTHON"
        bench.use_python = bench.use_python or "PY"
        bench.orig_rezup = bench.orig_rezup or Path("ORIG/bin/rezup")
        bench.use_roots = bench.use_roots or {n: Path(f"ROOT-{n}") for n in FAKE_REVISION_COUNTS}
        lanes, _ = case.build(bench.tmp / "RUN")
    except Exception as exc:  # only a listing
        return f"({exc})"
    return " & ".join(" && ".join(bench.short(subprocess.list2cmdline(c)) for c in lane)
                      for lane in lanes).replace("$TMP/RUN", "$RUN")


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    bench = Bench(args)
    try:
        cases = select(bench.all_cases(), args.only)
        if args.list:
            for case in cases:
                print(f"{case.id:<26} x{case.runs:<3} {describe_case(bench, case)}")
            return 0
        mode = "quick" if args.quick else "full"
        settings = (f"Run: {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}, {mode}, "
                    f"{args.rounds} runs per add/pull case, {args.use_runs} per use case, "
                    "interleaved")
        machine = bench.machine()
        header_lines = ["rezup benchmark", settings]
        header_lines += [f"  {key:<17} {value}" for key, value in machine]
        header = "\n".join(header_lines)
        print(header, flush=True)
        log("setting up (untimed)...")
        started = time.monotonic()
        interrupted = False
        try:
            bench.prepare(cases)
            log(f"running {len(cases)} cases interleaved...")
            bench.schedule(cases)
        except KeyboardInterrupt:
            interrupted = True
            log("interrupted: reporting what was measured so far")
        log(f"done in {time.monotonic() - started:.0f}s")
        if bench.orig_version:
            print(f"  {'original tool':<17} {' + '.join(ORIG_REQUIREMENTS)}: "
                  f"{bench.orig_version}")
        print(text_report(bench, cases), end="")
        if args.markdown:
            Path(args.markdown).write_text(markdown_report(bench, cases, machine, settings),
                                           encoding="utf-8")
            print(f"Markdown written to {args.markdown}")
        if bench.keep:
            print(f"kept: {bench.tmp}")
        return 130 if interrupted else 0
    finally:
        if not bench.keep:
            remove_tree(bench.tmp)


if __name__ == "__main__":
    sys.exit(main())
