"""Finding the uv binary and running it: one UvError that carries uv's own message."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Optional

from rezup.ground.errors import UvError

log = logging.getLogger("rezup")


# --------------------------------------------------------------------------------------------
# Finding and running uv


_uv_binary: Optional[str] = None
_uv_binary_lock = threading.Lock()
_inherited_fds: set[int] = set()


@contextlib.contextmanager
def inheriting_fd(fd: Optional[int]) -> Iterator[None]:
    """While inside, every uv process started gets ``fd`` (a held lock) open as well."""
    if fd is None:
        yield
        return
    _inherited_fds.add(fd)
    try:
        yield
    finally:
        _inherited_fds.discard(fd)


def find_uv() -> str:
    """``$UV`` when set, else the binary shipped with the ``uv`` package, else ``uv`` on PATH.

    Found once per process, under a lock: ``uv.find_uv_bin()`` reads ``sysconfig``, whose
    first use is not thread-safe (a second thread can see ``EXE`` as None), and rezup runs uv
    from worker threads.
    """
    global _uv_binary
    with _uv_binary_lock:
        if _uv_binary is None:
            _uv_binary = _locate_uv()
        return _uv_binary


def _locate_uv() -> str:
    explicit = os.environ.get("UV")
    if explicit:
        return explicit
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found:
        return found
    raise UvError("cannot find uv: install the 'uv' package or set $UV to its binary")


def run(
    args: Sequence[str],
    *,
    env: Optional[Mapping[str, str]] = None,
    input_text: Optional[str] = None,
    what: str = "uv",
    timeout: Optional[float] = None,
    on_line: Optional[Callable[[str], None]] = None,
    unset: Sequence[str] = (),
) -> str:
    """Run ``uv ARGS``; return stdout. On failure raise UvError with uv's last words.

    ``on_line`` is given each line uv writes to stderr as it comes (its own progress), from
    another thread.

    ``env`` is laid over the process environment, less the variables named in ``unset``.
    uv always runs from the same neutral folder
    (the temp folder), so that no ``pyproject.toml`` or ``uv.toml`` in the user's current
    folder, the home folder or a root's parents changes one step and not another; every path
    rezup gives it is absolute. User-level uv configuration still applies.
    """
    command = [find_uv(), *args]
    full_env = dict(os.environ)
    full_env.pop("VIRTUAL_ENV", None)  # never let an activated venv steer the target
    if env:
        full_env.update(env)
    for name in unset:
        full_env.pop(name, None)
    if log.isEnabledFor(logging.DEBUG):
        from rezup.tools.credentials import redact

        log.debug("running: %s", redact(subprocess.list2cmdline(command)))
    started = time.monotonic()
    streamed: Optional[_StderrLines] = None
    try:
        if on_line is not None:
            streamed = _StderrLines(on_line)
        process = subprocess.Popen(
            command,
            env=full_env,
            cwd=tempfile.gettempdir(),
            pass_fds=tuple(sorted(_inherited_fds)) if os.name != "nt" else (),
            stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if streamed is None else streamed.write_fd,
            text=True,
        )
    except OSError as exc:
        if streamed is not None:
            streamed.close()
        raise UvError(f"{what}: cannot run uv ({command[0]}): {exc}") from None
    _running.add(process)
    try:
        if streamed is not None:
            streamed.start()
        stdout, stderr = process.communicate(input_text, timeout=timeout)
        if streamed is not None:
            stderr = streamed.finish()
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise UvError(f"{what}: uv gave no answer within {timeout:.0f}s") from None
    except BaseException:  # interrupted: uv must not write on into a folder being removed
        process.kill()
        process.wait()
        raise
    finally:
        _running.discard(process)
        if streamed is not None:
            streamed.close()
    log.debug("%s: uv exited %d after %.2fs", what, process.returncode, time.monotonic() - started)
    if stderr and log.isEnabledFor(logging.DEBUG):
        sys.stderr.write(stderr)
    if process.returncode != 0:
        raise UvError.failed(what, summarize_uv_error(stderr))
    return stdout


_running: set[subprocess.Popen] = set()  # uv processes under way, from any thread


class _StderrLines:
    """uv's stderr through a pipe of our own, read line by line in a thread.

    ``communicate`` keeps stdin and stdout; stderr goes to this pipe instead, so each line
    reaches ``on_line`` as uv writes it. ``finish`` returns all of it, for the error summary.
    """

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self.on_line = on_line
        self.read_fd, self.write_fd = os.pipe()
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, name="rezup-uv-stderr", daemon=True)

    def start(self) -> None:
        os.close(self.write_fd)  # uv holds the only writer now: its exit ends the reading
        self.write_fd = -1
        self.thread.start()

    def _read(self) -> None:
        with open(self.read_fd, encoding="utf-8", errors="replace", closefd=False) as stream:
            for line in stream:
                self.lines.append(line)
                text = line.strip()
                if text:
                    try:
                        self.on_line(text)
                    except Exception:  # showing progress must never break the build
                        log.debug("progress line failed", exc_info=True)

    def finish(self) -> str:
        self.thread.join()
        return "".join(self.lines)

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.read_fd = self.write_fd = -1


@contextlib.contextmanager
def helper_process(
    args: Sequence[str], *, env: Optional[Mapping[str, str]] = None, **popen: Any
) -> Iterator[subprocess.Popen]:
    """A process that works for a build beside uv (a bytecode compiler), treated as uv's own:
    it holds the build lock's descriptor as uv does (``inheriting_fd``), ``stop_running``
    stops it, and it is killed if the block is left by an exception."""
    full_env = dict(os.environ)
    full_env.pop("VIRTUAL_ENV", None)
    if env:
        full_env.update(env)
    process = subprocess.Popen(
        list(args),
        env=full_env,
        cwd=tempfile.gettempdir(),
        pass_fds=tuple(sorted(_inherited_fds)) if os.name != "nt" else (),
        **popen,
    )
    _running.add(process)
    try:
        yield process
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        _running.discard(process)
        for stream in (process.stdout, process.stderr, process.stdin):
            if stream is not None:  # the pipes the block left open, closed as Popen.__exit__
                with contextlib.suppress(OSError):  # stdin's last bytes may find no reader
                    stream.close()


def stop_running() -> None:
    """Stop every uv process under way (rezup is interrupted, and cleans up after them)."""
    for process in list(_running):
        with contextlib.suppress(OSError):
            process.kill()


def summarize_uv_error(stderr: str) -> str:
    """One line out of uv's error report: its ``error:`` line plus the reasons under it.

    A build backend's own output (uv quotes it under ``[stderr]``) is cut down to its last
    line, which is where a Python traceback states the actual error; ``hint:`` lines go, but
    for one that says an index refused uv for want of credentials (then "not found" is only
    its consequence). URLs are shown without passwords.
    """
    from rezup.tools.credentials import redact

    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    if not lines:
        return "uv exited with an error and said nothing"
    start = next((i for i, line in enumerate(lines) if line.startswith("error:")), 0)
    kept: list[str] = []
    quoted: list[str] = []
    for line in lines[start:]:
        line = line.removeprefix("error:").strip().lstrip("╰─▶ ").strip()
        if line.startswith("hint:") and _about_credentials(line):
            line = line.removeprefix("hint:").strip()
        elif line.startswith("hint:") or not line:
            continue
        if line == "[stderr]":
            quoted = ["[stderr]"]
            continue
        if quoted:
            quoted.append(line)
            continue
        kept.append(line)
    if len(quoted) > 1:
        kept.append(quoted[-1])
    summary = redact("; ".join(kept))
    return summary if len(summary) <= 600 else summary[:597] + "..."


def _about_credentials(hint: str) -> bool:
    return "credentials" in hint or "(401" in hint or "(403" in hint
