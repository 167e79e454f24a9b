"""The console entry point, and the lean ``rezup use NAME -- CMD`` path.

``rezup use`` runs before every farm job. For the common case (a ready revision, a command
after ``--``) this module loads only ``layout`` and ``session`` of the package, reads one
small ``revision.json``, and ``exec``\\ s the command. Anything else (a pull, a build, an
interactive shell, an error to explain) is handed to the full command line, which applies the
same rules from the same modules.

Nothing imports this module: it is the top of the package.
"""

from __future__ import annotations

import os
import sys

from rezup import layout, session

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional


def parse_use(argv: list[str]) -> Optional[tuple[str, bool, list[str]]]:
    """``(name, local_only, command)`` if ``argv`` is ``[use [NAME]] [--local] -- CMD...``."""
    own, command = session.split_command(argv)
    if not command:
        return None
    if not own:
        return layout.DEFAULT_CONTAINER, False, command
    if own[0] != "use":
        return None
    local_only = "--local" in own
    rest = [arg for arg in own[1:] if arg != "--local"]
    if len(rest) > 1 or (rest and rest[0].startswith("-")):
        return None
    name = rest[0] if rest else layout.DEFAULT_CONTAINER
    return (name, local_only, command) if layout.is_valid_container_name(name) else None


def try_use(argv: list[str]) -> Optional[int]:
    """Run ``rezup use`` for a ready revision with no import beyond the bare minimum.

    Returns None (having done nothing) whenever the full command line must decide.
    """
    parsed = parse_use(argv)
    if parsed is None or session.current_session():
        return None
    name, local_only, command = parsed
    try:
        local, remote = layout.container_roots(name)
        remote_revisions = None if local_only or remote is None else \
            layout.revisions_dir(remote, name)
        local_revisions = layout.revisions_dir(local, name)
        revision, using_remote = layout.choose_revision(local_revisions, remote_revisions)
        if revision is None:
            return None
        revision_dir = os.path.join(local_revisions, revision)
        metadata = layout.read_metadata(revision_dir)
        if metadata is None:
            return None  # a remote revision not pulled here yet
        env = session.session_environ(metadata, revision_dir, name, using_remote)
    except Exception:  # whatever it is, the full path explains it
        return None
    return session.launch(command, env)


def main() -> None:
    """Console entry point: the lean path when it applies, else the full command line."""
    code = try_use(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from rezup.cli import run

    run()
