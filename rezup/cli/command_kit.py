"""What the commands share: their click classes and settings, the container argument, the
checks most of them make, and how a report is printed.
"""

from __future__ import annotations

from typing import Any, Callable

import click

from rezup.cli.completion import complete_containers
from rezup.ground.errors import UsageError
from rezup.ground.paths import DEFAULT_CONTAINER

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Command(click.Command):
    """A rezup command. One that takes no ``-- CMD`` refuses one (it would be silently
    ignored); one that does shows it in its usage line (``[-- CMD ARGS...]``)."""

    takes_command = False

    def invoke(self, ctx: click.Context) -> Any:
        if not self.takes_command:
            no_command(ctx, ctx.info_name or self.name or "this command")
        return super().invoke(ctx)

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
    return "\b\nExamples:\n" + "\n".join(
        f"  {command.ljust(width)}{what}" for command, what in lines
    )


NAME = click.argument(
    "name", default=DEFAULT_CONTAINER, metavar="[NAME]", shell_complete=complete_containers
)


def no_command(ctx: click.Context, why: str) -> None:
    """Refuse a ``-- CMD`` that the command would otherwise silently ignore (every ``Command``
    that takes none does so by itself; ``add`` calls this for ``--skip-use``/``--dry-run``)."""
    if (ctx.obj or {}).get("command"):
        raise UsageError(f"{why} runs no command; remove the '-- ...' part")


def not_the_current_session(name: str, what: str) -> None:
    """Inside a session, the container it runs in is not to be removed from under it."""
    from rezup.runtime.session import current_session

    if current_session() == name:
        raise UsageError(
            f"cannot {what} container {name!r} from inside a session of it; exit the session first"
        )


def print_report(data: Any, as_json: bool, render: Callable[[Any], str]) -> None:
    """Print a report; a password in an index URL of a plan never reaches the screen."""
    from rezup.tools.credentials import redact

    if as_json:
        import json

        click.echo(redact(json.dumps(data, indent=2)))
    else:
        click.echo(redact(render(data)), nl=False)
