"""The ``rezup`` command line: parse, call the stages, turn errors into one-line messages.

No logic lives here that a Python user of the API would also need; that is in ``manage``,
``session`` and ``status``.
"""

from __future__ import annotations

import logging
import sys
from typing import Optional

import click

from rezup import __version__
from rezup.errors import RezupError, UsageError
from rezup.recipe import DEFAULT_CONTAINER_NAME

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
  rezup status --json            containers and revisions, as JSON
  rezup drop foo                 remove container foo
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
@click.option("--no-upgrade", is_flag=True, hidden=True,
              help="Accepted for compatibility with rezup 2.x wrappers.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, no_upgrade: bool) -> None:
    """Rez launching environment manager.

    A container holds revisions, each a set of venvs with Rez installed production style.
    `rezup use NAME` enters the newest ready revision, so a new one can be published while
    running sessions keep theirs.
    """
    ctx.ensure_object(dict)
    if ctx.invoked_subcommand is None:
        ctx.exit(_use(DEFAULT_CONTAINER_NAME, local_only=False, wait=True, script=None,
                      command=ctx.obj.get("command", []), auto_create=True))


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("name", default=DEFAULT_CONTAINER_NAME, metavar="[NAME]")
@click.option("--local", "local_only", is_flag=True, help="Ignore the remote root.")
@click.option("--no-wait", is_flag=True, help="Start the command or script and return at once.")
@click.option("--do", "script", metavar="SCRIPT",
              help="Run a script file or a quoted command line through the shell.")
@click.pass_context
def use(ctx: click.Context, name: str, local_only: bool, no_wait: bool,
        script: Optional[str]) -> None:
    """Enter the newest ready revision of container NAME (default: .main).

    \b
    rezup use NAME                 interactive sub-shell; `exit` to leave
    rezup use NAME -- CMD ARGS...  run CMD, exit with its exit code
    rezup use NAME --do SCRIPT     run a script or a quoted command line through the shell
    """
    command = ctx.obj.get("command", [])
    if command and script:
        raise UsageError("give either --do SCRIPT or -- COMMAND, not both")
    ctx.exit(_use(name, local_only=local_only, wait=not no_wait, script=script,
                  command=command, auto_create=name == DEFAULT_CONTAINER_NAME))


def _use(name: str, *, local_only: bool, wait: bool, script: Optional[str],
         command: list[str], auto_create: bool) -> int:
    from rezup import manage, session
    from rezup.recipe import validate_container_name

    validate_container_name(name)
    session.refuse_nested_session()
    revision, using_remote = manage.revision_for_use(name, local_only=local_only)
    if revision is None:
        if not auto_create:
            from rezup.container import Container

            raise RezupError(
                f"container {name!r} has no ready revision in "
                f"{Container(name, force_local=local_only).root()}; "
                f"create one with: rezup add {name}"
            )
        log.info("no revision of %s yet: creating one", name)
        revision, using_remote = manage.first_revision(name), False
    return session.run(revision, using_remote, command=command, script=script, wait=wait)


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("name", default=DEFAULT_CONTAINER_NAME, metavar="[NAME]")
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
    from rezup import manage, session
    from rezup.recipe import validate_container_name

    validate_container_name(name)
    if skip_use or dry_run:
        no_command(ctx, "add --skip-use" if skip_use else "add --dry-run")
    else:
        session.refuse_nested_session()
    result = manage.add(name, recipe_file, remote=remote, wheels=wheels, dry_run=dry_run)
    if dry_run:
        click.echo(result.to_text(), nl=False)
        return
    if skip_use:
        return
    revision = result
    if remote:  # enter the local twin, built from the plan just published
        revision = manage.pull(result, manage.local_container(name, recipe_file))
    ctx.exit(session.run(revision, remote, command=ctx.obj.get("command", [])))


def no_command(ctx: click.Context, why: str) -> None:
    """Refuse a ``-- CMD`` that the command would otherwise silently ignore."""
    if ctx.obj.get("command"):
        raise UsageError(f"{why} runs no command; remove the '-- ...' part")


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("name", required=False, metavar="[NAME]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def status(ctx: click.Context, name: Optional[str], as_json: bool) -> None:
    """List containers, their revisions (ready or not), rez versions and roots."""
    from rezup import status as status_module

    no_command(ctx, "status")
    statuses = status_module.collect(name)
    if as_json:
        import json

        click.echo(json.dumps({"containers": statuses}, indent=2))
    else:
        click.echo(status_module.render(statuses), nl=False)


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("name")
@click.pass_context
def drop(ctx: click.Context, name: str) -> None:
    """Remove container NAME from the local root (refused while a revision is being built).

    A remote container is left alone: remove it from the remote root by hand once no machine
    needs it.
    """
    from rezup import manage
    from rezup.container import Container

    no_command(ctx, "drop")
    manage.drop_container(Container(name, force_local=True))
    log.info("dropped container %s", name)


def split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """Split ``argv`` at the first ``--``: rezup's own arguments, and the user's command."""
    if "--" in argv:
        index = argv.index("--")
        return argv[:index], argv[index + 1:]
    return argv, []


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point of the ``rezup`` script: exits with rezup's or the command's exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    own, command = split_command(args)
    debug = "-D" in own or "--debug" in own
    setup_logging(debug)
    try:
        code = cli.main(args=own, prog_name="rezup", standalone_mode=False,
                        obj={"command": command})
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        sys.stderr.write(f"rezup: error: {exc.format_message()}\n")
        code = 2 if isinstance(exc, click.UsageError) else exc.exit_code
    except click.exceptions.Abort:
        sys.stderr.write("rezup: aborted\n")
        code = 130
    except (RezupError, OSError) as exc:
        if debug:
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"rezup: error: {exc}\n")
        code = exc.exit_code if isinstance(exc, RezupError) else 1
    except KeyboardInterrupt:
        sys.stderr.write("rezup: interrupted\n")
        code = 130
    except Exception as exc:  # a bug: keep the promise of one line unless --debug
        if debug:
            raise
        sys.stderr.write(f"rezup: error: internal error: {type(exc).__name__}: {exc} "
                         "(run with --debug for the traceback)\n")
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
