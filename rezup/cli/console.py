"""What rezup writes to stderr: log lines and the progress of steps.

On a terminal, the steps under way share one live status line (what runs, for how long, and
uv's latest word), redrawn a few times a second; finished steps and other messages are
printed above it. Without a terminal (a farm log), every line is plain and timestamped.
``-q`` shows warnings and errors only; ``-v`` adds what uv says; ``-vv`` or ``-D`` adds debug
lines.
"""

from __future__ import annotations

import logging
import shutil
import sys
import threading
import time
from typing import Any, Optional, TextIO

from rezup.ground.progress import Step

log = logging.getLogger("rezup")

_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def _prefix(record: logging.LogRecord) -> str:
    if record.levelno >= logging.ERROR:
        return "rezup: error: "
    if record.levelno >= logging.WARNING:
        return "rezup: warning: "
    if record.levelno <= logging.DEBUG:
        return "rezup: debug: "
    return "rezup: "


class PlainHandler(logging.Handler):
    """One line a record; info lines carry the time (a farm log says when each step ran)."""

    def __init__(self, stream: TextIO, timestamps: bool, show_notes: bool) -> None:
        super().__init__()
        self.stream = stream
        self.timestamps = timestamps
        self.show_notes = show_notes

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "event", None)
        if event is not None and event[0] == "note" and not self.show_notes:
            return
        try:
            stamp = (
                time.strftime("[%H:%M:%S] ")
                if self.timestamps and logging.DEBUG < record.levelno < logging.WARNING
                else ""
            )
            text = (
                f"  {event[1].detail}"
                if event is not None and event[0] == "note"
                else record.getMessage()
            )
            self.stream.write(f"{_prefix(record)}{stamp}{text}\n")
            self.stream.flush()
        except Exception:  # printing must never fail the command
            self.handleError(record)


class TerminalHandler(logging.Handler):
    """Messages above a live status line of the steps under way."""

    def __init__(self, stream: TextIO, show_notes: bool) -> None:
        super().__init__()
        self.stream = stream
        self.show_notes = show_notes
        self.active: dict[int, Step] = {}
        self.frame = 0
        self.drawn = False
        self._ticker: Optional[threading.Thread] = None
        assert self.lock is not None  # made by logging.Handler.__init__
        self._emit_lock = self.lock  # handle() runs emit() under it

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "event", None)
        try:
            if event is None:
                self._print(f"{_prefix(record)}{record.getMessage()}")
            elif event[0] == "start":
                self.active[event[1].id] = event[1]
                self._start_ticker()
            elif event[0] == "note":
                if self.show_notes:
                    self._print(f"rezup:   {event[1].detail}")
            else:
                self.active.pop(event[1].id, None)
                mark = "✓" if event[0] == "end" else "✗"
                self._print(f"rezup: {mark} {record.getMessage()}")
            self._draw()
        except Exception:  # printing must never fail the command
            self.handleError(record)

    def _print(self, line: str) -> None:
        self._clear()
        self.stream.write(line + "\n")

    def _clear(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[2K")
            self.drawn = False

    def _draw(self) -> None:
        self._clear()
        if self.active:
            width = shutil.get_terminal_size((100, 24)).columns - 1
            parts = [
                f"{step.text} {step.elapsed():.1f}s" + (f" ({step.detail})" if step.detail else "")
                for step in self.active.values()
            ]
            line = f"{_SPINNER[self.frame % len(_SPINNER)]} " + " · ".join(parts)
            self.stream.write(line[:width])
            self.drawn = True
        self.stream.flush()

    def _start_ticker(self) -> None:
        if self._ticker is not None and self._ticker.is_alive():
            return
        self._ticker = threading.Thread(target=self._tick, name="rezup-progress", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while True:
            time.sleep(0.1)
            with self._emit_lock:  # the same lock emit() runs under
                if not self.active:
                    self._clear()
                    self.stream.flush()
                    return
                self.frame += 1
                self._draw()

    def close(self) -> None:
        with self._emit_lock:
            self.active.clear()
            self._clear()
            self.stream.flush()
        super().close()


def setup(verbosity: int, debug: bool, stream: Optional[TextIO] = None) -> None:
    """Route the ``rezup`` logger to ``stream`` (stderr) for this run of the command line.

    ``verbosity``: -1 for ``-q``, 0 by default, 1 for ``-v``, 2 for ``-vv``.
    """
    stream = stream or sys.stderr
    level = (
        logging.DEBUG
        if debug or verbosity >= 2
        else logging.WARNING
        if verbosity < 0
        else logging.INFO
    )
    handler: logging.Handler
    if _is_terminal(stream):
        handler = TerminalHandler(stream, show_notes=verbosity >= 1)
    else:
        handler = PlainHandler(stream, timestamps=True, show_notes=verbosity >= 1)
    for old in log.handlers:
        old.close()
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def teardown() -> None:
    """Clear the status line (before rezup prints its last line, or execs a command)."""
    for handler in log.handlers:
        if isinstance(handler, TerminalHandler):
            handler.close()


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
