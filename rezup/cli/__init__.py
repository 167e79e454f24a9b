"""The ``rezup`` command line: parse, call an operation, turn errors into one-line messages.

``main(argv, env)`` runs in process and returns an ``ExitStatus`` (tests call it so); ``run``
is what the console script calls (through ``rezup.entry``), and exits. The commands are in
``commands``, what is printed to stderr in ``console``, shell completion in ``completion``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Optional

import click

from rezup.ground.errors import (
    ExitStatus,
    Interrupted,
    RezupError,
    interrupted_line,
    message_line,
    one_line,
)
from rezup.runtime.session import split_command

# rezup's own flags, accepted anywhere before `--` (`rezup status -D` as `rezup -D status`)
_QUIET, _VERBOSE, _DEBUG = ("-q", "--quiet"), ("-v", "--verbose"), ("-D", "--debug")


def global_flags(own: list[str]) -> tuple[list[str], int, bool]:
    """``own`` with rezup's output flags moved to the front (where click reads them), the
    verbosity they ask for (-1 quiet, 0, 1, 2), and whether debugging is on."""
    flags, rest = [], []
    verbosity, debug = 0, False
    for arg in own:
        short_run = (
            arg.startswith("-")
            and not arg.startswith("--")
            and len(arg) > 2
            and set(arg[1:]) <= {"q", "v", "D"}
        )
        if arg in (*_QUIET, *_VERBOSE, *_DEBUG) or short_run:
            flags.append(arg)
            letters = (
                arg[1:]
                if short_run
                else {"--quiet": "q", "--verbose": "v", "--debug": "D"}.get(arg, arg[1:])
            )
            verbosity += letters.count("v") - letters.count("q")
            debug = debug or "D" in letters
        else:
            rest.append(arg)
    return [*flags, *rest], max(-1, min(2, verbosity)), debug


@contextlib.contextmanager
def _environment(env: Optional[Mapping[str, str]]) -> Iterator[None]:
    """Run with ``env`` as the process environment (restored afterwards), if given."""
    if env is None:
        yield
        return
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main(argv: Optional[list[str]] = None, env: Optional[Mapping[str, str]] = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) in process.

    ``env`` replaces the process environment for the call. Returns rezup's ExitStatus, or the
    exit code of the command it ran; errors are printed as one line on stderr.
    """
    from rezup.cli import console

    args = list(sys.argv[1:] if argv is None else argv)
    own, command = split_command(args)
    own, verbosity, debug = global_flags(own)
    console.setup(verbosity, debug)
    try:
        with _environment(env), _signals_interrupt():
            return _main(own, command, debug)
    finally:
        console.teardown()


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """While rezup works, SIGINT, SIGTERM and SIGHUP all interrupt it the same way: its uv
    processes are stopped, what it was writing is removed, and it exits 128 + the signal's
    number (130 for Ctrl-C)."""
    import signal
    import threading

    names = [name for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)]
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, _frame) -> None:
        from rezup.tools import uv_process

        uv_process.stop_running()
        raise Interrupted(signum)

    saved = {name: signal.signal(getattr(signal, name), interrupt) for name in names}
    try:
        yield
    finally:
        for name, handler in saved.items():
            signal.signal(getattr(signal, name), handler)


def _main(own: list[str], command: list[str], debug: bool) -> int:
    from rezup.cli.commands import cli

    try:
        # click's own main() would turn an interruption into a bare "Aborted!"
        with cli.make_context("rezup", list(own), obj={"command": command}) as ctx:
            code = cli.invoke(ctx)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        sys.stderr.write(f"rezup: error: {message_line(exc.format_message())}\n")
        code = ExitStatus.USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    except click.exceptions.Abort:
        sys.stderr.write("rezup: aborted\n")
        code = ExitStatus.INTERRUPTED
    except (RezupError, OSError) as exc:
        if debug:
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"rezup: error: {one_line(exc)}\n")
        code = exc.exit_status if isinstance(exc, RezupError) else ExitStatus.ERROR
    except Interrupted as exc:
        _end_terminal_line()
        sys.stderr.write(interrupted_line(exc.signum))
        code = 128 + exc.signum
    except KeyboardInterrupt:
        from rezup.tools import uv_process

        uv_process.stop_running()
        _end_terminal_line()
        sys.stderr.write(interrupted_line(2))
        code = ExitStatus.INTERRUPTED
    except Exception as exc:  # a bug: keep the promise of one line unless --debug
        if debug:
            raise
        sys.stderr.write(
            f"rezup: error: internal error: {type(exc).__name__}: "
            f"{one_line(exc)} (run with --debug for the traceback)\n"
        )
        code = ExitStatus.ERROR
    if not isinstance(code, int):
        return ExitStatus.SUCCESS
    return ExitStatus(code) if code in ExitStatus._value2member_map_ else code


def _end_terminal_line() -> None:
    """After a ^C typed on a terminal, start the message on a line of its own."""
    if sys.stderr.isatty():
        sys.stderr.write("\n")


def run() -> None:
    """Console entry point of the full command line: exits with ``main``'s status.

    While it works, it holds the environment lock shared, so an auto-upgrade by another rezup
    never swaps files under it. A shell asking for completions is answered instead.
    """
    from rezup.cli.completion import COMPLETE_VAR

    if os.environ.get(COMPLETE_VAR):
        from rezup.cli.commands import cli
        from rezup.cli.completion import complete

        sys.exit(complete(cli))
    from rezup.operations.upgrade import hold_environment

    with hold_environment():
        code = int(main())
    sys.exit(code)


__all__ = ["main", "run"]
