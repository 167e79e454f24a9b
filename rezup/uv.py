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

# Every command-line option rezup understands, in pip's spelling and in uv's, in one table:
#   option: (takes a value, uv's spelling or None when uv has no use for it, kinds)
# Kinds: "index" says where packages come from (``uv venv`` takes these for its seed packages,
# and an offline pull replaces them); "path" takes a file or folder (relative ones are anchored
# at the recipe's folder). A pip option not listed is dropped with a warning.
_INDEX, _PATH = frozenset({"index"}), frozenset({"path"})
_OPTIONS: dict[str, tuple[bool, Optional[str], frozenset[str]]] = {
    "-i": (True, "--index-url", _INDEX),
    "--index-url": (True, "--index-url", _INDEX),
    "--extra-index-url": (True, "--extra-index-url", _INDEX),
    "--default-index": (True, "--default-index", _INDEX),
    "--index": (True, "--index", _INDEX),
    "-f": (True, "--find-links", _INDEX | _PATH),
    "--find-links": (True, "--find-links", _INDEX | _PATH),
    "--no-index": (False, "--no-index", _INDEX),
    "--trusted-host": (True, "--allow-insecure-host", _INDEX),
    "--allow-insecure-host": (True, "--allow-insecure-host", _INDEX),
    "--index-strategy": (True, "--index-strategy", _INDEX),
    "--keyring-provider": (True, "--keyring-provider", _INDEX),
    "--pre": (False, "--prerelease=allow", frozenset()),
    "-c": (True, "--constraint", _PATH),
    "--constraint": (True, "--constraint", _PATH),
    "--override": (True, "--override", _PATH),
    "-r": (True, "--requirement", _PATH),
    "--requirement": (True, "--requirement", _PATH),
    "--no-binary": (True, "--no-binary", frozenset()),
    "--only-binary": (True, "--only-binary", frozenset()),
    "--no-build-isolation": (False, "--no-build-isolation", frozenset()),
    "--no-cache-dir": (False, "--no-cache", frozenset()),
    # pip options uv has no use for
    "--disable-pip-version-check": (False, None, frozenset()),
    "--no-warn-script-location": (False, None, frozenset()),
    "--no-python-version-warning": (False, None, frozenset()),
    "--no-input": (False, None, frozenset()),
    "--isolated": (False, None, frozenset()),
    "--prefer-binary": (False, None, frozenset()),
    "--progress-bar": (True, None, frozenset()),
    "--timeout": (True, None, frozenset()),
    "--retries": (True, None, frozenset()),
    "--proxy": (True, None, frozenset()),
    "--cert": (True, None, frozenset()),
    "--client-cert": (True, None, frozenset()),
    "--log": (True, None, frozenset()),
    "-q": (False, None, frozenset()),
    "--quiet": (False, None, frozenset()),
    "-v": (False, None, frozenset()),
    "--verbose": (False, None, frozenset()),
}


def takes_value(option: str) -> bool:
    """Whether ``option`` (without ``=value``) is followed by a value of its own."""
    return option in _OPTIONS and _OPTIONS[option][0]


def iter_options(options: Sequence[str]) -> Iterator[tuple[str, list[str]]]:
    """Group option tokens: yields (option name, its tokens: itself and its value if any)."""
    tokens = list(options)
    index = 0
    while index < len(tokens):
        name = tokens[index].split("=", 1)[0]
        count = 2 if takes_value(name) and "=" not in tokens[index] else 1
        yield name, tokens[index : index + count]
        index += count


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
    for name, tokens in iter_options(options):
        known = _OPTIONS.get(name)
        if known is None or known[1] is None:
            dropped.append(" ".join(tokens))
            continue
        value = tokens[0].partition("=")[2] if "=" in tokens[0] else None
        if known[0] and value is None:
            if len(tokens) < 2:  # a value-taking option with nothing after it
                dropped.append(tokens[0])
                continue
            value = tokens[1]
        translated.append(known[1])
        if known[0]:
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
    timeout: Optional[float] = None,
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
        process = subprocess.Popen(
            command,
            env=full_env,
            cwd=tempfile.gettempdir(),
            pass_fds=tuple(sorted(_inherited_fds)) if os.name != "nt" else (),
            stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    except OSError as exc:
        raise UvError(f"{what}: cannot run uv ({command[0]}): {exc}") from None
    _running.add(process)
    try:
        stdout, stderr = process.communicate(input_text, timeout=timeout)
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
    log.debug("%s: uv exited %d after %.2fs", what, process.returncode,
              time.monotonic() - started)
    if stderr and log.isEnabledFor(logging.DEBUG):
        sys.stderr.write(stderr)
    if process.returncode != 0:
        raise UvError(f"{what} failed: {summarize_uv_error(stderr)}")
    return stdout


_running: set[subprocess.Popen] = set()  # uv processes under way, from any thread


def stop_running() -> None:
    """Stop every uv process under way (rezup is interrupted, and cleans up after them)."""
    for process in list(_running):
        with contextlib.suppress(OSError):
            process.kill()


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


def split_index_options(options: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split uv options into (index options, all others), keeping values with their option."""
    index: list[str] = []
    other: list[str] = []
    for name, tokens in iter_options(options):
        (index if "index" in _OPTIONS.get(name, (0, 0, ()))[2] else other).extend(tokens)
    return index, other


def anchor_option_paths(options: Sequence[str], base_dir: str) -> list[str]:
    """Make relative paths given to path-taking options absolute, from the recipe's folder.

    uv runs from a neutral folder, so ``--find-links ./wheels`` in a recipe means the folder
    next to the recipe, as every other relative path in a recipe does. URLs are left alone.
    """
    from rezup.layout import anchor_path

    def anchored(value: str) -> str:
        return value if "://" in value or os.path.isabs(value) else anchor_path(value, base_dir)

    result: list[str] = []
    for name, tokens in iter_options(options):
        if "path" not in _OPTIONS.get(name, (0, 0, ()))[2]:
            result.extend(tokens)
        elif len(tokens) == 2:
            result.extend([tokens[0], anchored(tokens[1])])
        elif "=" in tokens[0]:
            result.append(f"{name}={anchored(tokens[0].split('=', 1)[1])}")
        else:
            result.extend(tokens)
    return result


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


def python_version_of(interpreter: str) -> str:
    """Full version (``3.11.7``) of an interpreter, by asking it."""
    try:
        out = subprocess.run(
            [interpreter, "-c", "import sys; print('.'.join(map(str, sys.version_info[:3])))"],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise UvError(f"cannot run Python interpreter {interpreter}: {exc}") from None
    return out


def compile_pylock(
    requirements: str, python: str, *, options: Sequence[str] = (), env=None, what: str
) -> str:
    """``uv pip compile`` to a PEP 751 ``pylock.toml``: every file's URL and hash."""
    args = ["pip", "compile", "-", "--quiet", "--no-header", "--format", "pylock.toml",
            "--python", python, "--no-python-downloads"]
    return run([*args, *options], env=env, input_text=requirements, what=what)


def build_wheel(source: Path, python: str, out_dir: Path, *, env=None, what: str) -> None:
    """``uv build --wheel`` of an sdist or a source folder into ``out_dir``."""
    run(["build", "--wheel", "--python", python, "--no-python-downloads",
         "--out-dir", str(out_dir), str(source)], env=env, what=what)
