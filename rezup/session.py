"""Session: compose the environment of a revision and launch a shell or a command in it.

The environment is built in this order: the process environment, then the recipe's dotenv
files, then its ``[env]`` table (``${VAR}`` expanded against what is there so far), then
``REZUP_CONTAINER`` and ``REZUP_USING_REMOTE``, with the production bin folders first on PATH.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Optional

from rezup.container import Revision
from rezup.errors import UsageError
from rezup.fastpath import expand_vars, launch, load_dotenv_file, session_environ

__all__ = ["compose_environ", "expand_vars", "launch", "load_dotenv_file", "run"]


def compose_environ(
    revision: Revision,
    using_remote: bool,
    base: Optional[Mapping[str, str]] = None,
) -> dict[str, str]:
    """The full environment of a session in ``revision``."""
    return session_environ(
        revision.metadata(), str(revision.path()), revision.container().name(), using_remote,
        dict(base) if base is not None else None,
    )


def refuse_nested_session() -> None:
    current = os.environ.get("REZUP_CONTAINER")
    if current:
        raise UsageError(
            f"already inside a rezup session of container {current!r}; exit it first"
        )


def run(
    revision: Revision,
    using_remote: bool,
    *,
    command: Sequence[str] = (),
    script: Optional[str] = None,
    wait: bool = True,
) -> int:
    """Enter ``revision``: run ``command``, or ``script`` through the shell, or a shell.

    On POSIX, when the caller waits, rezup *becomes* the command (exec): nothing of rezup
    stays in memory and the exit code is the command's own.
    """
    from rezup import shell as shells

    env = compose_environ(revision, using_remote)
    if command:
        argv = list(command)
    else:
        detected = shells.detect_shell()
        if script is not None:
            argv = shells.script_command(detected, script)
        else:
            env.setdefault(
                "REZUP_PROMPT", shells.default_prompt(revision.container().name(), using_remote)
            )
            argv = shells.interactive_command(detected, env)
    return launch(argv, env, wait=wait)
