"""Progress of long steps (resolving, creating venvs, installing, compiling, ...).

The code that does the work says what step it is in; how that is shown is up to the command
line (``rezup.cli.console``): a live line with elapsed times on a terminal, timestamped lines
in a log file, nothing with ``-q``. Steps are log records of the ``rezup`` logger that carry
an ``event``, so a Python user of the API sees them as ordinary info lines.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

log = logging.getLogger("rezup")
_ids = itertools.count(1)


@dataclass
class Step:
    """One step under way: ``note`` says what it is doing now (uv's own progress lines)."""

    text: str
    started: float = field(default_factory=time.monotonic)
    id: int = field(default_factory=lambda: next(_ids))
    detail: str = ""

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def note(self, detail: str) -> None:
        """What the step does now: shown in a terminal's status line, printed with ``-v``."""
        self.detail = detail
        log.info("%s: %s", self.text, detail, extra={"event": ("note", self)})


@contextlib.contextmanager
def step(text: str, done: str = "") -> Iterator[Step]:
    """Report ``text`` while the block runs, then ``done`` (default: ``text``) with the time
    it took, or that it failed (its error then says why)."""
    current = Step(text)
    log.info("%s", text, extra={"event": ("start", current)})
    try:
        yield current
    except BaseException:
        log.info("%s: failed (%.1fs)", text, current.elapsed(), extra={"event": ("fail", current)})
        raise
    log.info("%s (%.1fs)", done or text, current.elapsed(), extra={"event": ("end", current)})
