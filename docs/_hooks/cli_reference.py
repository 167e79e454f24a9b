"""mkdocs hook: the command-line reference, generated from rezup's own click commands.

A page that holds the line ``<!-- rezup-cli -->`` gets, in its place, one section per command:
its usage, its help and the help text click prints for ``rezup COMMAND -h`` (options, examples).
Nothing of it is written by hand, so the page cannot drift from the code.
``tests/unit/test_docs_site.py`` imports this file too (``find_cli_group``, ``render``).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import click

MARKER = "<!-- rezup-cli -->"
WIDTH = 100  # the width rezup's commands format their help for (max_content_width)


def find_cli_group() -> click.Group:
    """rezup's click group: the ``click.Group`` named ``cli`` in a module of ``rezup.cli``
    (found by looking, so moving it between modules of that package changes nothing here)."""
    import rezup.cli

    candidates = [rezup.cli]
    for info in pkgutil.iter_modules(rezup.cli.__path__, "rezup.cli."):
        candidates.append(importlib.import_module(info.name))
    for module in candidates:
        group = getattr(module, "cli", None)
        if isinstance(group, click.Group):
            return group
    raise LookupError("no click group named 'cli' in rezup.cli")


def commands(group: click.Group) -> list[tuple[str, click.Command]]:
    """The group's commands, in the order they are defined (the order of ``rezup -h``)."""
    return [(name, command) for name, command in group.commands.items() if not command.hidden]


def _context(command: click.Command, name: str, parent: Any = None) -> click.Context:
    # the command's own settings (``-h`` beside ``--help``), as ``make_context`` applies them
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    return click.Context(command, info_name=name, parent=parent, **settings)


def _section(title: str, anchor: str, command: click.Command, ctx: click.Context) -> list[str]:
    lead = " ".join((command.help or "").strip().split("\n\n")[0].split())
    lines = [f"## `{title}` {{#{anchor}}}", ""]
    if lead:
        lines += [lead, ""]
    lines += ["```text", command.get_help(ctx).rstrip(), "```", ""]
    return lines


def render() -> str:
    """The reference: ``rezup`` itself, then every command, as markdown."""
    group = find_cli_group()
    root = _context(group, "rezup")
    lines = _section("rezup", "rezup", group, root)
    for name, command in commands(group):
        lines += _section(
            f"rezup {name}", f"rezup-{name}", command, _context(command, name, parent=root)
        )
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())
