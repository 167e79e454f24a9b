"""Bytecode of a new revision's venv: reused from an earlier revision, compiled where new.

uv installs package files as hard links into its cache, so a file that did not change between
two revisions is one inode in both, with one mtime and size, and the ``.pyc`` the earlier
revision has for it is valid for the new one as it is (Python re-points a code object's file
name when it loads it). So the new venv takes, for each of its sources, the earlier
revision's ``.pyc``:

- same inode: a hard link to it;
- another inode with the same bytes (``UV_LINK_MODE=copy``, files uv writes itself): a copy,
  with the new source's mtime and size in its header;
- anything else (a pin that changed, no donor): compiled, by the venv's own interpreter, on
  every core, as ``uv pip install --compile-bytecode`` would.

A donor's ``.pyc`` is checked (magic number, flags, the source's mtime and size, or its hash)
before it is used. Hard links keep revisions independent: removing the donor later leaves
the new revision's files in place. The work is done by ``_pyc_worker.py``, run with the venv's
interpreter, which may be any Python from 3.7 on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import tempfile
import threading
from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Optional

from rezup.ground import locations
from rezup.ground.errors import BuildError
from rezup.stages import donor_index
from rezup.tools import uv_process
from rezup.tools.production import site_packages, venv_python_tag

log = logging.getLogger("rezup")
WORKER = Path(__file__).with_name("_pyc_worker.py")
MODES = ("TIMESTAMP", "CHECKED_HASH", "UNCHECKED_HASH")  # py_compile.PycInvalidationMode
_BATCH = 8  # files a worker takes at a time


@dataclass(frozen=True)
class Bytecode:
    """What became of a venv's sources."""

    linked: int = 0  # the donor's pyc, hard-linked
    copied: int = 0  # the donor's pyc, copied (and its header set to the new source)
    compiled: int = 0
    failed: int = 0  # sources that do not compile (Python 2 code some packages carry)
    left: int = 0  # sources to compile later (``bytecode_later``), that had nothing to reuse
    donor: Optional[Path] = None

    @property
    def reused(self) -> int:
        return self.linked + self.copied

    def summary(self) -> str:
        text = f"bytecode: {self.reused} files reused, {self.compiled} compiled"
        if self.left:
            text += f", {self.left} to compile once the revision is ready"
        if self.donor is not None and self.reused:
            text += f" (reused from revision {self.donor.parent.parent.name})"
        return text


def invalidation_mode(env: Mapping[str, str]) -> str:
    """The kind of pyc to write, decided as uv decides it: ``PYC_INVALIDATION_MODE``, else
    checked hashes when ``SOURCE_DATE_EPOCH`` is set (``py_compile``'s default), else
    timestamps."""
    value = env.get("PYC_INVALIDATION_MODE", "")
    if value:
        if value not in MODES:
            raise BuildError(f"PYC_INVALIDATION_MODE={value!r} is not one of {', '.join(MODES)}")
        return value
    return "CHECKED_HASH" if env.get("SOURCE_DATE_EPOCH") else "TIMESTAMP"


def donor_venv(revision_dir: Path, venv_name: str) -> Optional[Path]:
    """The venv ``venv_name`` of another ready revision whose bytecode can serve the new one:
    same Python (implementation, major and minor version) and on the same filesystem (hard
    links; from another one copying would cost what compiling does).

    Any container of the root may give it (``donor_index``: its own container's newest
    first); revisions made before the index are found by a look at the own container."""
    new_venv = locations.venv_dir(revision_dir, venv_name)
    wanted = venv_python_tag(new_venv)
    if wanted is None:
        return None
    try:
        device = site_packages(new_venv).stat().st_dev
    except (OSError, BuildError):
        return None
    candidates = donor_index.donors(
        donor_index.root_of(revision_dir),
        donor_index.bytecode_key(venv_name, *wanted),
        revision_dir.parent.parent.name,
        skip=revision_dir,
        scan=donor_index.LOOKED_AT,
    )
    for candidate in candidates:
        venv = locations.venv_dir(candidate, venv_name)
        if venv_python_tag(venv) != wanted:
            continue
        with contextlib.suppress(OSError, BuildError):
            if site_packages(venv).stat().st_dev == device:
                return venv
    return None


def python_sources(site: Path) -> list[str]:
    """Every ``.py`` file under ``site``, relative to it, sorted (``__pycache__`` skipped)."""
    found: list[str] = []
    for folder, dirs, files in os.walk(site):
        dirs[:] = [name for name in dirs if name != "__pycache__"]
        base = os.path.relpath(folder, site)
        found.extend(
            name if base == "." else os.path.join(base, name)
            for name in files
            if name.endswith(".py")
        )
    found.sort()
    return found


def sources_of(site: Path, distributions: Collection[str]) -> list[str]:
    """The ``.py`` files of the installed ``distributions`` (canonical names), relative to
    ``site``, as their ``RECORD`` lists them."""
    import csv

    wanted = {name.replace("-", "_").lower() for name in distributions}
    found: list[str] = []
    for record in site.glob("*.dist-info/RECORD"):
        name = record.parent.name[: -len(".dist-info")].rpartition("-")[0]
        if name.replace("-", "_").replace(".", "_").lower() not in wanted:
            continue
        with (
            contextlib.suppress(OSError, csv.Error, UnicodeDecodeError),
            open(record, newline="", encoding="utf-8") as stream,
        ):
            for row in csv.reader(stream):
                path = os.path.normpath(row[0]) if row else ""
                if path.endswith(".py") and not path.startswith(("..", os.sep)):
                    found.append(path)
    return sorted(found)


def compile_venv(
    venv: Path, donor: Optional[Path], env: Mapping[str, str], *, later: Collection[str] = ()
) -> Bytecode:
    """Give every source of ``venv``'s site-packages its pyc, from ``donor`` (a venv of an
    earlier revision, see ``donor_venv``) where valid, else compiled. ``env`` is laid over the
    process environment, for the workers (``PYC_INVALIDATION_MODE``, ...). The sources in
    ``later`` only take the donor's pyc: the rest of them is for ``bytecode_later.compile_later``.

    Workers take small batches from one queue, as uv's take single files: a worker that gets
    the files to compile while another gets those to link does not hold the others up.
    """
    full_env = {**os.environ, **env}
    mode = invalidation_mode(full_env)
    site = site_packages(venv)
    donor_site = None
    if donor is not None:
        donor_site = donor / site.relative_to(venv)
        if not donor_site.is_dir():
            donor, donor_site = None, None
    command = [str(locations.venv_python(venv)), "-I", "-S", str(WORKER), mode, str(site)]
    if donor_site is not None:
        command.append(str(donor_site))
    sources = python_sources(site)
    count = max(1, min(_cpus(full_env), -(-len(sources) // _BATCH)))  # no idle interpreters
    with contextlib.ExitStack() as stack:
        workers = [stack.enter_context(_worker(command, env)) for _ in range(count)]
        queue = _Batches(sources, frozenset(later))
        with ThreadPoolExecutor(max_workers=count) as pool:
            counts = list(pool.map(_drive, workers, [queue] * count))
    linked, copied, compiled, failed, left = (sum(column) for column in zip(*counts))
    return Bytecode(linked, copied, compiled, failed, left, donor=donor)


class _Batches:
    """The sources, handed out a few at a time to whichever worker asks first."""

    def __init__(self, sources: list[str], reuse_only: frozenset[str] = frozenset()) -> None:
        self.sources = sources
        self.reuse_only = reuse_only
        self.next = 0
        self.lock = threading.Lock()

    def take(self) -> Optional[bytes]:
        with self.lock:
            batch = self.sources[self.next : self.next + _BATCH]
            self.next += len(batch)
        if not batch:
            return None
        return (
            b"".join(
                (b"r" if path in self.reuse_only else b"c") + os.fsencode(path) + b"\0"
                for path in batch
            )
            + b"\0"
        )


@contextlib.contextmanager
def _worker(
    command: list[str], env: Mapping[str, str]
) -> Iterator[tuple[subprocess.Popen, IO[bytes]]]:
    """A worker process, and the file its stderr goes to (a worker that has much to say
    never blocks on a full pipe)."""
    with tempfile.TemporaryFile() as errors:
        try:
            starting = uv_process.helper_process(
                command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors
            )
            process = starting.__enter__()
        except OSError as exc:
            raise BuildError(f"cannot run {command[0]} to compile bytecode: {exc}") from None
        with contextlib.ExitStack() as stack:
            stack.push(starting)
            yield process, errors


def _drive(worker: tuple[subprocess.Popen, IO[bytes]], queue: _Batches) -> list[int]:
    """Feed a worker batches until none is left; return its counts. Two batches are in
    flight, so that a worker never waits for this process to hand it the next one."""
    process, errors = worker
    assert process.stdin is not None and process.stdout is not None
    totals = [0, 0, 0, 0, 0]
    in_flight = 0
    try:
        while True:
            while in_flight < 2 and (batch := queue.take()) is not None:
                process.stdin.write(batch)
                process.stdin.flush()
                in_flight += 1
            if not in_flight:
                process.stdin.close()
                if process.wait() == 0:
                    return totals
                break
            words = process.stdout.readline().split()
            if len(words) != 5:
                break
            in_flight -= 1
            totals = [total + int(word) for total, word in zip(totals, words)]
    except BrokenPipeError:
        pass
    process.kill()
    process.wait()
    errors.seek(0)
    lines = errors.read().decode(errors="replace").strip().splitlines() or [
        f"it exited with {process.returncode}"
    ]
    program = process.args[0] if isinstance(process.args, (list, tuple)) else process.args
    assert isinstance(program, (str, bytes, os.PathLike))
    raise BuildError(f"compiling bytecode with {os.fsdecode(program)} failed: {lines[-1]}")


def _cpus(env: Mapping[str, str]) -> int:
    """As many workers as uv would start: ``UV_CONCURRENT_INSTALLS``, else the CPUs this
    process may run on."""
    explicit = env.get("UV_CONCURRENT_INSTALLS", "")
    if explicit.isdigit() and int(explicit) > 0:
        return int(explicit)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def describe(result: Bytecode, venv_name: str, seconds: float) -> str:
    """One debug line about a venv's bytecode."""
    return (
        f"venv {venv_name!r}: {result.linked} pycs linked and {result.copied} copied from "
        f"{result.donor or 'no earlier revision'}, {result.compiled} compiled, "
        f"{result.failed} not compilable, {result.left} left for later ({seconds:.2f}s)"
    )
