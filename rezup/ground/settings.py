"""Settings read from the environment: each ``REZUP_*`` value is parsed in one place."""

from __future__ import annotations

import os

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
