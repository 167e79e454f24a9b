"""The commands that report: ``status``, ``diff``, ``inspect`` and ``export``."""

from __future__ import annotations

from typing import Optional

import click

from rezup.cli.command_kit import CONTEXT_SETTINGS, NAME, Command, examples, print_report
from rezup.cli.completion import complete_containers, complete_revisions
from rezup.ground.paths import REZ_VENV, check_container_name


@click.command(
    cls=Command,
    context_settings=CONTEXT_SETTINGS,
    short_help="List containers, their revisions, and what is in use.",
    epilog=examples(
        ("rezup status", "every container this machine knows of"),
        ("rezup status foo", "container foo only"),
        ("rezup status --json", "the same, as JSON"),
    ),
)
@click.argument("name", required=False, metavar="[NAME]", shell_complete=complete_containers)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def status(ctx: click.Context, name: Optional[str], as_json: bool) -> None:
    """List containers and their revisions: paths, description, state, rez and Python
    versions, size, which are in use, the revision `rezup use` enters on this machine, and
    warnings for a remote root that cannot be read or a pull that failed."""
    from rezup.operations import status as status_operation

    statuses = status_operation.collect(name)
    print_report(
        status_operation.as_json(statuses) if as_json else statuses,
        as_json,
        status_operation.render,
    )


@click.command(
    cls=Command,
    context_settings=CONTEXT_SETTINGS,
    short_help="What changed between two revisions of a container.",
    epilog=examples(
        ("rezup diff foo", "the previous ready revision against the newest"),
        ("rezup diff foo 1700000000.5", "that revision against the newest"),
        ("rezup diff foo 1700000000.5 1700000100.2", "one against the other"),
        ("rezup diff foo --json", "as JSON"),
    ),
)
@click.argument("name", shell_complete=complete_containers)
@click.argument("rev_a", required=False, metavar="[REV_A", shell_complete=complete_revisions)
@click.argument("rev_b", required=False, metavar="[REV_B]]", shell_complete=complete_revisions)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def diff(
    ctx: click.Context, name: str, rev_a: Optional[str], rev_b: Optional[str], as_json: bool
) -> None:
    """Show what changed between two revisions of container NAME: the recipe, the pinned
    packages of each venv, [env] and dotenv values, and the Python version."""
    from rezup.operations import diff as diff_operation

    result = diff_operation.diff(check_container_name(name), rev_a, rev_b)
    print_report(result, as_json, diff_operation.render)


@click.command(
    cls=Command,
    context_settings=CONTEXT_SETTINGS,
    short_help="Everything about one revision of a container.",
    epilog=examples(
        ("rezup inspect foo", "the newest ready revision of foo"),
        ("rezup inspect foo 1700000000.5", "that revision"),
        ("rezup inspect foo --json", "as JSON"),
    ),
)
@click.argument("name", shell_complete=complete_containers)
@click.argument("revision", required=False, metavar="[REVISION]", shell_complete=complete_revisions)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def inspect(ctx: click.Context, name: str, revision: Optional[str], as_json: bool) -> None:
    """Show one revision of container NAME (default: the newest ready one): its recipe, pins,
    environment, paths, size and state (ready, in use, incomplete, pulled from remote)."""
    from rezup.operations import inspect as inspect_operation

    info = inspect_operation.inspect(check_container_name(name), revision)
    print_report(info, as_json, inspect_operation.render)


@click.command(
    cls=Command,
    context_settings=CONTEXT_SETTINGS,
    short_help="Print a revision's pins as a standard lock or a requirements file.",
    epilog=examples(
        ("rezup export > pylock.rez.toml", "the rez venv of .main's newest revision"),
        ("rezup export foo 1700000000.5 --venv bar", "that revision's venv bar"),
        ("rezup export foo --format requirements", "pins with hashes (--require-hashes)"),
        ("uv pip install -r pylock.rez.toml", "the same packages in another venv"),
    ),
)
@NAME
@click.argument("revision", required=False, metavar="[REVISION]", shell_complete=complete_revisions)
@click.option(
    "--venv",
    default=REZ_VENV,
    show_default=True,
    help="The venv: rez, or an isolated extension's.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["pylock", "requirements"]),
    default="pylock",
    show_default=True,
    help="pylock: the revision's PEP 751 pylock.VENV.toml; requirements: the pinned lines "
    "with their hashes.",
)
@click.pass_context
def export(
    ctx: click.Context, name: str, revision: Optional[str], venv: str, output_format: str
) -> None:
    """Print the pins of one venv of a revision of container NAME (default: .main; the
    revision `rezup use --local` enters, unless REVISION is given): the standard lock
    (PEP 751) every revision holds, or a requirements file with hashes. Either installs the
    same packages elsewhere: `uv pip install -r FILE` (with --require-hashes for
    requirements)."""
    from rezup.operations import export as export_operation
    from rezup.tools.credentials import redact

    text = export_operation.export(
        check_container_name(name), revision, venv=venv, format=output_format
    )
    click.echo(redact(text), nl=False)
