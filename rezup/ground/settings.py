"""Settings read from the environment: each ``REZUP_*`` value is parsed in one place."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Optional

from rezup.ground.errors import UsageError


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
        raise UsageError(f"{name} must be a number of seconds (0 or more), got {value!r}")
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
        raise UsageError(
            f"{what}: not a duration (write e.g. 90, 45s, 10m, 12h, 30d or 2w): {text[:40]!r}"
        )
    return seconds


def clean_after() -> float | None:
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
    raise UsageError(f"{name} must be 1 or 0 (yes or no), got {os.environ[name]!r}")


def background_allowed() -> bool:
    """Whether a build may leave work to a process that outlives the command (the seed
    packages' bytecode, see ``venv_install.compile_seeds_later``): not with
    ``REZUP_NO_BACKGROUND=1`` (``add --no-background``), for image builds and scripts that
    copy or remove a root right after the command."""
    return not flag_from_env(NO_BACKGROUND)


@contextlib.contextmanager
def setting(name: str, value: Optional[str]) -> Iterator[None]:
    """``$NAME`` set to ``value`` meanwhile (left alone when None): a command-line flag that
    stands for a setting, seen by every step of the command and the processes it starts."""
    if value is None:
        yield
        return
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved
