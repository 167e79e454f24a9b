"""The commands: click definitions that parse, call one operation, and print its result.

No logic lives here that a Python user of the API would also need; that is in the operations.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Optional

import click

from rezup import __version__
from rezup.cli.completion import complete_containers, complete_revisions
from rezup.ground.errors import RezupError, UsageError
from rezup.ground.paths import DEFAULT_CONTAINER, check_container_name
from rezup.ground.wording import plural

log = logging.getLogger("rezup")

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Command(click.Command):
    """A command whose usage line shows the command it may run (``[-- CMD ARGS...]``)."""

    takes_command = False

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [*pieces, "[-- CMD ARGS...]"] if self.takes_command else pieces


class CommandWithCommand(Command):
    takes_command = True


class Group(click.Group):
    command_class = Command

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [*super().collect_usage_pieces(ctx), "[-- CMD ARGS...]"]


def examples(*lines: tuple[str, str]) -> str:
    """An epilog of examples, aligned (``\\b`` keeps click from rewrapping them)."""
    width = max(len(command) for command, _ in lines) + 2
    return "\b\nExamples:\n" + "\n".join(f"  {command.ljust(width)}{what}"
                                          for command, what in lines)


@click.group(cls=Group, invoke_without_command=True, context_settings=CONTEXT_SETTINGS,
             epilog=examples(
                 ("rezup", "enter the default container (.main); build it on first use"),
                 ("rezup -- rez-env foo", "run a command in .main"),
                 ("rezup use foo", "enter container foo in a sub-shell"),
                 ("rezup add foo --skip-use", "build a new revision of foo"),
                 ("rezup status", "containers, their revisions, what is in use"),
                 ("rezup <command> -h", "help and examples of one command"),
             ) + "\n\nShell completion (container names, revisions): rezup completion -h")
@click.version_option(__version__, "-V", "--version", prog_name="rezup",
                      message="%(prog)s %(version)s")
@click.option("-q", "--quiet", count=True, help="Warnings and errors only.")
@click.option("-v", "--verbose", count=True,
              help="Also what uv says (-v), and debug lines (-vv).")
@click.option("-D", "--debug", is_flag=True, help="Debug lines, and tracebacks of errors.")
@click.option("--no-upgrade", is_flag=True,
              help="Do not look for a newer rezup this time (or set REZUP_NO_UPGRADE=1).")
@click.option("-L", "--latest", is_flag=True, is_eager=True, expose_value=False,
              callback=lambda ctx, _param, value: _print_latest(ctx) if value else None,
              help="Print the newest rezup to be had, and exit.")
@click.pass_context
def cli(ctx: click.Context, **_flags: Any) -> None:
    """Rez launching environment manager.

    A container holds revisions, each a set of venvs with Rez installed production style.
    `rezup use NAME` enters the newest ready revision, so a new one can be published while
    running sessions keep theirs. Without a command, `rezup` is `rezup use .main`.
    """
    ctx.ensure_object(dict)
    if ctx.invoked_subcommand is None:
        ctx.exit(_use(DEFAULT_CONTAINER, local_only=False, revision=None, wait=True,
                      script=None, command=ctx.obj.get("command", []), auto_create=True))


def _print_latest(ctx: click.Context) -> None:
    from rezup.operations.upgrade import latest_message

    click.echo(latest_message())
    ctx.exit(0)


NAME = click.argument("name", default=DEFAULT_CONTAINER, metavar="[NAME]",
                      shell_complete=complete_containers)


@cli.command(cls=CommandWithCommand, context_settings=CONTEXT_SETTINGS,
             short_help="Enter a container's newest revision, or run a command in it.",
             epilog=examples(
                 ("rezup use foo", "interactive sub-shell in foo; `exit` to leave"),
                 ("rezup use foo -- rez-env bar", "run a command, exit with its exit code"),
                 ("rezup use foo --do job.sh", "run a script through the shell"),
                 ("rezup use foo --do 'echo $REZUP_REVISION'", "... or a quoted command line"),
                 ("rezup use foo --no-wait -- render.sh", "start it and return at once"),
                 ("rezup use foo --revision 1700000000.5", "enter an earlier revision"),
                 ("rezup use foo --local -- cmd", "ignore the remote root"),
             ))
@NAME
@click.option("--local", "local_only", is_flag=True, help="Ignore the remote root.")
@click.option("--revision", metavar="TIMESTAMP", shell_complete=complete_revisions,
              help="Enter this revision (a rollback); a remote one is pulled first.")
@click.option("--no-wait", is_flag=True,
              help="Start the command or script and return at once (not for a shell).")
@click.option("--do", "script", metavar="SCRIPT",
              help="Run a script file or a quoted command line through the shell.")
@click.pass_context
def use(ctx: click.Context, name: str, local_only: bool, revision: Optional[str],
        no_wait: bool, script: Optional[str]) -> None:
    """Enter the newest ready revision of container NAME (default: .main): an interactive
    shell, a command given after `--`, or a script (`--do`).

    A remote revision not pulled here yet is pulled first. The session or job holds a claim on
    its revision for as long as it runs: prune and drop never remove a revision in use.
    Inside a session, a command or a script may run in any container; a shell may not.
    """
    command = ctx.obj.get("command", [])
    if command and script:
        raise UsageError("give either --do SCRIPT or -- COMMAND, not both")
    if no_wait and not (command or script):
        raise UsageError("--no-wait needs a command (-- CMD) or --do SCRIPT: a shell cannot "
                         "run in the background")
    if script is not None:
        _check_script(script)
    ctx.exit(_use(name, local_only=local_only, revision=revision, wait=not no_wait,
                  script=script, command=command, auto_create=name == DEFAULT_CONTAINER))


def _check_script(script: str) -> None:
    """A ``--do`` value that names a file (no spaces; a path or a script's extension) must
    be there; anything else is a command line for the shell."""
    if not script.strip():
        raise UsageError("--do needs a script or a command line")
    looks_like_file = " " not in script.strip() and (
        os.sep in script or "/" in script or
        script.lower().endswith((".sh", ".bash", ".zsh", ".csh", ".bat", ".cmd", ".ps1",
                                 ".py")))
    if looks_like_file and not os.path.isfile(script):
        raise UsageError(f"--do: script not found: {script}")


def _use(name: str, *, local_only: bool, revision: Optional[str], wait: bool,
         script: Optional[str], command: list[str], auto_create: bool) -> int:
    from rezup.ground.errors import RevisionGoneError
    from rezup.operations import add, use
    from rezup.runtime.session import refuse_nested_session

    check_container_name(name)
    if not command and script is None:
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


@cli.command(cls=CommandWithCommand, context_settings=CONTEXT_SETTINGS,
             short_help="Make a new revision of a container from its recipe.",
             epilog=examples(
                 ("rezup add", "new revision of .main from ~/rezup.toml, then enter it"),
                 ("rezup add foo --skip-use", "new revision of foo from ~/rezup.foo.toml"),
                 ("rezup add foo -- rez --version", "build, then run a command in it"),
                 ("rezup add --file team.toml", "use that recipe file"),
                 ("rezup add --python 3.12", "build with Python 3.12 (a version or a path)"),
                 ("rezup add --dry-run", "print the pinned plan, build nothing"),
                 ("rezup add farm --remote", "publish to the remote root, for every machine"),
                 ("rezup add farm --remote --wheels", "... with a wheel of every pin"),
             ))
@NAME
@click.option("-f", "--file", "recipe_file", type=click.Path(dir_okay=False),
              help="Recipe file to use instead of ~/rezup[.NAME].toml.")
@click.option("--python", metavar="VERSION|PATH",
              help="Python of the venvs, instead of the recipe's (a version or a path).")
@click.option("--skip-use", is_flag=True, help="Only build; do not enter the new revision.")
@click.option("--dry-run", is_flag=True, help="Print the pinned plan and build nothing.")
@click.option("--remote", is_flag=True,
              help="Publish the revision (recipe and plan, no venv) to the remote root.")
@click.option("--wheels", is_flag=True,
              help="With --remote: store a wheel of every pin, so pulls need no index.")
@click.pass_context
def add(ctx: click.Context, name: str, recipe_file: Optional[str], python: Optional[str],
        skip_use: bool, dry_run: bool, remote: bool, wheels: bool) -> None:
    """Make a new revision of container NAME (default: .main) from its recipe, then enter it.

    The recipe is ~/rezup.toml for .main and ~/rezup.NAME.toml for NAME (the packaged default
    when that file does not exist), or the file given with --file. It is resolved (every
    package pinned), built into a new revision, and entered like `rezup use` does.
    """
    from rezup.operations import add as add_operation
    from rezup.operations import pull, use
    from rezup.runtime.session import refuse_nested_session
    from rezup.stages.plan import Plan

    check_container_name(name)
    command = ctx.obj.get("command", [])
    if skip_use or dry_run:
        no_command(ctx, "add --skip-use" if skip_use else "add --dry-run")
    elif not command:
        refuse_nested_session()  # it would start a shell
    result = add_operation.add(name, recipe_file, remote=remote, wheels=wheels,
                               dry_run=dry_run, python=python)
    if isinstance(result, Plan):
        from rezup.tools.credentials import redact

        click.echo(redact(result.to_text()), nl=False)
        return
    if skip_use:
        return
    revision = result
    if remote:  # enter the local twin, built from the plan just published
        revision = pull.pull(result, add_operation.local_container(name, recipe_file))
    ctx.exit(use.enter(revision, remote, command=command))


def no_command(ctx: click.Context, why: str) -> None:
    """Refuse a ``-- CMD`` that the command would otherwise silently ignore."""
    if ctx.obj.get("command"):
        raise UsageError(f"{why} runs no command; remove the '-- ...' part")


def not_the_current_session(name: str, what: str) -> None:
    """Inside a session, the container it runs in is not to be removed from under it."""
    from rezup.runtime.session import current_session

    if current_session() == name:
        raise UsageError(f"cannot {what} container {name!r} from inside a session of it; "
                         "exit the session first")


@cli.command(context_settings=CONTEXT_SETTINGS,
             short_help="List containers, their revisions, and what is in use.",
             epilog=examples(
                 ("rezup status", "every container this machine knows of"),
                 ("rezup status foo", "container foo only"),
                 ("rezup status --json", "the same, as JSON"),
             ))
@click.argument("name", required=False, metavar="[NAME]", shell_complete=complete_containers)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def status(ctx: click.Context, name: Optional[str], as_json: bool) -> None:
    """List containers and their revisions: paths, description, state, rez and Python
    versions, size, which are in use, the revision `rezup use` enters on this machine, and
    warnings for a remote root that cannot be read or a pull that failed."""
    from rezup.operations import status as status_operation

    no_command(ctx, "status")
    statuses = status_operation.collect(name)
    _print(status_operation.as_json(statuses) if as_json else statuses, as_json,
           status_operation.render)


@cli.command(context_settings=CONTEXT_SETTINGS,
             short_help="Remove a local container, or one revision of it.",
             epilog=examples(
                 ("rezup drop foo", "remove container foo"),
                 ("rezup drop foo --revision 1700000000.5", "remove one revision of foo"),
             ))
@click.argument("name", shell_complete=complete_containers)
@click.option("--revision", metavar="TIMESTAMP", shell_complete=complete_revisions,
              help="Drop only this revision.")
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
    check_container_name(name)
    not_the_current_session(name, "drop")
    local, _ = containers_of(name, local_only=True)
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
                plural(len(result.left), "revision"),
                ", ".join(removal.describe() for removal in result.left))


@cli.command(context_settings=CONTEXT_SETTINGS,
             short_help="Remove old revisions (never one in use).",
             epilog=examples(
                 ("rezup prune", "keep the newest ready revision of every container"),
                 ("rezup prune foo --keep 3", "keep foo's newest three"),
                 ("rezup prune --older-than 30d", "only revisions older than 30 days"),
                 ("rezup prune --dry-run", "say what would go"),
             ))
@click.argument("name", required=False, metavar="[NAME]", shell_complete=complete_containers)
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
    from rezup.ground.settings import parse_duration
    from rezup.operations import prune as prune_operation

    no_command(ctx, "prune")
    if name is not None:
        not_the_current_session(check_container_name(name), "prune")
    seconds = parse_duration(older_than, "--older-than") if older_than is not None else None
    results = prune_operation.prune(name, keep=keep, older_than=seconds, dry_run=dry_run)
    for line in prune_operation.describe(results, dry_run):
        log.info("%s", line)


@cli.command(context_settings=CONTEXT_SETTINGS,
             short_help="What changed between two revisions of a container.",
             epilog=examples(
                 ("rezup diff foo", "the previous ready revision against the newest"),
                 ("rezup diff foo 1700000000.5", "that revision against the newest"),
                 ("rezup diff foo 1700000000.5 1700000100.2", "one against the other"),
                 ("rezup diff foo --json", "as JSON"),
             ))
@click.argument("name", shell_complete=complete_containers)
@click.argument("rev_a", required=False, metavar="[REV_A", shell_complete=complete_revisions)
@click.argument("rev_b", required=False, metavar="[REV_B]]", shell_complete=complete_revisions)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def diff(ctx: click.Context, name: str, rev_a: Optional[str], rev_b: Optional[str],
         as_json: bool) -> None:
    """Show what changed between two revisions of container NAME: the recipe, the pinned
    packages of each venv, [env] and dotenv values, and the Python version."""
    from rezup.operations import diff as diff_operation

    no_command(ctx, "diff")
    result = diff_operation.diff(check_container_name(name), rev_a, rev_b)
    _print(result, as_json, diff_operation.render)


@cli.command(context_settings=CONTEXT_SETTINGS,
             short_help="Everything about one revision of a container.",
             epilog=examples(
                 ("rezup inspect foo", "the newest ready revision of foo"),
                 ("rezup inspect foo 1700000000.5", "that revision"),
                 ("rezup inspect foo --json", "as JSON"),
             ))
@click.argument("name", shell_complete=complete_containers)
@click.argument("revision", required=False, metavar="[REVISION]",
                shell_complete=complete_revisions)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def inspect(ctx: click.Context, name: str, revision: Optional[str], as_json: bool) -> None:
    """Show one revision of container NAME (default: the newest ready one): its recipe, pins,
    environment, paths, size and state (ready, in use, incomplete, pulled from remote)."""
    from rezup.operations import inspect as inspect_operation

    no_command(ctx, "inspect")
    info = inspect_operation.inspect(check_container_name(name), revision)
    _print(info, as_json, inspect_operation.render)


@cli.command(context_settings=CONTEXT_SETTINGS,
             short_help="Print the shell code that completes rezup's commands.",
             epilog=examples(
                 ("rezup completion bash >> ~/.bashrc", "bash"),
                 ("rezup completion zsh >> ~/.zshrc", "zsh"),
                 ("rezup completion fish > ~/.config/fish/completions/rezup.fish", "fish"),
             ))
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the code that makes SHELL complete rezup's commands, options, container names
    and revision timestamps. Add it to the shell's start-up file (see the examples)."""
    from rezup.cli.completion import source

    no_command(ctx, "completion")
    click.echo(source(cli, shell), nl=False)


def _print(data: Any, as_json: bool, render: Callable[[Any], str]) -> None:
    """Print a report; a password in an index URL of a plan never reaches the screen."""
    from rezup.tools.credentials import redact

    if as_json:
        import json

        click.echo(redact(json.dumps(data, indent=2)))
    else:
        click.echo(redact(render(data)), nl=False)
