"""The commands: click definitions that parse, call one operation, and print its result.

No logic lives here that a Python user of the API would also need; that is in the operations.
This module holds the group and ``completion``; the other commands are in ``enter_commands``
(use, add), ``report_commands`` (status, diff, inspect, export) and ``removal_commands`` (drop,
prune), added here in the order ``rezup -h`` lists them; what they share is ``command_kit``.
"""

from __future__ import annotations

from typing import Any

import click

from rezup import __version__
from rezup.cli import enter_commands, removal_commands, report_commands
from rezup.cli.command_kit import CONTEXT_SETTINGS, Group, examples
from rezup.ground.paths import DEFAULT_CONTAINER


@click.group(
    cls=Group,
    invoke_without_command=True,
    context_settings=CONTEXT_SETTINGS,
    epilog=examples(
        ("rezup", "enter the default container (.main); build it on first use"),
        ("rezup -- rez-env foo", "run a command in .main"),
        ("rezup use foo", "enter container foo in a sub-shell"),
        ("rezup add foo --skip-use", "build a new revision of foo"),
        ("rezup status", "containers, their revisions, what is in use"),
        ("rezup <command> -h", "help and examples of one command"),
    )
    + "\n\nShell completion (container names, revisions): rezup completion -h",
)
@click.version_option(
    __version__, "-V", "--version", prog_name="rezup", message="%(prog)s %(version)s"
)
@click.option("-q", "--quiet", count=True, help="Warnings and errors only.")
@click.option("-v", "--verbose", count=True, help="Also what uv says (-v), and debug lines (-vv).")
@click.option("-D", "--debug", is_flag=True, help="Debug lines, and tracebacks of errors.")
@click.option(
    "--no-upgrade",
    is_flag=True,
    help="Do not look for a newer rezup this time (or set REZUP_NO_UPGRADE=1).",
)
@click.option(
    "-L",
    "--latest",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=lambda ctx, _param, value: _print_latest(ctx) if value else None,
    help="Print the newest rezup to be had, and exit.",
)
@click.pass_context
def cli(ctx: click.Context, **_flags: Any) -> None:
    """Rez launching environment manager.

    A container holds revisions, each a set of venvs with Rez installed production style.
    `rezup use NAME` enters the newest ready revision, so a new one can be published while
    running sessions keep theirs. Without a command, `rezup` is `rezup use .main`.
    """
    ctx.ensure_object(dict)
    if ctx.invoked_subcommand is None:
        ctx.exit(
            enter_commands.use_container(
                DEFAULT_CONTAINER,
                local_only=False,
                revision=None,
                wait=True,
                script=None,
                command=ctx.obj.get("command", []),
                auto_create=True,
            )
        )


def _print_latest(ctx: click.Context) -> None:
    from rezup.operations.upgrade import latest_message

    click.echo(latest_message())
    ctx.exit(0)


for _command in (
    enter_commands.use,
    enter_commands.add,
    report_commands.status,
    removal_commands.drop,
    removal_commands.prune,
    report_commands.diff,
    report_commands.inspect,
    report_commands.export,
):
    cli.add_command(_command)


@cli.command(
    context_settings=CONTEXT_SETTINGS,
    short_help="Print the shell code that completes rezup's commands.",
    epilog=examples(
        ("rezup completion bash >> ~/.bashrc", "bash"),
        ("rezup completion zsh >> ~/.zshrc", "zsh"),
        ("rezup completion fish > ~/.config/fish/completions/rezup.fish", "fish"),
    ),
)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the code that makes SHELL complete rezup's commands, options, container names
    and revision timestamps. Add it to the shell's start-up file (see the examples)."""
    from rezup.cli.completion import source

    click.echo(source(cli, shell), nl=False)
