"""The only module that runs uv.

It finds the binary, runs ``uv venv``, ``uv pip install`` and ``uv pip compile``, translates the
pip-flavoured ``[pip]`` recipe section into uv's terms, and turns a failure into one UvError that
carries uv's own message.
"""

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
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Optional

from rezup.errors import UvError

log = logging.getLogger("rezup")

# pip option -> (uv option, takes a value). ``None`` as uv option: drop it silently-ish
# (it is reported in one warning by ``translate_pip_options``).
_PIP_OPTIONS: dict[str, tuple[Optional[str], bool]] = {
    "-i": ("--index-url", True),
    "--index-url": ("--index-url", True),
    "--extra-index-url": ("--extra-index-url", True),
    "-f": ("--find-links", True),
    "--find-links": ("--find-links", True),
    "--no-index": ("--no-index", False),
    "--pre": ("--prerelease=allow", False),
    "-c": ("--constraint", True),
    "--constraint": ("--constraint", True),
    "--trusted-host": ("--allow-insecure-host", True),
    "--no-binary": ("--no-binary", True),
    "--only-binary": ("--only-binary", True),
    "--no-build-isolation": ("--no-build-isolation", False),
    "--no-cache-dir": ("--no-cache", False),
    # options uv has no use for
    "--disable-pip-version-check": (None, False),
    "--no-warn-script-location": (None, False),
    "--no-python-version-warning": (None, False),
    "--no-input": (None, False),
    "--isolated": (None, False),
    "--prefer-binary": (None, False),
    "--progress-bar": (None, True),
    "--timeout": (None, True),
    "--retries": (None, True),
    "--proxy": (None, True),
    "--cert": (None, True),
    "--client-cert": (None, True),
    "--log": (None, True),
    "-q": (None, False),
    "--quiet": (None, False),
    "-v": (None, False),
    "--verbose": (None, False),
}

# PIP_* variable -> UV_* twin (None: no twin, dropped). Values keep their meaning unless noted.
_PIP_ENV: dict[str, Optional[str]] = {
    "PIP_INDEX_URL": "UV_INDEX_URL",
    "PIP_EXTRA_INDEX_URL": "UV_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS": "UV_FIND_LINKS",
    "PIP_NO_INDEX": "UV_NO_INDEX",
    "PIP_PRE": "UV_PRERELEASE",
    "PIP_CONSTRAINT": "UV_CONSTRAINT",
    "PIP_TRUSTED_HOST": "UV_INSECURE_HOST",
    "PIP_NO_BUILD_ISOLATION": "UV_NO_BUILD_ISOLATION",
    "PIP_NO_CACHE_DIR": "UV_NO_CACHE",
    "PIP_TIMEOUT": "UV_HTTP_TIMEOUT",
    "PIP_DEFAULT_TIMEOUT": "UV_HTTP_TIMEOUT",
    "PIP_DISABLE_PIP_VERSION_CHECK": None,
    "PIP_NO_WARN_SCRIPT_LOCATION": None,
    "PIP_NO_PYTHON_VERSION_WARNING": None,
    "PIP_PROGRESS_BAR": None,
    "PIP_CERT": None,
    "PIP_RETRIES": None,
}


def translate_pip_options(options: Sequence[str]) -> tuple[list[str], list[str]]:
    """Turn pip command-line options into uv's. Returns (uv options, dropped pip options).

    Accepts both ``--opt value`` and ``--opt=value`` forms. Anything unknown is dropped too, so
    a recipe written for pip never breaks a uv build; the caller warns once with the list.
    """
    translated: list[str] = []
    dropped: list[str] = []
    tokens = list(options)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        name, has_inline, inline = token.partition("=")
        spec = _PIP_OPTIONS.get(name)
        if spec is None:
            dropped.append(token)
            continue
        uv_option, takes_value = spec
        value = None
        if takes_value:
            if has_inline:
                value = inline
            elif index < len(tokens):
                value = tokens[index]
                index += 1
            else:
                dropped.append(token)
                continue
        if uv_option is None:
            dropped.append(token if value is None or has_inline else f"{token} {value}")
            continue
        translated.append(uv_option)
        if value is not None:
            translated.append(value)
    return translated, dropped


def translate_pip_env(env: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Turn ``PIP_*`` variables into their ``UV_*`` twins. Returns (uv env, dropped names)."""
    translated: dict[str, str] = {}
    dropped: list[str] = []
    for key, value in env.items():
        if not key.startswith("PIP_"):
            translated[key] = value  # not pip's: passed through as is
            continue
        twin = _PIP_ENV.get(key)
        if twin is None:
            dropped.append(key)
        elif twin == "UV_PRERELEASE":
            translated[twin] = "allow" if _truthy(value) else "disallow"
        elif twin in ("UV_NO_INDEX", "UV_NO_BUILD_ISOLATION", "UV_NO_CACHE"):
            if _truthy(value):
                translated[twin] = "1"
        else:
            translated[twin] = value
    return translated, dropped


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


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
) -> str:
    """Run ``uv ARGS``; return stdout. On failure raise UvError with uv's last words.

    ``env`` is laid over the process environment. uv always runs from the same neutral folder
    (the temp folder), so that no ``pyproject.toml`` or ``uv.toml`` in the user's current
    folder, the home folder or a root's parents changes one step and not another; every path
    rezup gives it is absolute. User-level uv configuration still applies.
    """
    command = [find_uv(), *args]
    full_env = dict(os.environ)
    full_env.pop("VIRTUAL_ENV", None)  # never let an activated venv steer the target
    if env:
        full_env.update(env)
    log.debug("running: %s", subprocess.list2cmdline(command))
    started = time.monotonic()
    try:
        completed = subprocess.run(
            command,
            env=full_env,
            cwd=tempfile.gettempdir(),
            pass_fds=tuple(sorted(_inherited_fds)) if os.name != "nt" else (),
            input=input_text,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise UvError(f"{what}: cannot run uv ({command[0]}): {exc}") from None
    log.debug("%s: uv exited %d after %.2fs", what, completed.returncode,
              time.monotonic() - started)
    if completed.stderr and log.isEnabledFor(logging.DEBUG):
        sys.stderr.write(completed.stderr)
    if completed.returncode != 0:
        raise UvError(f"{what} failed: {summarize_uv_error(completed.stderr)}")
    return completed.stdout


def summarize_uv_error(stderr: str) -> str:
    """One line out of uv's error report: its ``error:`` line plus the reasons under it.

    A build backend's own output (uv quotes it under ``[stderr]``) is cut down to its last
    line, which is where a Python traceback states the actual error; ``hint:`` lines go.
    """
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    if not lines:
        return "uv exited with an error and said nothing"
    start = next((i for i, line in enumerate(lines) if line.startswith("error:")), 0)
    kept: list[str] = []
    quoted: list[str] = []
    for line in lines[start:]:
        line = line.removeprefix("error:").strip().lstrip("╰─▶ ").strip()
        if line.startswith("hint:") or not line:
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
    summary = "; ".join(kept)
    return summary if len(summary) <= 600 else summary[:597] + "..."


# Options that say where packages come from; ``uv venv`` takes these (for its seed packages).
_INDEX_OPTIONS_WITH_VALUE = frozenset({
    "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--default-index", "--index",
    "--allow-insecure-host", "--index-strategy", "--keyring-provider",
})
_INDEX_FLAGS = frozenset({"--no-index"})


def split_index_options(options: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split uv options into (index options, all others), keeping values with their option."""
    index: list[str] = []
    other: list[str] = []
    tokens = list(options)
    i = 0
    while i < len(tokens):
        name = tokens[i].split("=", 1)[0]
        takes_value = name in _INDEX_OPTIONS_WITH_VALUE and "=" not in tokens[i]
        group = tokens[i : i + 2] if takes_value else tokens[i : i + 1]
        (index if name in _INDEX_OPTIONS_WITH_VALUE or name in _INDEX_FLAGS else other).extend(
            group
        )
        i += len(group)
    return index, other


def offline_options(options: Sequence[str], wheelhouse: Path) -> list[str]:
    """``options`` with every index replaced by one local wheelhouse and no index at all."""
    _, other = split_index_options(options)
    return [*other, "--no-index", "--find-links", str(wheelhouse)]


def create_venv(
    path: Path, python: str, *, options: Sequence[str] = (), env=None
) -> None:
    """``uv venv``: a fresh venv at ``path`` (seeded with pip so that ``rez-pip`` works)."""
    args = ["venv", "--no-project", "--quiet", "--seed", "--python", python,
            "--no-python-downloads"]
    index, _ = split_index_options(options)
    run([*args, *index, str(path)], env=env, what=f"creating venv {path.name}")


def pip_install(
    python: Path,
    requirements_file: Path,
    *,
    options: Sequence[str] = (),
    env=None,
    what: str = "installing",
    target: Optional[Path] = None,
) -> None:
    """``uv pip install --no-deps`` of a fully pinned requirements file, bytecode compiled.

    The file comes from ``uv pip compile``: the whole closure is pinned, so there is nothing
    left to resolve and ``--no-deps`` skips a second resolution.
    """
    args = [
        "pip", "install", "--quiet", "--no-deps", "--compile-bytecode",
        "--python", str(python), "-r", str(requirements_file),
    ]
    if target is not None:
        args += ["--target", str(target)]
    run([*args, *options], env=env, what=what)


def pip_compile(
    requirements: str,
    python: str,
    *,
    options: Sequence[str] = (),
    env=None,
    what: str = "resolving",
) -> str:
    """``uv pip compile`` the requirements text for ``python``; return the pinned text."""
    args = [
        "pip", "compile", "-", "--quiet", "--no-header", "--no-annotate", "--generate-hashes",
        "--python", python, "--no-python-downloads",
    ]
    return run([*args, *options], env=env, input_text=requirements, what=what)


def find_python(request: str) -> str:
    """Absolute path of the interpreter uv picks for ``request`` (version or path)."""
    out = run(
        ["python", "find", "--no-project", "--no-python-downloads", request],
        what=f"finding Python {request}",
    )
    return out.strip()
