"""The only module that runs uv.

It finds the binary, runs ``uv venv``, ``uv pip install`` and ``uv pip compile``, translates
pip's settings (a recipe's ``[pip]``, ``PIP_*`` variables, pip's configuration files) into uv's
terms, and turns a failure into one UvError that carries uv's own message.
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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Optional
from urllib.parse import unquote, urlparse

from rezup.errors import UvError

log = logging.getLogger("rezup")

# Kinds of option. "index" says where packages come from (``uv venv`` takes these for its seed
# packages, and an offline pull replaces them); "path" takes a file or folder (relative ones are
# anchored at the recipe's folder); "uv" is uv's own spelling, which pip's files and PIP_*
# variables do not know; "quiet" is cosmetic to pip: dropped without a word from pip's files
# and PIP_* variables (a recipe's [pip] still hears of it).
_INDEX, _PATH = frozenset({"index"}), frozenset({"path"})
_UV, _QUIET = frozenset({"uv"}), frozenset({"quiet"})
_NONE: frozenset[str] = frozenset()


class _Option(NamedTuple):
    """One option rezup understands, in pip's spelling or in uv's."""

    takes_value: bool
    uv: Optional[str]  # uv's command-line spelling; None when uv has no such option
    kinds: frozenset[str] = _NONE
    # uv's variables for the same setting: where a value from pip's files or a PIP_* variable
    # goes (also a recipe's [pip] option that uv has no command-line option for)
    env: tuple[str, ...] = ()
    # how such a value becomes the variables' value: "" as is; "list" pip's whitespace list,
    # space-separated; "list," comma-separated; "flag" a boolean, true gives "1"; "option" a
    # boolean, true gives the option ``uv`` (uv has no variable); "pre" true gives "allow";
    # "keyring" only the providers uv has
    form: str = ""


# Every option rezup understands, in pip's spelling and in uv's, in one table. The long name
# without its dashes is also the key of pip's files and, upper-cased with "_", of its PIP_*
# variables. A pip setting not listed is dropped with a warning.
_OPTIONS: dict[str, _Option] = {
    "-i": _Option(True, "--index-url", _INDEX, ("UV_INDEX_URL",)),
    "--index-url": _Option(True, "--index-url", _INDEX, ("UV_INDEX_URL",)),
    "--extra-index-url": _Option(True, "--extra-index-url", _INDEX, ("UV_EXTRA_INDEX_URL",),
                                 "list"),
    "--default-index": _Option(True, "--default-index", _INDEX | _UV, ("UV_DEFAULT_INDEX",)),
    "--index": _Option(True, "--index", _INDEX | _UV, ("UV_INDEX",), "list"),
    "-f": _Option(True, "--find-links", _INDEX | _PATH, ("UV_FIND_LINKS",), "list,"),
    "--find-links": _Option(True, "--find-links", _INDEX | _PATH, ("UV_FIND_LINKS",), "list,"),
    "--no-index": _Option(False, "--no-index", _INDEX, (), "option"),
    "--trusted-host": _Option(True, "--allow-insecure-host", _INDEX, ("UV_INSECURE_HOST",),
                              "list"),
    "--allow-insecure-host": _Option(True, "--allow-insecure-host", _INDEX | _UV,
                                     ("UV_INSECURE_HOST",), "list"),
    "--index-strategy": _Option(True, "--index-strategy", _INDEX | _UV, ("UV_INDEX_STRATEGY",)),
    "--keyring-provider": _Option(True, "--keyring-provider", _INDEX, ("UV_KEYRING_PROVIDER",),
                                  "keyring"),
    "--pre": _Option(False, "--prerelease=allow", _NONE, ("UV_PRERELEASE",), "pre"),
    "--prerelease": _Option(True, "--prerelease", _UV, ("UV_PRERELEASE",)),
    "-c": _Option(True, "--constraint", _PATH, ("UV_CONSTRAINT",), "list"),
    "--constraint": _Option(True, "--constraint", _PATH, ("UV_CONSTRAINT",), "list"),
    "--override": _Option(True, "--override", _PATH | _UV, ("UV_OVERRIDE",), "list"),
    "-r": _Option(True, "--requirement", _PATH),
    "--requirement": _Option(True, "--requirement", _PATH),
    "--no-binary": _Option(True, "--no-binary"),
    "--only-binary": _Option(True, "--only-binary"),
    "--no-build-isolation": _Option(False, "--no-build-isolation", _NONE,
                                    ("UV_NO_BUILD_ISOLATION",), "flag"),
    "--no-cache-dir": _Option(False, "--no-cache", _NONE, ("UV_NO_CACHE",), "flag"),
    # settings uv takes from variables only
    "--timeout": _Option(True, None, _NONE, ("UV_HTTP_TIMEOUT",)),
    "--default-timeout": _Option(True, None, _NONE, ("UV_HTTP_TIMEOUT",)),
    "--retries": _Option(True, None, _NONE, ("UV_HTTP_RETRIES",)),
    "--proxy": _Option(True, None, _NONE, ("HTTP_PROXY", "HTTPS_PROXY")),
    "--cert": _Option(True, None, _PATH, ("SSL_CERT_FILE",)),
    "--client-cert": _Option(True, None, _PATH, ("SSL_CLIENT_CERT",)),
    # pip options uv has no use for
    "--prefer-binary": _Option(False, None),
    "--disable-pip-version-check": _Option(False, None, _QUIET),
    "--no-warn-script-location": _Option(False, None, _QUIET),
    "--no-python-version-warning": _Option(False, None, _QUIET),
    "--no-warn-conflicts": _Option(False, None, _QUIET),
    "--no-input": _Option(False, None, _QUIET),
    "--no-color": _Option(False, None, _QUIET),
    "--isolated": _Option(False, None, _QUIET),
    "--require-virtualenv": _Option(False, None, _QUIET),
    "--root-user-action": _Option(True, None, _QUIET),
    "--progress-bar": _Option(True, None, _QUIET),
    "--cache-dir": _Option(True, None, _QUIET),  # uv keeps its own cache
    "--exists-action": _Option(True, None, _QUIET),
    "--log": _Option(True, None, _QUIET),
    "--python": _Option(True, None, _QUIET),  # the recipe says which Python
    "-q": _Option(False, None, _QUIET),
    "--quiet": _Option(False, None, _QUIET),
    "-v": _Option(False, None, _QUIET),
    "--verbose": _Option(False, None, _QUIET),
}

# Variables that name one setting between them: setting one of them counts for all.
_SAME_SETTING: dict[str, str] = {
    "UV_DEFAULT_INDEX": "UV_INDEX_URL",
    "UV_INDEX": "UV_EXTRA_INDEX_URL",
}


def takes_value(option: str) -> bool:
    """Whether ``option`` (without ``=value``) is followed by a value of its own."""
    return option in _OPTIONS and _OPTIONS[option].takes_value


def iter_options(options: Sequence[str]) -> Iterator[tuple[str, list[str]]]:
    """Group option tokens: yields (option name, its tokens: itself and its value if any)."""
    tokens = list(options)
    index = 0
    while index < len(tokens):
        name = tokens[index].split("=", 1)[0]
        count = 2 if takes_value(name) and "=" not in tokens[index] else 1
        yield name, tokens[index : index + count]
        index += count


def _kinds(name: str) -> frozenset[str]:
    known = _OPTIONS.get(name)
    return known.kinds if known else _NONE


@dataclass
class Translation:
    """pip settings in uv's terms."""

    options: list[str] = field(default_factory=list)  # uv command-line options
    env: dict[str, str] = field(default_factory=dict)  # uv's variables
    dropped: list[str] = field(default_factory=list)  # what uv cannot use, as the user wrote it
    missing: list[tuple[str, str]] = field(default_factory=list)  # (setting, location) gone


def translate_pip_options(options: Sequence[str], base_dir: Optional[str] = None) -> Translation:
    """Turn pip command-line options (a recipe's ``[pip] options``) into uv's.

    Accepts both ``--opt value`` and ``--opt=value``. An option uv has only a variable for
    (``--timeout``, ``--cert``, ...) goes into ``env``. Anything unknown is dropped, so a recipe
    written for pip never breaks a uv build; the caller warns once with the list. ``base_dir``
    anchors relative paths that go into ``env`` (options are anchored by
    ``anchor_option_paths``).
    """
    result = Translation()
    for name, tokens in iter_options(options):
        known = _OPTIONS.get(name)
        value = tokens[0].partition("=")[2] if "=" in tokens[0] else None
        if known and known.takes_value and value is None:
            if len(tokens) < 2:  # a value-taking option with nothing after it
                result.dropped.append(tokens[0])
                continue
            value = tokens[1]
        if known is None or (known.uv is None and not known.env) or (
                known.form == "keyring" and _convert(value or "", known, None) is None):
            result.dropped.append(" ".join(tokens))
        elif known.uv is None:  # uv takes it from variables only
            result.env.update(dict.fromkeys(known.env, _anchored(value or "", known, base_dir)))
        else:
            result.options.append(known.uv)
            if known.takes_value:
                result.options.append(value or "")
    return result


def translate_pip_env(env: Mapping[str, str], base_dir: Optional[str] = None) -> Translation:
    """Turn ``PIP_*`` variables (a recipe's ``[pip] env``) into uv's terms.

    Variables that are not pip's are passed through as they are. ``dropped`` lists the names
    of the ``PIP_*`` variables uv cannot use (cosmetic ones included).
    """
    passed = {key: value for key, value in env.items() if not key.startswith("PIP_")}
    names = {key[len("PIP_"):].lower().replace("_", "-"): key
             for key in env if key.startswith("PIP_")}
    result = translate_pip_config({key: env[name] for key, name in names.items()}, base_dir,
                                  quiet=False)
    return Translation(result.options, {**passed, **result.env},
                       [names[key] for key in result.dropped])


def translate_pip_config(
    settings: Mapping[str, str],
    base_dir: Optional[str] = None,
    *,
    quiet: bool = True,
    check_locations: bool = False,
) -> Translation:
    """Turn pip settings, by pip's name (``index-url``, as in pip's files), into uv's terms.

    Values are written as in pip's files: lists are whitespace-separated, booleans are
    ``true``/``1``/``yes``/... Cosmetic settings are left out without a word when ``quiet``.
    With ``check_locations``, a find-links folder or a ``file://`` index that does not exist is
    left out (and listed in ``missing``): pip ignores such a location, uv would fail on it.
    """
    result = Translation()
    for key, value in settings.items():
        known = _OPTIONS.get("--" + key)
        if known is None or "uv" in known.kinds or not (known.env or known.form == "option"):
            if not (quiet and known is not None and "quiet" in known.kinds):
                result.dropped.append(key)
            continue
        if check_locations and "index" in known.kinds:
            value, gone = _existing_locations(value, known, base_dir)
            result.missing.extend((key, location) for location in gone)
            if not value:
                continue
        converted = _convert(value, known, base_dir)
        if converted is None:
            result.dropped.append(key)
        elif converted and known.form == "option":
            result.options.append(known.uv or "")
        elif converted:
            result.env.update(dict.fromkeys(known.env, converted))
    return result


_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f", ""})


def _convert(value: str, known: _Option, base_dir: Optional[str]) -> Optional[str]:
    """A pip file value as the value of uv's variable: "" for nothing to set, None if invalid."""
    form = known.form
    if form in ("flag", "option", "pre"):
        word = value.strip().lower()
        if word not in _TRUE | _FALSE:
            return None
        if word in _FALSE:
            return ""
        return {"flag": "1", "option": "1", "pre": "allow"}[form]
    if form == "keyring":
        provider = value.strip().lower()
        return provider if provider in ("subprocess", "disabled") else None
    if form.startswith("list"):
        items = [_anchored(item, known, base_dir) for item in value.split()]
        return ("," if form == "list," else " ").join(items)
    return _anchored(value.strip(), known, base_dir)


def _anchored(value: str, known: _Option, base_dir: Optional[str]) -> str:
    """A relative path of a path-taking setting, made absolute from ``base_dir``."""
    if base_dir is None or "path" not in known.kinds or _is_url(value) or not value:
        return value
    from rezup.layout import anchor_path

    return anchor_path(value, base_dir)


def _is_url(value: str) -> bool:
    scheme = urlparse(value).scheme
    return len(scheme) > 1 and "://" in value  # "C:\\wheels" is a path


def _existing_locations(value: str, known: _Option, base_dir: Optional[str]
                        ) -> tuple[str, list[str]]:
    """``value`` without the local locations that do not exist, and those left out."""
    kept: list[str] = []
    gone: list[str] = []
    for item in value.split() if known.form.startswith("list") else [value.strip()]:
        path = _local_path(item, known, base_dir)
        (gone if path is not None and not os.path.exists(path) else kept).append(item)
    return " ".join(kept), gone


def _local_path(location: str, known: _Option, base_dir: Optional[str]) -> Optional[str]:
    """The local path a location names (a ``file:`` URL, or a path for find-links), else None."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        from urllib.request import url2pathname

        return url2pathname(unquote(parsed.path))
    if _is_url(location) or "path" not in known.kinds:
        return None
    return _anchored(location, known, base_dir or os.getcwd())


def setting_names(options: Sequence[str], env: Iterable[str]) -> set[str]:
    """The settings that ``options`` and variables named ``env`` give a value, by uv variable
    (one name per setting: ``UV_DEFAULT_INDEX`` counts as ``UV_INDEX_URL``, ...); an option
    uv has no variable for counts by its own uv spelling (``--no-index``)."""
    names = {_setting_of(name) for name in env}
    for name, _ in iter_options(options):
        known = _OPTIONS.get(name)
        if known is None:
            continue
        names.update(_setting_of(variable) for variable in known.env)
        if not known.env and known.uv:
            names.add(known.uv)
    return names


def without_settings(env: Mapping[str, str], names: set[str]) -> dict[str, str]:
    """``env`` less the variables that set one of the settings ``names``."""
    return {key: value for key, value in env.items() if _setting_of(key) not in names}


def not_set_in(env: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """``env`` less what ``environ`` (the process environment) sets already, by setting: a
    ``UV_DEFAULT_INDEX`` there keeps a translated ``UV_INDEX_URL`` out; proxies count in
    either case."""
    present = {_setting_of(key) for key, value in environ.items() if value}
    return {key: value for key, value in env.items() if _setting_of(key) not in present}


def _setting_of(variable: str) -> str:
    name = variable.upper() if variable.lower() in ("http_proxy", "https_proxy") else variable
    return _SAME_SETTING.get(name, name)


# --------------------------------------------------------------------------------------------
# Index locations, for downloads that must authenticate the way uv does


# uv's variables that name indexes or find-links locations, and how each separates them
_LOCATION_VARIABLES = {"UV_INDEX_URL": None, "UV_DEFAULT_INDEX": None,
                       "UV_EXTRA_INDEX_URL": " ", "UV_INDEX": " ", "UV_FIND_LINKS": ","}


def index_locations(options: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """Every index and find-links location uv would use with ``options`` and ``env`` (the
    process environment with the plan's variables over it), as written: ``NAME=URL`` too."""
    found: list[str] = []
    for name, tokens in iter_options(options):
        known = _OPTIONS.get(name)
        if known and "index" in known.kinds and known.takes_value and known.env and (
                known.env[0] in _LOCATION_VARIABLES):
            found.append(tokens[0].partition("=")[2] if "=" in tokens[0] else tokens[-1])
    for variable, separator in _LOCATION_VARIABLES.items():
        value = env.get(variable, "")
        found.extend([value] if separator is None else
                     value.split() if separator == " " else value.split(separator))
    return [location.strip() for location in found if location.strip()]


def option_values(options: Sequence[str], env: Mapping[str, str], variable: str) -> list[str]:
    """The values ``options`` and ``env`` give the setting of uv's ``variable`` (whitespace
    lists split), options first: e.g. the insecure hosts, or the keyring provider."""
    found: list[str] = []
    for name, tokens in iter_options(options):
        known = _OPTIONS.get(name)
        if known and known.uv and variable in known.env and known.takes_value:
            found.extend((tokens[0].partition("=")[2] if "=" in tokens[0]
                          else tokens[-1]).split())
    found.extend(env.get(variable, "").split())
    return found


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
        from rezup.credentials import redact

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
    log.debug("%s: uv exited %d after %.2fs", what, process.returncode,
              time.monotonic() - started)
    if stderr and log.isEnabledFor(logging.DEBUG):
        sys.stderr.write(stderr)
    if process.returncode != 0:
        raise UvError(f"{what} failed: {summarize_uv_error(stderr)}")
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
def helper_process(args: Sequence[str], *, env: Optional[Mapping[str, str]] = None,
                   **popen: object) -> Iterator[subprocess.Popen]:
    """A process that works for a build beside uv (a bytecode compiler), treated as uv's own:
    it holds the build lock's descriptor as uv does (``inheriting_fd``), ``stop_running``
    stops it, and it is killed if the block is left by an exception."""
    full_env = dict(os.environ)
    full_env.pop("VIRTUAL_ENV", None)
    if env:
        full_env.update(env)
    process = subprocess.Popen(
        list(args), env=full_env, cwd=tempfile.gettempdir(),
        pass_fds=tuple(sorted(_inherited_fds)) if os.name != "nt" else (),
        **popen,  # type: ignore[arg-type]
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
    from rezup.credentials import redact

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


def split_index_options(options: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split uv options into (index options, all others), keeping values with their option."""
    index: list[str] = []
    other: list[str] = []
    for name, tokens in iter_options(options):
        (index if "index" in _kinds(name) else other).extend(tokens)
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
        if "path" not in _kinds(name):
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
    path: Path, python: str, *, seed: bool = True, options: Sequence[str] = (), env=None
) -> None:
    """``uv venv``: a fresh venv at ``path``.

    With ``seed`` it is seeded with pip (and setuptools and wheel before Python 3.12) from the
    index of ``options``, as plans of earlier rezup versions need. Without it, nothing is
    asked of any index: the plan pins the seed packages and they are installed with the rest.
    """
    args = ["venv", "--no-project", "--quiet", "--python", python, "--no-python-downloads"]
    if seed:
        index, _ = split_index_options(options)
        args = [*args, "--seed", *index]
    run([*args, str(path)], env=env, what=f"creating venv {path.name}")


def pip_install(
    python: Path,
    requirements_file: Path,
    *,
    options: Sequence[str] = (),
    env=None,
    what: str = "installing",
    target: Optional[Path] = None,
    on_line: Optional[Callable[[str], None]] = None,
    compile_bytecode: bool = True,
    cache_first: bool = False,
) -> None:
    """``uv pip install --no-deps`` of a fully pinned requirements file.

    ``cache_first``: try ``--offline`` first, and ask the index only if uv's cache lacks
    something. For pins resolved moments ago against the same cache (``add``) or pulled
    before: the index pages uv would ask for again are the ones it has, and a wheel in the
    cache is checked against the pinned hash all the same (uv records a file's hash when it
    downloads it).

    The file comes from ``uv pip compile``: the whole closure is pinned, so there is nothing
    left to resolve and ``--no-deps`` skips a second resolution. ``compile_bytecode`` has uv
    compile what it installed; without it uv compiles nothing, whatever ``UV_COMPILE_BYTECODE``
    or a uv.toml say (a revision's venvs are compiled by ``rezup.bytecode`` instead, which
    reuses an earlier revision's bytecode).
    """
    args = [
        "pip", "install", *_quiet_unless(on_line), "--no-deps",
        "--compile-bytecode" if compile_bytecode else "--no-compile-bytecode",
        "--python", str(python), "-r", str(requirements_file),
    ]
    if target is not None:
        args += ["--target", str(target)]
    # uv refuses --no-compile-bytecode beside the variable, whatever its value
    unset = () if compile_bytecode else ("UV_COMPILE_BYTECODE",)
    if cache_first and not {"--offline", "--no-index"} & set(options):
        try:
            run([*args, *options, "--offline"], env=env, what=what, on_line=on_line,
                unset=unset)
            return
        except UvError as exc:
            log.debug("%s: not everything is in uv's cache (%s); asking the index", what, exc)
    run([*args, *options], env=env, what=what, on_line=on_line, unset=unset)


def pip_compile(
    requirements: str,
    python: str,
    *,
    options: Sequence[str] = (),
    env=None,
    what: str = "resolving",
    on_line: Optional[Callable[[str], None]] = None,
) -> str:
    """``uv pip compile`` the requirements text for ``python``; return the pinned text."""
    args = [
        "pip", "compile", "-", *_quiet_unless(on_line), "--no-header", "--no-annotate",
        "--generate-hashes", "--python", python, "--no-python-downloads",
    ]
    return run([*args, *options], env=env, input_text=requirements, what=what,
               on_line=on_line)


def _quiet_unless(on_line: Optional[Callable[[str], None]]) -> list[str]:
    """``--quiet`` when nobody listens to uv's progress lines."""
    return ["--quiet"] if on_line is None else []


def find_python(request: str, *, env: Optional[Mapping[str, str]] = None) -> str:
    """Absolute path of the interpreter uv picks for ``request`` (version or path)."""
    out = run(
        ["python", "find", "--no-project", "--no-python-downloads", request],
        env=env, what=f"finding Python {request}",
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
