"""Session: compose the environment of a revision and launch a shell or a command in it.

The environment is built in this order: the process environment, then the recipe's dotenv
files, then its ``[env]`` table (``${VAR}`` expanded against what is there so far), then
``REZUP_CONTAINER`` and ``REZUP_USING_REMOTE``, with the production bin folders first on PATH.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Optional

from rezup.container import Revision
from rezup.errors import ContainerError, UsageError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_vars(value: str, env: Mapping[str, str]) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}`` from ``env``; unknown variables become ''."""
    return _VAR.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)


def load_dotenv_file(path: str, env: Mapping[str, str]) -> dict[str, str]:
    """Values of one dotenv file (python-dotenv syntax, ``${VAR}`` from ``env`` and the file)."""
    import io

    from dotenv import dotenv_values

    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        sys.stderr.write(f"rezup: warning: dotenv file not found: {path}\n")
        return {}
    except OSError as exc:
        sys.stderr.write(f"rezup: warning: cannot read dotenv file {path}: {exc}\n")
        return {}
    raw = dotenv_values(stream=io.StringIO(text), interpolate=False)
    values: dict[str, str] = {}
    for key, value in raw.items():
        if value is None:
            continue
        values[key] = expand_vars(value, {**env, **values})
    return values


def compose_environ(
    revision: Revision,
    using_remote: bool,
    base: Optional[Mapping[str, str]] = None,
) -> dict[str, str]:
    """The full environment of a session in ``revision``."""
    env = dict(os.environ if base is None else base)
    session = revision.metadata().get("session") or {}
    for path in session.get("dotenv", []):
        env.update(load_dotenv_file(path, env))
    for key, value in session.get("env", []):
        env[key] = expand_vars(value, env)
    env["REZUP_CONTAINER"] = revision.container().name()
    env["REZUP_USING_REMOTE"] = "yes" if using_remote else ""
    env["REZUP_REVISION"] = revision.dirname()
    bin_dirs = [str(path) for path in revision.production_bin_dirs()]
    env["PATH"] = os.pathsep.join([*bin_dirs, env.get("PATH", "")]).rstrip(os.pathsep)
    return env


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


def launch(argv: list[str], env: dict[str, str], *, wait: bool = True) -> int:
    if not wait:
        try:
            subprocess.Popen(argv, env=env, start_new_session=os.name != "nt")
        except OSError as exc:
            raise ContainerError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        return 0
    if os.name != "nt":
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.execvpe(argv[0], argv, env)
        except OSError as exc:
            code = 127 if isinstance(exc, FileNotFoundError) else 126
            sys.stderr.write(f"rezup: error: cannot run {argv[0]}: {exc.strerror or exc}\n")
            return code
    import shutil

    argv = [shutil.which(argv[0], path=env.get("PATH")) or argv[0], *argv[1:]]
    try:
        return subprocess.call(argv, env=env)
    except OSError as exc:
        sys.stderr.write(f"rezup: error: cannot run {argv[0]}: {exc.strerror or exc}\n")
        return 127
