#!/usr/bin/env python3
"""What checking the plan's hashes costs a uv install, and what ``uv venv --seed`` costs.

Run from the repository (standard library only, Python 3.9+; 3.11+ reads the lock with
``tomllib``, older ones with a small fallback)::

    uv run python scripts/hash_cost.py                       # every case, 5 rounds
    uv run python scripts/hash_cost.py --rounds 3 --sizes 1,10 --cases warm,wheelhouse
    uv run python scripts/hash_cost.py --no-compile-bytecode --markdown hash_cost.md

Every install is ``uv pip install --no-deps --compile-bytecode --python VENV -r FILE`` (as a
rezup build runs it; ``--no-compile-bytecode`` leaves the compile out, so that the part hashes
could change is not drowned in compile time) into a fresh venv made by ``uv venv`` without
``--seed`` (not timed). FILE holds the pins of 1, 10 or 40 popular packages with cp311
manylinux wheels, compiled once with ``uv pip compile --generate-hashes``, in three forms:

* ``hashed``: each pin with every ``--hash`` of its release on one line, as a rezup plan has it;
* ``plain``: the same pins without hashes;
* ``no-verify``: the hashed file installed with ``--no-verify-hashes``.

Cases (``--cases``):

* ``warm``: the user's uv cache (as rezup uses it), warmed by one untimed run of each variant;
  also ``hashed``/``plain`` with ``--offline`` (no index revalidation at all).
* ``add``: a local ``rezup add``: ``uv pip compile`` of the package names (with or without
  ``--generate-hashes``) then at once the install of its output; both steps timed.
* ``pull``: a pull months later: the install of hashed pins whose wheels came into the cache
  from a plain install. Each run gets its own copy (hard links) of a cache that one plain
  install filled; the copy's source is checked to be untouched at the end.
* ``wheelhouse``: an offline pull from a folder of wheels (``--no-index --find-links DIR``),
  each run with its own empty cache: a first install then a second one into another fresh
  venv, for hashed/hashed, plain/plain, no-verify/no-verify, plain then hashed, and hashed
  then hashed from a second folder holding the same wheels (the next revision's wheelhouse).
* ``cold``: an empty cache per run (downloads everything), at ``--cold-size`` packages.
* ``venv``: ``uv venv`` with and without ``--seed``, online and ``--offline`` (user's cache).

Runs are interleaved: each round runs every (case, variant, size) once, in a shuffled order
(the same seed gives the same order), so load from other processes hits every variant alike.
Medians and min-max are reported, of the wall time and of the CPU time of uv and its children
(the bytecode compilers): with other work on the machine, wall-time differences below the
min-max spread are noise, and CPU time shows work done whatever the load. Each install's uv
summary is read for ``Prepared N packages``: the count of wheels uv had to download or unzip
(0: everything came from its cache as it was). A run more than 3 s slower than its cell's
median is counted as a stall (``sK``): a TCP connect to the index held for 5 s (seen on this
kind of machine when several connections open at once), or a burst of load from elsewhere.

Everything lives in one temporary folder, removed at the end (after all runs, since removing
folders right before a run slows it down) unless ``--keep``. Private caches (pull, wheelhouse,
cold) are in that folder; only ``warm``, ``add`` and ``venv`` use the user's cache.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

# The 40 packages: the (requests, numpy, pandas, cryptography, lxml, pillow,
# pydantic, ...) and what they pull in, all with cp311 manylinux or pure wheels. The first 10
# and the first 1 are closed under their dependencies, so each size installs with --no-deps.
PACKAGES_1 = ("numpy",)
PACKAGES_10 = (
    *PACKAGES_1,
    "requests",
    "certifi",
    "charset-normalizer",
    "idna",
    "urllib3",
    "six",
    "python-dateutil",
    "packaging",
    "pyyaml",
)
PACKAGES_40 = (
    *PACKAGES_10,
    "pandas",
    "tzdata",
    "cryptography",
    "cffi",
    "pycparser",
    "lxml",
    "pillow",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-extensions",
    "typing-inspection",
    "jinja2",
    "markupsafe",
    "click",
    "attrs",
    "psutil",
    "rich",
    "markdown-it-py",
    "mdurl",
    "pygments",
    "sqlalchemy",
    "msgpack",
    "tqdm",
    "wrapt",
    "scipy",
    "pytz",
    "pyparsing",
    "decorator",
    "platformdirs",
)
PACKAGE_SETS = {1: PACKAGES_1, 10: PACKAGES_10, 40: PACKAGES_40}

# (name, first install, second install, second from another folder with the same wheels)
WHEELHOUSE_VARIANTS = (
    ("hashed", "hashed", "hashed", False),
    ("plain", "plain", "plain", False),
    ("no-verify", "no-verify", "no-verify", False),
    ("plain, then hashed", "plain", "hashed", False),
    ("hashed, then hashed from a copy", "hashed", "hashed", True),
)
ALL_CASES = ("warm", "add", "pull", "wheelhouse", "cold", "venv")
STALL_SECONDS = 3.0  # a run this much slower than its cell's median counts as a stall
PREPARED_RE = re.compile(r"Prepared (\d+) packages?")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class SetupError(Exception):
    """Something the measurement needs could not be made."""


# --------------------------------------------------------------------------------------------
# Running uv


@dataclass
class Outcome:
    seconds: float  # wall time
    prepared: int  # wheels uv downloaded or unzipped ("Prepared N packages"), 0 if none
    cpu: float = 0.0  # user + system time of uv and its children (bytecode compilers)


def children_cpu() -> float:
    """CPU seconds used so far by this process's waited-for children (0 where unknown)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Uv:
    """Runs the uv binary with a clean environment (no venv of the caller leaks in)."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.base_env = {
            key: value
            for key, value in os.environ.items()
            if key
            not in (
                "VIRTUAL_ENV",
                "CONDA_PREFIX",
                "UV_PROJECT_ENVIRONMENT",
                "PYTHONHOME",
                "PYTHONPATH",
            )
        }

    def env(self, cache: Optional[Path]) -> dict[str, str]:
        env = dict(self.base_env)
        if cache is not None:
            env["UV_CACHE_DIR"] = str(cache)
        return env

    def run(
        self, args: Sequence[str], *, cache: Optional[Path] = None, input_text: Optional[str] = None
    ) -> tuple[Outcome, str]:
        """Run ``uv ARGS``, timed; return the outcome and its stdout. Failure raises."""
        cpu_before = children_cpu()
        started = time.perf_counter()
        done = subprocess.run(
            [self.binary, *args],
            cwd=self.workdir,
            env=self.env(cache),
            input=input_text,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        cpu = children_cpu() - cpu_before
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise SetupError(f"`uv {' '.join(args[:3])} ...` failed: " + " | ".join(last))
        match = PREPARED_RE.search(done.stderr)
        return Outcome(seconds, int(match.group(1)) if match else 0, cpu), done.stdout

    def venv(self, path: Path, python: str, *extra: str, cache: Optional[Path] = None) -> Outcome:
        return self.run(
            [
                "venv",
                "--no-project",
                "--quiet",
                "--no-python-downloads",
                "--python",
                python,
                *extra,
                str(path),
            ],
            cache=cache,
        )[0]


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


# --------------------------------------------------------------------------------------------
# Pins and wheelhouses


@dataclass
class Pins:
    """The requirement files of one size."""

    size: int
    names: tuple[str, ...]
    hashed: Path  # rezup's form: "name==1.0 --hash=sha256:A --hash=sha256:B" per line
    plain: Path
    hash_lines: int


def parse_hashed(text: str) -> dict[str, str]:
    """``uv pip compile --generate-hashes`` output as {canonical name: one-line requirement}."""
    joined = re.sub(r"\s*\\\n\s*", " ", text)
    lines = {}
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name = re.split(r"[=<>!~ ;\[]", line, maxsplit=1)[0]
        lines[canonical(name)] = line
    return lines


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def make_pins(uv: Uv, python: str, folder: Path, sizes: Iterable[int]) -> dict[int, Pins]:
    """Pin the 40 packages once (with hashes); each size takes its subset of those pins."""
    _, out = uv.run(
        [
            "pip",
            "compile",
            "-",
            "--quiet",
            "--no-header",
            "--no-annotate",
            "--generate-hashes",
            "--no-python-downloads",
            "--python",
            python,
        ],
        input_text="\n".join(PACKAGES_40) + "\n",
    )
    lines = parse_hashed(out)
    missing = [name for name in PACKAGES_40 if canonical(name) not in lines]
    extra = sorted(set(lines) - {canonical(name) for name in PACKAGES_40})
    if missing:
        raise SetupError(f"the resolve left out {', '.join(missing)}")
    if extra:
        log(
            f"note: the 40 packages now also need {', '.join(extra)}; installed --no-deps "
            "without them"
        )
    folder.mkdir(parents=True, exist_ok=True)
    pins = {}
    for size in sizes:
        names = PACKAGE_SETS[size]
        hashed = [lines[canonical(name)] for name in names]
        plain = [line.split(" --hash", 1)[0] for line in hashed]
        hashed_file, plain_file = folder / f"hashed-{size}.txt", folder / f"plain-{size}.txt"
        hashed_file.write_text("\n".join(hashed) + "\n", encoding="utf-8")
        plain_file.write_text("\n".join(plain) + "\n", encoding="utf-8")
        pins[size] = Pins(
            size, names, hashed_file, plain_file, sum(line.count("--hash=") for line in hashed)
        )
    return pins


def python_tag_ok(python_tag: str, abi: str, minor: int) -> bool:
    for tag in python_tag.split("."):
        if tag in ("py3", f"py3{minor}") or tag == f"cp3{minor}":
            return True
        match = re.fullmatch(r"cp3(\d+)", tag)
        if match and abi == "abi3" and int(match.group(1)) <= minor:
            return True
    return False


def platform_ok(platform_tag: str) -> bool:
    if platform_tag == "any":
        return True
    machine = platform.machine()
    glibc = platform.libc_ver()[1] or "0.0"
    have = tuple(int(part) for part in glibc.split(".")[:2])
    for tag in platform_tag.split("."):
        if not tag.endswith(machine):
            continue
        if tag.startswith("manylinux2014") or tag.startswith("manylinux1"):
            return True
        match = re.match(r"manylinux_(\d+)_(\d+)_", tag)
        if match and (int(match.group(1)), int(match.group(2))) <= have:
            return True
    return False


def wheel_rank(filename: str, minor: int) -> Optional[int]:
    """0 for a wheel of exactly this CPython, 1 for abi3, 2 for pure Python; None if unfit."""
    parts = filename[:-4].split("-")
    if len(parts) < 5:
        return None
    python_tag, abi, platform_tag = parts[-3:]
    if not (python_tag_ok(python_tag, abi, minor) and platform_ok(platform_tag)):
        return None
    return 0 if abi.startswith("cp3") else 1 if abi == "abi3" else 2


def locked_wheels(lock_text: str) -> list[tuple[str, str]]:
    """(url, sha256) of every wheel a pylock.toml names, by package."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11: the lines uv writes are regular enough
        found = []
        for line in lock_text.splitlines():
            if line.startswith("wheels = "):
                found.append(re.findall(r'url = "([^"]+\.whl)".*?sha256 = "([0-9a-f]+)"', line))
        return [wheel for package in found for wheel in package]
    wheels = []
    for package in tomllib.loads(lock_text).get("packages", []):
        for wheel in package.get("wheels", []):
            wheels.append((wheel["url"], wheel.get("hashes", {}).get("sha256", "")))
    return wheels


def make_wheelhouse(uv: Uv, python: str, minor: int, pins: Pins, folder: Path) -> Path:
    """A folder with the best wheel of every pin, checked against its hash."""
    text = pins.plain.read_text(encoding="utf-8")
    _, lock = uv.run(
        [
            "pip",
            "compile",
            "-",
            "--quiet",
            "--no-header",
            "--format",
            "pylock.toml",
            "--no-deps",
            "--no-python-downloads",
            "--python",
            python,
        ],
        input_text=text,
    )
    by_project: dict[str, tuple[int, str, str]] = {}
    for url, sha256 in locked_wheels(lock):
        filename = url.rsplit("/", 1)[-1]
        rank = wheel_rank(filename, minor)
        project = canonical(filename.split("-", 1)[0])
        if rank is not None and (project not in by_project or rank < by_project[project][0]):
            by_project[project] = (rank, url, sha256)
    wanted = {canonical(name) for name in pins.names}
    if set(by_project) != wanted:
        raise SetupError("no fitting wheel for " + ", ".join(sorted(wanted - set(by_project))))
    folder.mkdir(parents=True, exist_ok=True)
    for _, url, sha256 in by_project.values():
        target = folder / url.rsplit("/", 1)[-1]
        if target.exists():
            continue
        partial = target.with_name(target.name + ".part")
        with urllib.request.urlopen(url, timeout=120) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
        if sha256 and file_sha256(partial) != sha256:
            raise SetupError(f"hash mismatch for {url}")
        partial.replace(target)
    return folder


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_fingerprint(root: Path) -> str:
    """A digest of every file's path, size and content under ``root`` (small files only)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            stat = path.stat()
            digest.update(f"{path.relative_to(root)}:{stat.st_size}\n".encode())
            if stat.st_size < 1 << 16:
                digest.update(path.read_bytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Jobs


@dataclass
class Job:
    """One (case, variant, size): run once per round; each run returns timed parts."""

    case: str
    variant: str
    size: int
    run: Callable[[Path], dict[str, Outcome]]  # argument: a fresh folder for this run
    warm_up: bool = False  # run once untimed before round 1
    results: dict[str, list[Outcome]] = field(default_factory=dict)
    error: str = ""


class Bench:
    def __init__(
        self, args: argparse.Namespace, uv: Uv, python: str, minor: int, workdir: Path
    ) -> None:
        self.args = args
        self.uv = uv
        self.python = python
        self.minor = minor
        self.workdir = workdir
        self.compile = ["--compile-bytecode"] if args.compile_bytecode else []
        self.pins: dict[int, Pins] = {}
        self.wheelhouses: dict[int, tuple[Path, Path]] = {}
        self.pull_templates: dict[int, Path] = {}
        self.template_prints: dict[int, str] = {}

    # -- commands --------------------------------------------------------------------------

    def install(
        self, venv: Path, requirements: Path, *extra: str, cache: Optional[Path] = None
    ) -> Outcome:
        return self.uv.run(
            [
                "pip",
                "install",
                "--no-deps",
                *self.compile,
                "--python",
                str(venv_python(venv)),
                "-r",
                str(requirements),
                *extra,
            ],
            cache=cache,
        )[0]

    def fresh_venv(self, folder: Path, name: str = "venv", cache: Optional[Path] = None) -> Path:
        venv = folder / name
        self.uv.venv(venv, self.python, cache=cache)
        return venv

    def requirements(self, size: int, variant: str) -> tuple[Path, list[str]]:
        pins = self.pins[size]
        if variant == "plain":
            return pins.plain, []
        return pins.hashed, (["--no-verify-hashes"] if variant == "no-verify" else [])

    # -- setup ------------------------------------------------------------------------------

    def setup(self, cases: Sequence[str], sizes: Sequence[int], pin_sizes: Sequence[int]) -> None:
        log(f"pinning {len(PACKAGES_40)} packages with hashes (uv pip compile)")
        self.pins = make_pins(self.uv, self.python, self.workdir / "pins", pin_sizes)
        for size, pins in self.pins.items():
            log(f"  {size} package(s): {pins.hash_lines} --hash entries")
        if "wheelhouse" in cases:
            for size in sizes:
                log(f"wheelhouse of {size} package(s): downloading the wheels")
                first = make_wheelhouse(
                    self.uv,
                    self.python,
                    self.minor,
                    self.pins[size],
                    self.workdir / "wheelhouse" / f"rev1-{size}",
                )
                second = self.workdir / "wheelhouse" / f"rev2-{size}"  # same files, new folder
                shutil.copytree(first, second, copy_function=os.link)
                self.wheelhouses[size] = (first, second)
        if "pull" in cases:
            for size in sizes:
                log(f"pull of {size} package(s): a cache filled by one plain install")
                template = self.workdir / "pull-template" / str(size)
                scratch = self.workdir / "pull-template" / f"venv-{size}"
                self.uv.venv(scratch, self.python, cache=template)
                self.install(scratch, self.pins[size].plain, cache=template)
                self.pull_templates[size] = template
                self.template_prints[size] = tree_fingerprint(template)

    # -- jobs -------------------------------------------------------------------------------

    def jobs(self, cases: Sequence[str], sizes: Sequence[int]) -> list[Job]:
        jobs: list[Job] = []
        for size in sizes:
            if "warm" in cases:
                for variant in ("hashed", "plain", "no-verify"):
                    jobs.append(
                        Job("warm", variant, size, self._warm(size, variant, []), warm_up=True)
                    )
                for variant in ("hashed", "plain"):
                    jobs.append(
                        Job(
                            "warm",
                            f"{variant} --offline",
                            size,
                            self._warm(size, variant, ["--offline"]),
                            warm_up=True,
                        )
                    )
            if "add" in cases:
                for variant in ("hashed", "plain", "no-verify"):
                    jobs.append(Job("add", variant, size, self._add(size, variant), warm_up=True))
            if "pull" in cases:
                for variant in ("hashed", "plain", "no-verify"):
                    jobs.append(Job("pull", variant, size, self._pull(size, variant)))
            if "wheelhouse" in cases:
                for name, first, second, moved in WHEELHOUSE_VARIANTS:
                    jobs.append(
                        Job("wheelhouse", name, size, self._wheelhouse(size, first, second, moved))
                    )
        if "cold" in cases:
            for variant in ("hashed", "plain", "no-verify"):
                jobs.append(
                    Job(
                        "cold",
                        variant,
                        self.args.cold_size,
                        self._cold(self.args.cold_size, variant),
                    )
                )
        if "venv" in cases:
            for seed in (False, True):
                for offline in (False, True):
                    name = ("--seed" if seed else "no seed") + (" --offline" if offline else "")
                    jobs.append(Job("venv", name, 0, self._venv(seed, offline), warm_up=True))
        return jobs

    def _warm(self, size: int, variant: str, extra: list[str]):
        def run(folder: Path) -> dict[str, Outcome]:
            requirements, options = self.requirements(size, variant)
            venv = self.fresh_venv(folder)
            return {"install": self.install(venv, requirements, *options, *extra)}

        return run

    def _add(self, size: int, variant: str):
        """``uv pip compile`` of the names then the install of its pins, as ``rezup add``."""

        def run(folder: Path) -> dict[str, Outcome]:
            venv = self.fresh_venv(folder)  # rezup makes it while the resolve runs
            hashes = [] if variant == "plain" else ["--generate-hashes"]
            resolved, out = self.uv.run(
                [
                    "pip",
                    "compile",
                    "-",
                    "--quiet",
                    "--no-header",
                    "--no-annotate",
                    *hashes,
                    "--no-python-downloads",
                    "--python",
                    self.python,
                ],
                input_text="\n".join(PACKAGE_SETS[size]) + "\n",
            )
            lines = parse_hashed(out)
            wanted = [lines[canonical(name)] for name in PACKAGE_SETS[size]]
            requirements = folder / "requirements.txt"
            requirements.write_text("\n".join(wanted) + "\n", encoding="utf-8")
            options = ["--no-verify-hashes"] if variant == "no-verify" else []
            installed = self.install(venv, requirements, *options)
            return {
                "resolve": resolved,
                "install": installed,
                "total": Outcome(
                    resolved.seconds + installed.seconds,
                    installed.prepared,
                    resolved.cpu + installed.cpu,
                ),
            }

        return run

    def _pull(self, size: int, variant: str):
        def run(folder: Path) -> dict[str, Outcome]:
            cache = folder / "cache"
            shutil.copytree(self.pull_templates[size], cache, copy_function=os.link, symlinks=True)
            venv = self.fresh_venv(folder, cache=cache)
            requirements, options = self.requirements(size, variant)
            return {"install": self.install(venv, requirements, *options, cache=cache)}

        return run

    def _wheelhouse(self, size: int, first: str, second: str, moved: bool):
        def run(folder: Path) -> dict[str, Outcome]:
            cache = folder / "cache"
            house, copy = self.wheelhouses[size]
            parts = {}
            for step, variant, where in (
                ("first", first, house),
                ("again", second, copy if moved else house),
            ):
                venv = self.fresh_venv(folder, f"venv-{step}", cache=cache)
                requirements, options = self.requirements(size, variant)
                parts[step] = self.install(
                    venv,
                    requirements,
                    *options,
                    "--no-index",
                    "--find-links",
                    str(where),
                    cache=cache,
                )
            return parts

        return run

    def _cold(self, size: int, variant: str):
        def run(folder: Path) -> dict[str, Outcome]:
            cache = folder / "cache"
            venv = self.fresh_venv(folder, cache=cache)
            requirements, options = self.requirements(size, variant)
            return {"install": self.install(venv, requirements, *options, cache=cache)}

        return run

    def _venv(self, seed: bool, offline: bool):
        def run(folder: Path) -> dict[str, Outcome]:
            extra = [*(["--seed"] if seed else []), *(["--offline"] if offline else [])]
            return {"uv venv": self.uv.venv(folder / "venv", self.python, *extra)}

        return run

    def templates_untouched(self) -> dict[int, bool]:
        return {
            size: tree_fingerprint(path) == self.template_prints[size]
            for size, path in self.pull_templates.items()
        }


# --------------------------------------------------------------------------------------------
# Running and reporting


def run_rounds(jobs: list[Job], rounds: int, runs_dir: Path, seed: int) -> None:
    warm = [job for job in jobs if job.warm_up]
    if warm:
        log(f"warm-up: {len(warm)} untimed runs")
    for job in warm:
        try:
            job.run(runs_dir / "warm-up" / f"{job.case}-{slug(job.variant)}-{job.size}")
        except SetupError as exc:
            job.error = str(exc)
    shuffler = random.Random(seed)
    for round_number in range(1, rounds + 1):
        order = [job for job in jobs if not job.error]
        shuffler.shuffle(order)
        started = time.monotonic()
        for index, job in enumerate(order):
            folder = (
                runs_dir / f"round-{round_number}" / f"{index:02d}-{job.case}-"
                f"{slug(job.variant)}-{job.size}"
            )
            folder.mkdir(parents=True)
            try:
                parts = job.run(folder)
            except SetupError as exc:
                job.error = str(exc)
                log(f"  {job.case}/{job.variant}/{job.size}: FAILED: {exc}")
                continue
            for part, outcome in parts.items():
                job.results.setdefault(part, []).append(outcome)
        log(
            f"round {round_number}/{rounds} done ({time.monotonic() - started:.0f}s, "
            f"load {os.getloadavg()[0]:.2f})"
        )


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def cell(outcomes: list[Outcome], metric: str = "wall") -> str:
    """``median (min-max) pN`` in ms, plus ``sK`` when K runs stalled (STALL_SECONDS over the
    median: a 5 s TCP connect to the index, or a burst of load from elsewhere).
    ``metric`` "cpu" shows the CPU time of uv and its children instead of the wall time."""
    if not outcomes:
        return "-"
    seconds = [outcome.cpu if metric == "cpu" else outcome.seconds for outcome in outcomes]
    median = statistics.median(seconds)
    stalls = sum(1 for value in seconds if value > median + STALL_SECONDS)
    prepared = "/".join(map(str, sorted({outcome.prepared for outcome in outcomes})))
    text = f"{fmt_ms(median * 1000)} ({fmt_ms(min(seconds) * 1000)}-{fmt_ms(max(seconds) * 1000)})"
    if metric == "cpu":
        return text
    return f"{text} p{prepared}" + (f" s{stalls}" if stalls else "")


def fmt_ms(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def table_rows(
    jobs: list[Job], columns: Sequence[int], metric: str = "wall"
) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per (case, variant, step), one column per size (0: none)."""
    header = [
        "case",
        "variant",
        "step",
        *[f"{size} pkg{'' if size == 1 else 's'}" if size else "time" for size in columns],
    ]
    cells: dict[tuple[str, str, str], dict[int, str]] = {}
    for job in jobs:
        if job.error and not job.results:
            cells.setdefault((job.case, job.variant, "(failed)"), {})[job.size] = "FAILED"
        for part, outcomes in job.results.items():
            cells.setdefault((job.case, job.variant, part), {})[job.size] = cell(outcomes, metric)
    rows = [[*key, *[by_size.get(size, "-") for size in columns]] for key, by_size in cells.items()]
    return header, rows


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(row[index])) for row in [header, *rows]) for index in range(len(header))]
    lines = [
        "  ".join(str(value).ljust(widths[i]) for i, value in enumerate(row)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def describe_machine(uv: Uv, python: str, args: argparse.Namespace) -> list[str]:
    version = subprocess.run([uv.binary, "--version"], capture_output=True, text=True)
    return [
        f"date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"uv: {version.stdout.strip()}; python: {python}; {os.cpu_count()} cores; "
        f"{platform.platform()}",
        f"rounds: {args.rounds} (interleaved, shuffled with seed {args.seed}); cells: median "
        "ms (min-max), pN: uv's 'Prepared N packages' (downloaded or unzipped) in the runs, "
        f"sK: K runs over {STALL_SECONDS:.0f} s slower than the median (a stall)",
        f"load average at the end: {' '.join(f'{value:.2f}' for value in os.getloadavg())}",
        "install: uv pip install --no-deps "
        + ("--compile-bytecode " if args.compile_bytecode else "")
        + "--python VENV -r FILE, into a fresh `uv venv` (no seed, not timed)",
    ]


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure what hash checking costs uv installs (and `uv venv --seed`)."
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--sizes", default="1,10,40", help="package counts: 1, 10, 40")
    parser.add_argument(
        "--cases", default=",".join(ALL_CASES), help=f"comma-separated, of {', '.join(ALL_CASES)}"
    )
    parser.add_argument(
        "--cold-size",
        type=int,
        default=10,
        help="package count of the cold case: 1, 10 or 40 (default 10)",
    )
    parser.add_argument(
        "--no-compile-bytecode",
        dest="compile_bytecode",
        action="store_false",
        help="install without --compile-bytecode",
    )
    parser.add_argument(
        "--python",
        help="interpreter to build with (default: the base "
        "interpreter of the Python running this script)",
    )
    parser.add_argument(
        "--uv",
        default=os.environ.get("UV") or shutil.which("uv") or "uv",
        help="the uv binary (default: $UV, else uv on PATH)",
    )
    parser.add_argument("--seed", type=int, default=13, help="shuffle seed")
    parser.add_argument("--markdown", type=Path, help="also write the report here")
    parser.add_argument("--json", type=Path, help="also write every timing here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--workdir", type=Path, help="parent of the temporary folder")
    args = parser.parse_args(argv)
    try:
        args.sizes = sorted({int(size) for size in args.sizes.split(",") if size})
    except ValueError:
        parser.error("--sizes takes numbers: 1,10,40")
    if not set(args.sizes) <= set(PACKAGE_SETS):
        parser.error("--sizes: only 1, 10 and 40")
    args.cases = [case for case in args.cases.split(",") if case]
    unknown = set(args.cases) - set(ALL_CASES)
    if unknown:
        parser.error(f"--cases: unknown {', '.join(sorted(unknown))}")
    if args.cold_size not in PACKAGE_SETS:
        parser.error("--cold-size: one of 1, 10 and 40")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def base_python() -> str:
    base = getattr(sys, "_base_executable", "") or sys.executable
    return os.path.realpath(base)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    python = args.python or base_python()
    probe = subprocess.run(
        [python, "-c", "import sys; print(sys.version_info[1])"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        print(f"hash_cost: error: cannot run {python}", file=sys.stderr)
        return 1
    minor = int(probe.stdout.strip())
    workdir = Path(tempfile.mkdtemp(prefix="hash-cost-", dir=args.workdir))
    uv = Uv(args.uv, workdir)
    bench = Bench(args, uv, python, minor, workdir)
    sizes = sorted({*args.sizes, *([args.cold_size] if "cold" in args.cases else [])})
    log(f"working in {workdir}")
    try:
        bench.setup(args.cases, args.sizes, sizes)
        jobs = bench.jobs(args.cases, args.sizes)
        run_rounds(jobs, args.rounds, workdir / "runs", args.seed)
        untouched = bench.templates_untouched()
    except SetupError as exc:
        print(f"hash_cost: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hash_cost: interrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    sized = [job for job in jobs if job.size]
    unsized = [job for job in jobs if not job.size]
    tables = [
        ("wall time", *table_rows(sized, sizes)),
        ("wall time", *table_rows(unsized, [0])),
        ("CPU time of uv and its children", *table_rows(sized, sizes, "cpu")),
        ("CPU time of uv", *table_rows(unsized, [0], "cpu")),
    ]
    tables = [(title, header, rows) for title, header, rows in tables if rows]
    notes = describe_machine(uv, python, args)
    counts = ", ".join(f"{pins.size} pkgs: {pins.hash_lines}" for pins in bench.pins.values())
    notes.append(f"--hash entries in the hashed files: {counts}")
    if untouched:
        notes.append(
            "pull: the plain-filled cache each run copied stayed untouched: "
            + ", ".join(f"{size}: {'yes' if ok else 'NO'}" for size, ok in untouched.items())
        )
    failed = [f"{job.case}/{job.variant}/{job.size}: {job.error}" for job in jobs if job.error]
    print("\n".join(notes))
    print()
    print("\n\n".join(f"{title}:\n{text_table(header, rows)}" for title, header, rows in tables))
    for line in failed:
        print(f"FAILED {line}")
    if args.markdown:
        body = "\n".join(f"- {note}" for note in notes)
        body += "".join(
            f"\n\n{title}:\n\n{markdown_table(header, rows)}" for title, header, rows in tables
        )
        args.markdown.write_text(
            f"{body}\n" + "".join(f"\nFAILED {line}\n" for line in failed), encoding="utf-8"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "case": job.case,
                        "variant": job.variant,
                        "size": job.size,
                        "error": job.error,
                        "parts": {
                            part: [[o.seconds, o.prepared, o.cpu] for o in outcomes]
                            for part, outcomes in job.results.items()
                        },
                    }
                    for job in jobs
                ],
                indent=1,
            ),
            encoding="utf-8",
        )
    return 1 if failed else 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
