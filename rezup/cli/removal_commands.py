"""The commands that remove: ``drop`` and ``prune``."""

from __future__ import annotations

import logging
from typing import Optional

import click

from rezup.cli.command_kit import (
    CONTEXT_SETTINGS,
    Command,
    examples,
    not_the_current_session,
)
from rezup.cli.completion import complete_containers, complete_revisions
from rezup.ground.paths import check_container_name
from rezup.ground.wording import plural

log = logging.getLogger("rezup")


@click.command(
    cls=Command,
    context_settings=CONTEXT_SETTINGS,
    short_help="Remove a local container, or one revision of it.",
    epilog=examples(
        ("rezup drop foo", "remove container foo"),
        ("rezup drop foo --revision 1700000000.5", "remove one revision of foo"),
    ),
)
@click.argument("name", shell_complete=complete_containers)
@click.option(
    "--revision",
    metavar="TIMESTAMP",
    shell_complete=complete_revisions,
    help="Drop only this revision.",
)
@click.pass_context
def drop(ctx: click.Context, name: str, revision: Optional[str]) -> None:
    """Remove container NAME (or one revision of it) from the local root.

    Never removes what is in use: a revision in which a session or job runs is hidden at once
    (nobody new enters it) and removed by a later rezup run (add, prune, drop, a pull) once
    it is free. Refused while a revision is being built. A remote container is left alone.
    """
    from rezup.operations.drop import drop_container, drop_revision
    from rezup.operations.use import containers_of

    check_container_name(name)
    not_the_current_session(name, "drop")
    local, _ = containers_of(name, local_only=True)
    if revision is not None:
        removal = drop_revision(local, revision)
        if removal.removed:
            log.info("dropped revision %s of %s", removal.revision, name)
        else:
            log.warning(
                "revision %s of %s is hidden: nobody new enters it; it is removed once free",
                removal.describe(),
                name,
            )
        return
    result = drop_container(local)
    if result.gone:
        log.info("dropped container %s", name)
        return
    log.warning(
        "container %s is hidden: nobody new enters it; %s still in use: %s; a later "
        "rezup run (add, prune, drop or a pull) removes the rest once free",
        name,
        plural(len(result.left), "revision"),
        ", ".join(removal.describe() for removal in result.left),
    )


@click.command(
    cls=Command,
    context_settings=CONTEXT_SETTINGS,
    short_help="Remove old revisions (never one in use).",
    epilog=examples(
        ("rezup prune", "keep the newest ready revision of every container"),
        ("rezup prune foo --keep 3", "keep foo's newest three"),
        ("rezup prune --older-than 30d", "only revisions older than 30 days"),
        ("rezup prune --dry-run", "say what would go"),
    ),
)
@click.argument("name", required=False, metavar="[NAME]", shell_complete=complete_containers)
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="How many of the newest ready revisions to keep.",
)
@click.option(
    "--older-than",
    "older_than",
    metavar="DURATION",
    help="Remove only revisions older than this (90, 45s, 10m, 12h, 30d, 2w).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.pass_context
def prune(
    ctx: click.Context, name: Optional[str], keep: int, older_than: Optional[str], dry_run: bool
) -> None:
    """Remove old revisions of container NAME (default: every local container).

    Keeps the newest KEEP ready revisions, the one `rezup use` enters, and every revision in
    use or being built (those in use go at a later prune, once free); clears what killed
    builds left. Prints what it removed and the space freed.
    """
    from rezup.ground.settings import parse_duration
    from rezup.operations import prune as prune_operation

    if name is not None:
        not_the_current_session(check_container_name(name), "prune")
    seconds = parse_duration(older_than, "--older-than") if older_than is not None else None
    results = prune_operation.prune(name, keep=keep, older_than=seconds, dry_run=dry_run)
    for line in prune_operation.describe(results, dry_run):
        log.info("%s", line)
