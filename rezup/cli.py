"""The ``rezup`` command line: parse, call an operation, turn errors into one-line messages.

No logic lives here that a Python user of the API would also need; that is in the operations.
``main(argv, env)`` runs in process and returns an ``ExitStatus`` (tests call it so); ``run``
is what the console script calls, and exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any, Callable, Optional

import click

from rezup import __version__
from rezup.errors import ExitStatus, RezupError, UsageError, message_line, one_line
from rezup.layout import DEFAULT_CONTAINER, check_container_name
from rezup.session import split_command

log = logging.getLogger("rezup")

EXAMPLES = """\b
Examples:
  rezup                          enter the default container (.main); build it on first use
  rezup use foo                  enter container foo in a sub-shell
  rezup use foo -- rez-env bar   run a command in container foo, exit with its code
  rezup use foo --do job.sh      run a script (or a quoted command line) through the shell
  rezup add                      build a new revision of .main from ~/rezup.toml and enter it
  rezup add foo --skip-use       build a new revision of foo from ~/rezup.foo.toml
  rezup add --dry-run            print the pinned plan, build nothing
  rezup add foo --remote         publish a revision of foo to the remote root for every machine
  rezup use foo --revision 1700000000.5 -- job.sh   run a job in an earlier revision
  rezup status --json            containers and revisions, as JSON
  rezup diff foo                 what changed between the last two revisions of foo
  rezup inspect foo              recipe, pins, environment, paths and size of a revision
  rezup prune --keep 3           remove all but the newest 3 revisions of every container
  rezup drop foo                 remove container foo (what is in use goes once free)
"""


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            return f"rezup: warning: {message}"
        if record.levelno <= logging.DEBUG:
            return f"rezup: debug: {message}"
        return f"rezup: {message}"


def setup_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if debug else logging.INFO)
    log.propagate = False


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(invoke_without_command=True, context_settings=CONTEXT_SETTINGS, epilog=EXAMPLES)
@click.version_option(__version__, "-V", "--version", prog_name="rezup",
                      message="%(prog)s %(version)s")
@click.option("-D", "--debug", is_flag=True, help="Show debug logs and tracebacks.")
@click.option("--no-upgrade", is_flag=True,
              help="Do not look for a newer rezup this time (or set REZUP_NO_UPGRADE=1).")
@click.option("-L", "--latest", is_flag=True, is_eager=True, expose_value=False,
              callback=lambda ctx, _param, value: _print_latest(ctx) if value else None,
              help="Print the newest rezup to be had, and exit.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, no_upgrade: bool) -> None:
    """Rez launching environment manager.

    A container holds revisions, each a set of venvs with Rez installed production style.
    `rezup use NAME` enters the newest ready revision, so a new one can be published while
    running sessions keep theirs.
    """
    ctx.ensure_object(dict)
    if ctx.invoked_subcommand is None:
        ctx.exit(_use(DEFAULT_CONTAINER, local_only=False, revision=None, wait=True,
                      script=None, command=ctx.obj.get("command", []), auto_create=True))


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("name", default=DEFAULT_CONTAINER, metavar="[NAME]")
@click.option("--local", "local_only", is_flag=True, help="Ignore the remote root.")
@click.option("--revision", metavar="TIMESTAMP",
              help="Enter this revision (a rollback); a remote one is pulled first.")
@click.option("--no-wait", is_flag=True, help="Start the command or script and return at once.")
@click.option("--do", "script", metavar="SCRIPT",
              help="Run a script file or a quoted command line through the shell.")
@click.pass_context
def use(ctx: click.Context, name: str, local_only: bool, revision: Optional[str],
        no_wait: bool, script: Optional[str]) -> None:
    """Enter the newest ready revision of container NAME (default: .main).

    \b
    rezup use NAME                 interactive sub-shell; `exit` to leave
    rezup use NAME -- CMD ARGS...  run CMD, exit with its exit code
    rezup use NAME --do SCRIPT     run a script or a quoted command line through the shell
    rezup use NAME --revision TS   enter an earlier revision instead of the newest

    The session or job holds a claim on its revision for as long as it runs: prune and drop
    never remove a revision in use.
    """
    command = ctx.obj.get("command", [])
    if command and script:
        raise UsageError("give either --do SCRIPT or -- COMMAND, not both")
    ctx.exit(_use(name, local_only=local_only, revision=revision, wait=not no_wait,
                  script=script, command=command, auto_create=name == DEFAULT_CONTAINER))


def _use(name: str, *, local_only: bool, revision: Optional[str], wait: bool,
         script: Optional[str], command: list[str], auto_create: bool) -> int:
    from rezup.errors import RevisionGoneError
    from rezup.operations import add, use
    from rezup.session import refuse_nested_session

    check_container_name(name)
    refuse_nested_session()
    for attempt in (1, 2):  # a revision removed between the choice and the claim: choose again
        chosen, using_remote = use.revision_for_use(name, local_only=local_only,
                                                    revision=revision)
        if chosen is None:
            if not auto_create:
                local, remote = use.containers_of(name, local_only=local_only)
                raise RezupError(
                    f"container {name!r} has no ready revision in {(remote or local).root()}; "
                    f"create one with: rezup add {name}"
                )
            log.info("no revision of %s yet: creating one", name)
            chosen, using_remote = add.first_revision(name), False
        try:
            return use.enter(chosen, using_remote, command=command, script=script, wait=wait)
        except RevisionGoneError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("name", default=DEFAULT_CONTAINER, metavar="[NAME]")
@click.option("-f", "--file", "recipe_file", type=click.Path(dir_okay=False),
              help="Recipe file to use instead of ~/rezup[.NAME].toml.")
@click.option("--skip-use", is_flag=True, help="Only build; do not enter the new revision.")
@click.option("--dry-run", is_flag=True, help="Print the pinned plan and build nothing.")
@click.option("--remote", is_flag=True,
              help="Publish the revision (recipe and plan, no venv) to the remote root.")
@click.option("--wheels", is_flag=True,
              help="With --remote: store a wheel of every pin, so pulls need no index.")
@click.pass_context
def add(ctx: click.Context, name: str, recipe_file: Optional[str], skip_use: bool,
        dry_run: bool, remote: bool, wheels: bool) -> None:
    """Create a new revision of container NAME (default: .main) from its recipe, then enter it.

    The recipe is ~/rezup.toml for .main and ~/rezup.NAME.toml for NAME (the packaged default
    when that file does not exist), or the file given with --file.
    """
    from rezup.operations import add as add_operation
    from rezup.operations import pull, use
    from rezup.plan import Plan
    from rezup.session import refuse_nested_session

    check_container_name(name)
    if skip_use or dry_run:
        no_command(ctx, "add --skip-use" if skip_use else "add --dry-run")
    else:
        refuse_nested_session()
    result = add_operation.add(name, recipe_file, remote=remote, wheels=wheels, dry_run=dry_run)
    if isinstance(result, Plan):
        click.echo(result.to_text(), nl=False)
        return
    if skip_use:
        return
    revision = result
    if remote:  # enter the local twin, built from the plan just published
        revision = pull.pull(result, add_operation.local_container(name, recipe_file))
    ctx.exit(use.enter(revision, remote, command=ctx.obj.get("command", [])))


def no_command(ctx: click.Context, why: str) -> None:
    """Refuse a ``-- CMD`` that the command would otherwise silently ignore."""
    if ctx.obj.get("command"):
        raise UsageError(f"{why} runs no command; remove the '-- ...' part")


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("name", required=False, metavar="[NAME]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def status(ctx: click.Context, name: Optional[str], as_json: bool) -> None:
    """List containers and their revisions: state, rez and Python versions, whether in use,
    size, and the revision `rezup use` enters."""
    from rezup.operations import status as status_operation

    no_command(ctx, "status")
    statuses = status_operation.collect(name)
    _print({"containers": statuses} if as_json else statuses, as_json, status_operation.render)


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("name")
@click.option("--revision", metavar="TIMESTAMP", help="Drop only this revision.")
@click.pass_context
def drop(ctx: click.Context, name: str, revision: Optional[str]) -> None:
    """Remove container NAME (or one revision of it) from the local root.

    Never removes what is in use: a revision in which a session or job runs is hidden at once
    (nobody new enters it) and removed by a later rezup run (add, prune, drop, a pull) once
    it is free. Refused while a revision is being built. A remote container is left alone.
    """
    from rezup.operations.drop import drop_container, drop_revision
    from rezup.operations.use import containers_of

    no_command(ctx, "drop")
    local, _ = containers_of(check_container_name(name), local_only=True)
    if revision is not None:
        removal = drop_revision(local, revision)
        if removal.removed:
            log.info("dropped revision %s of %s", removal.revision, name)
        else:
            log.warning("revision %s of %s is hidden: nobody new enters it; it is removed "
                        "once free", removal.describe(), name)
        return
    result = drop_container(local)
    if result.gone:
        log.info("dropped container %s", name)
        return
    log.warning("container %s is hidden: nobody new enters it; %s still in use: %s; a later "
                "rezup run (add, prune, drop or a pull) removes the rest once free", name,
                _count(len(result.left), "revision"),
                ", ".join(removal.describe() for removal in result.left))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("name", required=False, metavar="[NAME]")
@click.option("--keep", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many of the newest ready revisions to keep.")
@click.option("--older-than", "older_than", metavar="DURATION",
              help="Remove only revisions older than this (90, 45s, 10m, 12h, 30d, 2w).")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.pass_context
def prune(ctx: click.Context, name: Optional[str], keep: int, older_than: Optional[str],
          dry_run: bool) -> None:
    """Remove old revisions of container NAME (default: every local container).

    Keeps the newest KEEP ready revisions, the one `rezup use` enters, and every revision in
    use or being built (those in use go at a later prune, once free); clears what killed
    builds left. Prints what it removed and the space freed.
    """
    from rezup.operations import prune as prune_operation
    from rezup.settings import parse_duration

    no_command(ctx, "prune")
    seconds = parse_duration(older_than, "--older-than") if older_than is not None else None
    results = prune_operation.prune(name, keep=keep, older_than=seconds, dry_run=dry_run)
    for line in prune_operation.describe(results, dry_run):
        log.info("%s", line)


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("name")
@click.argument("rev_a", required=False, metavar="[REV_A")
@click.argument("rev_b", required=False, metavar="[REV_B]]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def diff(ctx: click.Context, name: str, rev_a: Optional[str], rev_b: Optional[str],
         as_json: bool) -> None:
    """Show what changed between two revisions of container NAME: the recipe, the pinned
    packages of each venv, [env] and dotenv values, and the Python version.

    Default: the previous ready revision against the newest; with REV_A only, REV_A against
    the newest.
    """
    from rezup.operations import diff as diff_operation

    no_command(ctx, "diff")
    result = diff_operation.diff(check_container_name(name), rev_a, rev_b)
    _print(result, as_json, diff_operation.render)


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("name")
@click.argument("revision", required=False, metavar="[REVISION]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def inspect(ctx: click.Context, name: str, revision: Optional[str], as_json: bool) -> None:
    """Show one revision of container NAME (default: the newest ready one): its recipe, pins,
    environment, paths, size and state (ready, in use, incomplete, pulled from remote)."""
    from rezup.operations import inspect as inspect_operation

    no_command(ctx, "inspect")
    info = inspect_operation.inspect(check_container_name(name), revision)
    _print(info, as_json, inspect_operation.render)


def _print(data: Any, as_json: bool, render: Callable[[Any], str]) -> None:
    if as_json:
        import json

        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(render(data), nl=False)


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
    args = list(sys.argv[1:] if argv is None else argv)
    own, command = split_command(args)
    debug = "-D" in own or "--debug" in own
    setup_logging(debug)
    with _environment(env), _signals_interrupt():
        return _main(own, command, debug)


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP (Ctrl-C, or a farm scheduler cancelling a job)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


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
        from rezup import uv

        uv.stop_running()
        raise Interrupted(signum)

    saved = {name: signal.signal(getattr(signal, name), interrupt) for name in names}
    try:
        yield
    finally:
        for name, handler in saved.items():
            signal.signal(getattr(signal, name), handler)


def _main(own: list[str], command: list[str], debug: bool) -> int:
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
        import signal

        name = signal.Signals(exc.signum).name
        _end_terminal_line()
        sys.stderr.write("rezup: interrupted\n" if name == "SIGINT" else
                         f"rezup: interrupted by {name}\n")
        code = 128 + exc.signum
    except KeyboardInterrupt:
        from rezup import uv

        uv.stop_running()
        _end_terminal_line()
        sys.stderr.write("rezup: interrupted\n")
        code = ExitStatus.INTERRUPTED
    except Exception as exc:  # a bug: keep the promise of one line unless --debug
        if debug:
            raise
        sys.stderr.write(f"rezup: error: internal error: {type(exc).__name__}: "
                         f"{one_line(exc)} (run with --debug for the traceback)\n")
        code = ExitStatus.ERROR
    if not isinstance(code, int):
        return ExitStatus.SUCCESS
    return ExitStatus(code) if code in ExitStatus._value2member_map_ else code


def _end_terminal_line() -> None:
    """After a ^C typed on a terminal, start the message on a line of its own."""
    if sys.stderr.isatty():
        sys.stderr.write("\n")


def _print_latest(ctx: click.Context) -> None:
    from rezup.operations.upgrade import latest_message

    click.echo(latest_message())
    ctx.exit(0)


def run() -> None:
    """Console entry point of the full command line: exits with ``main``'s status.

    While it works, it holds the environment lock shared, so an auto-upgrade by another rezup
    never swaps files under it."""
    from rezup.operations.upgrade import hold_environment

    with hold_environment():
        code = int(main())
    sys.exit(code)


if __name__ == "__main__":
    run()
