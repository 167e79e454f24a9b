"""The commands that enter a container: ``use``, and ``add``, which builds a revision first."""

from __future__ import annotations

import logging
import os
from typing import Optional

import click

from rezup.cli.command_kit import (
    CONTEXT_SETTINGS,
    NAME,
    CommandWithCommand,
    examples,
    no_command,
)
from rezup.cli.completion import complete_revisions
from rezup.ground.errors import RezupError, UsageError
from rezup.ground.paths import DEFAULT_CONTAINER, check_container_name
from rezup.ground.settings import NO_BACKGROUND, setting

log = logging.getLogger("rezup")


@click.command(
    cls=CommandWithCommand,
    context_settings=CONTEXT_SETTINGS,
    short_help="Enter a container's newest revision, or run a command in it.",
    epilog=examples(
        ("rezup use foo", "interactive sub-shell in foo; `exit` to leave"),
        ("rezup use foo -- rez-env bar", "run a command, exit with its exit code"),
        ("rezup use foo --do job.sh", "run a script through the shell"),
        ("rezup use foo --do 'echo $REZUP_REVISION'", "... or a quoted command line"),
        ("rezup use foo --no-wait -- render.sh", "start it and return at once"),
        ("rezup use foo --revision 1700000000.5", "enter an earlier revision"),
        ("rezup use foo --local -- cmd", "ignore the remote root"),
    ),
)
@NAME
@click.option("--local", "local_only", is_flag=True, help="Ignore the remote root.")
@click.option(
    "--revision",
    metavar="TIMESTAMP",
    shell_complete=complete_revisions,
    help="Enter this revision (a rollback); a remote one is pulled first.",
)
@click.option(
    "--no-wait",
    is_flag=True,
    help="Start the command or script and return at once (not for a shell).",
)
@click.option(
    "--do",
    "script",
    metavar="SCRIPT",
    help="Run a script file or a quoted command line through the shell.",
)
@click.pass_context
def use(
    ctx: click.Context,
    name: str,
    local_only: bool,
    revision: Optional[str],
    no_wait: bool,
    script: Optional[str],
) -> None:
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
        raise UsageError(
            "--no-wait needs a command (-- CMD) or --do SCRIPT: a shell cannot "
            "run in the background"
        )
    if script is not None:
        _check_script(script)
    ctx.exit(
        use_container(
            name,
            local_only=local_only,
            revision=revision,
            wait=not no_wait,
            script=script,
            command=command,
            auto_create=name == DEFAULT_CONTAINER,
        )
    )


def _check_script(script: str) -> None:
    """A ``--do`` value that names a file (no spaces; a path or a script's extension) must
    be there; anything else is a command line for the shell."""
    if not script.strip():
        raise UsageError("--do needs a script or a command line")
    looks_like_file = " " not in script.strip() and (
        os.sep in script
        or "/" in script
        or script.lower().endswith((".sh", ".bash", ".zsh", ".csh", ".bat", ".cmd", ".ps1", ".py"))
    )
    if looks_like_file and not os.path.isfile(script):
        raise UsageError(f"--do: script not found: {script}")


def use_container(
    name: str,
    *,
    local_only: bool,
    revision: Optional[str],
    wait: bool,
    script: Optional[str],
    command: list[str],
    auto_create: bool,
) -> int:
    """Enter the revision of container ``name`` that ``rezup use`` (or a bare ``rezup``,
    with ``auto_create``) enters; return the exit status."""
    from rezup.ground.errors import RevisionGoneError
    from rezup.operations import add, use
    from rezup.runtime.session import refuse_nested_session

    check_container_name(name)
    if not command and script is None:
        refuse_nested_session()
    for attempt in (1, 2):  # a revision removed between the choice and the claim: choose again
        chosen, using_remote = use.revision_for_use(name, local_only=local_only, revision=revision)
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


@click.command(
    cls=CommandWithCommand,
    context_settings=CONTEXT_SETTINGS,
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
        ("rezup add --skip-use --no-background", "nothing left running (image builds)"),
    ),
)
@NAME
@click.option(
    "-f",
    "--file",
    "recipe_file",
    type=click.Path(dir_okay=False),
    help="Recipe file to use instead of ~/rezup[.NAME].toml.",
)
@click.option(
    "--python",
    metavar="VERSION|PATH",
    help="Python of the venvs, instead of the recipe's (a version or a path).",
)
@click.option("--skip-use", is_flag=True, help="Only build; do not enter the new revision.")
@click.option("--dry-run", is_flag=True, help="Print the pinned plan and build nothing.")
@click.option(
    "--remote",
    is_flag=True,
    help="Publish the revision (recipe and plan, no venv) to the remote root.",
)
@click.option(
    "--wheels",
    is_flag=True,
    help="With --remote: store a wheel of every pin, so pulls need no index.",
)
@click.option(
    "--no-background",
    is_flag=True,
    help="Finish all the work before returning: no bytecode compiled in the background "
    "(for image builds and scripts that copy the root). Also: REZUP_NO_BACKGROUND=1.",
)
@click.pass_context
def add(
    ctx: click.Context,
    name: str,
    recipe_file: Optional[str],
    python: Optional[str],
    skip_use: bool,
    dry_run: bool,
    remote: bool,
    wheels: bool,
    no_background: bool,
) -> None:
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
    with setting(NO_BACKGROUND, "1" if no_background else None):  # for the pull of --remote too
        result = add_operation.add(
            name, recipe_file, remote=remote, wheels=wheels, dry_run=dry_run, python=python
        )
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
