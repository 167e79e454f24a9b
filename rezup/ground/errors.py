"""The error model: one base class, a few kinds, each mapped to an exit status by the CLI.

Every message is written to stand alone on one line after ``rezup: error:``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import IntEnum
from typing import Optional, Union


class ExitStatus(IntEnum):
    """How ``rezup`` exits. ``rezup use NAME -- CMD`` exits with CMD's own code instead."""

    SUCCESS = 0
    ERROR = 1  # something failed: a build, a pull, a lock, the filesystem
    USAGE = 2  # the command line or a recipe asks for something that cannot be done
    CANNOT_EXECUTE = 126  # the command exists but could not be run
    COMMAND_NOT_FOUND = 127
    INTERRUPTED = 130  # Ctrl-C, SIGTERM or SIGHUP


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP (Ctrl-C, or a farm scheduler cancelling a job) while rezup
    works or waits: raised by rezup's own signal handlers, so that what was being written is
    removed on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def interrupted_line(signum: int) -> str:
    """The one line rezup writes when a signal stops it (it then exits 128 + ``signum``)."""
    import signal

    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    return "rezup: interrupted\n" if name == "SIGINT" else f"rezup: interrupted by {name}\n"


class RezupError(Exception):
    """Base of every error rezup reports to the user."""

    exit_status = ExitStatus.ERROR

    @property
    def exit_code(self) -> int:
        return int(self.exit_status)


class RecipeError(RezupError):
    """A recipe file is unreadable, not valid TOML, or does not follow the schema."""

    exit_status = ExitStatus.USAGE


class UsageError(RezupError):
    """The command line asks for something that cannot be done (bad name, bad combination)."""

    exit_status = ExitStatus.USAGE


class BuildError(RezupError):
    """Planning or building a revision failed."""


class UvError(BuildError):
    """A uv command failed; the message carries uv's own words.

    ``what`` is the step (``resolving venv 'rez'``) and ``detail`` uv's words, for a uv that
    ran and failed (``WHAT failed: DETAIL``, see ``failed``); for one that did not run or
    answer, ``what`` is empty and ``detail`` the whole message.
    """

    def __init__(self, message: str, *, what: str = "", detail: Optional[str] = None) -> None:
        super().__init__(message)
        self.what = what
        self.detail = message if detail is None else detail

    @classmethod
    def failed(cls, what: str, detail: str) -> UvError:
        """``WHAT failed: DETAIL``: uv ran and said ``detail``."""
        return cls(f"{what} failed: {detail}", what=what, detail=detail)


class ContainerError(RezupError):
    """A container or revision is missing, broken, or in the wrong state for the request."""


class RemoteRootError(ContainerError):
    """The remote root (a shared filesystem) cannot be read."""


class RevisionGoneError(ContainerError):
    """The revision to enter is being removed, or was just now (a drop, a prune)."""


class LockError(RezupError):
    """A lock could not be taken in time."""


class FilesystemError(RezupError):
    """Reading or writing a file failed (a full disk, a read-only root, a permission)."""


def describe_os_error(exc: OSError, path: Optional[object] = None) -> str:
    """``No space left on device (/the/path)``: the reason and the path, on one line."""
    where = exc.filename if exc.filename else path
    return f"{exc.strerror or exc}" + (f" ({where})" if where else "")


MESSAGE_LIMIT = 400  # characters of an error message (a recipe value may be megabytes)


def shorten(text: str, limit: int = 80) -> str:
    """``text`` cut in the middle to at most ``limit`` characters."""
    if len(text) <= limit:
        return text
    head = (limit - 5) * 2 // 3
    return f"{text[:head]} ... {text[len(text) - (limit - 5 - head) :]}"


def quoted(value: object, limit: int = 60) -> str:
    """``repr(value)``, shortened: how an error message quotes a value from a recipe."""
    return shorten(repr(value), limit)


def one_line(exc: BaseException) -> str:
    """Any error as the one line rezup prints: an OSError with its path, else its message;
    on one line, and cut to a readable length."""
    text = describe_os_error(exc) if isinstance(exc, OSError) else (str(exc) or type(exc).__name__)
    return message_line(text)


def message_line(text: str) -> str:
    """``text`` on one line, cut to ``MESSAGE_LIMIT`` characters."""
    return shorten(" ".join(text.split()), MESSAGE_LIMIT)


@contextlib.contextmanager
def step(what: str, path: Optional[Union[str, object]] = None) -> Iterator[None]:
    """Turn an OSError raised while doing ``what`` into a FilesystemError that names the step
    and the path (the one the OS names, else ``path``)."""
    try:
        yield
    except OSError as exc:
        raise FilesystemError(f"{what}: {describe_os_error(exc, path)}") from exc


def describe_type(value: object) -> str:
    """How an error message names the type of a value read from TOML or JSON."""
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
        type(None): "nothing",
    }
    for kind, name in names.items():  # bool before int: True is an int too
        if isinstance(value, kind):
            return name
    return type(value).__name__
