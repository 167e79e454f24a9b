"""Shell completion: container names and revision timestamps (click drives the rest).

``rezup completion bash|zsh|fish`` prints the shell code; the shell then calls rezup with
``_REZUP_COMPLETE`` set, and these functions answer. They read folder listings only and never
fail: a completion that cannot be answered offers nothing.
"""

from __future__ import annotations

import os
from typing import Any

import click

from rezup.ground import paths, root_settings

COMPLETE_VAR = "_REZUP_COMPLETE"


def container_names() -> list[str]:
    """Every container this machine knows of: by a recipe, or by a folder in a root."""
    from rezup.stages.disk_state import container_names as in_roots
    from rezup.stages.disk_state import recipe_container_names

    roots = [root_settings.local_root()]
    remote = root_settings.remote_root()
    if remote and not root_settings.is_url(remote):  # a web server lists no folders
        roots.append(remote)
    return sorted(in_roots(roots) | recipe_container_names())


def complete_containers(_ctx: click.Context, _param: Any, incomplete: str) -> list[str]:
    try:
        return [name for name in container_names() if name.startswith(incomplete)]
    except Exception:  # completion must never fail
        return []


def complete_revisions(ctx: click.Context, _param: Any, incomplete: str) -> list[str]:
    """Revisions of the container named earlier on the line (default: .main), newest first."""
    try:
        # before an option still waiting for its value, click leaves the words unparsed
        unparsed = [arg for arg in ctx.args if not arg.startswith("-")]
        name = (unparsed[0] if unparsed else ctx.params.get("name")) or paths.DEFAULT_CONTAINER
        local, remote = root_settings.container_roots(name)
        found: dict[str, None] = {}
        for root in filter(None, (local, None if root_settings.is_url(remote) else remote)):
            with_names = paths.revision_names(paths.revisions_dir(root, name))
            found.update(dict.fromkeys(with_names))
        return [stamp for stamp in found if stamp.startswith(incomplete)]
    except Exception:  # completion must never fail
        return []


def source(cli: click.Command, shell: str) -> str:
    """The code that makes ``shell`` complete rezup."""
    from click.shell_completion import get_completion_class

    completion_class = get_completion_class(shell)
    assert completion_class is not None
    return completion_class(cli, {}, "rezup", COMPLETE_VAR).source()


def complete(cli: click.Command) -> int:
    """Answer the shell (``_REZUP_COMPLETE`` is set); return the exit status."""
    from click.shell_completion import shell_complete

    instruction = os.environ.get(COMPLETE_VAR, "")
    return shell_complete(cli, {}, "rezup", COMPLETE_VAR, instruction)


__all__ = [
    "COMPLETE_VAR",
    "complete",
    "complete_containers",
    "complete_revisions",
    "container_names",
    "source",
]
