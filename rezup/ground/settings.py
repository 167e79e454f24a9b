"""Settings read from the environment: each ``REZUP_*`` value is parsed in one place.

On the ``rezup use`` start-up path (``REZUP_REMOTE_TIMEOUT``, ``REZUP_REMOTE_INDEX_MAX_AGE``):
imports only ``os`` at module level; the error type is imported when a value is wrong.
"""

import os

# On the `rezup use` path: no `from __future__ import annotations` (an import of its own,
# ~0.15 ms) and no typing (milliseconds); annotations naming typing's types are strings.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional


def _usage_error(message: str) -> Exception:
    from rezup.ground.errors import UsageError

    return UsageError(message)


def seconds_from_env(name: str, default: float) -> float:
    """A duration setting: ``$NAME`` as a finite number of seconds (0 or more), else ``default``."""
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 <= seconds < float("inf"):  # also refuses nan
        raise _usage_error(f"{name} must be a number of seconds (0 or more), got {value!r}")
    return seconds


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds from ``90``, ``45s``, ``10m``, ``12h``, ``30d`` or ``2w``."""
    value = text.strip().lower()
    number, unit = (value[:-1], value[-1]) if value[-1:] in _UNITS else (value, "s")
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        seconds = float("nan")
    if not number or not 0 <= seconds < float("inf"):
        raise _usage_error(
            f"{what}: not a duration (write e.g. 90, 45s, 10m, 12h, 30d or 2w): {text[:40]!r}"
        )
    return seconds


def clean_after() -> "Optional[float]":
    """``$REZUP_CLEAN_AFTER``: revisions older than this are pruned after an add or a pull."""
    value = os.environ.get("REZUP_CLEAN_AFTER", "")
    return parse_duration(value, "REZUP_CLEAN_AFTER") if value.strip() else None


NO_BACKGROUND = "REZUP_NO_BACKGROUND"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def flag_from_env(name: str) -> bool:
    """An on/off setting: ``$NAME`` as 1/true/yes/on or 0/false/no/off (or unset)."""
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _usage_error(f"{name} must be 1 or 0 (yes or no), got {os.environ[name]!r}")


def background_allowed() -> bool:
    """Whether a build may leave work to a process that outlives the command (the seed
    packages' bytecode, see ``venv_install.compile_seeds_later``): not with
    ``REZUP_NO_BACKGROUND=1`` (``add --no-background``), for image builds and scripts that
    copy or remove a root right after the command."""
    return not flag_from_env(NO_BACKGROUND)


class setting:
    """``$NAME`` set to ``value`` meanwhile (left alone when None): a command-line flag that
    stands for a setting, seen by every step of the command and the processes it starts.
    (A class rather than ``contextlib.contextmanager``: no import on the lean path.)"""

    def __init__(self, name: str, value: "Optional[str]") -> None:
        self._name, self._value = name, value
        self._saved: Optional[str] = None

    def __enter__(self) -> None:
        if self._value is not None:
            self._saved = os.environ.get(self._name)
            os.environ[self._name] = self._value

    def __exit__(self, *exc: object) -> None:
        if self._value is None:
            return
        if self._saved is None:
            os.environ.pop(self._name, None)
        else:
            os.environ[self._name] = self._saved
