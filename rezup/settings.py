"""Settings read from the environment: each ``REZUP_*`` value is parsed in one place."""

from __future__ import annotations

import os

from rezup.errors import UsageError


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
