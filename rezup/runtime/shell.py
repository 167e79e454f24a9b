"""Shells: which one the user is in, and the command lines that start it.

Interactive sessions get a prompt prefix (``$REZUP_PROMPT``) through small launch scripts in
``rezup/launch/`` that first run the user's own start-up files, then prepend the prefix.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

IS_WINDOWS = os.name == "nt"
LAUNCH_DIR = Path(__file__).parent.parent / "launch"  # rezup/launch/
KNOWN_SHELLS = (
    "bash",
    "zsh",
    "sh",
    "dash",
    "ksh",
    "mksh",
    "csh",
    "tcsh",
    "fish",
    "pwsh",
    "powershell",
    "cmd",
)


@dataclass(frozen=True)
class Shell:
    name: str  # bash, zsh, sh, csh, tcsh, fish, cmd, pwsh, powershell, ...
    executable: str


def detect_shell() -> Shell:
    """``$REZUP_DEFAULT_SHELL``, else the shell this process was started from (shellingham
    walks the parent processes: ``$SHELL`` is only the login shell), skipping launchers such as
    ``uv run``; else the platform's default: PowerShell on Windows, ``$SHELL`` elsewhere."""
    override = os.environ.get("REZUP_DEFAULT_SHELL")
    if override:
        return _shell_from(override)
    found = _parent_shell()
    if found is not None:
        return found
    if IS_WINDOWS:
        return _shell_from(
            shutil.which("pwsh")
            or shutil.which("powershell")
            or os.environ.get("COMSPEC", "cmd.exe")
        )
    return _shell_from(os.environ.get("SHELL") or "/bin/sh")


def _parent_shell() -> Optional[Shell]:
    import shellingham

    try:
        name, executable = shellingham.detect_shell()
    except (shellingham.ShellDetectionFailure, OSError, RuntimeError):
        return None
    name = shell_name(name)
    if name not in KNOWN_SHELLS:
        return None
    if not os.path.isabs(executable):
        executable = shutil.which(executable) or shutil.which(name) or executable
    return Shell(name, executable)


def _shell_from(value: str) -> Shell:
    name = shell_name(value)
    executable = value if os.path.isabs(value) else (shutil.which(value) or value)
    return Shell(name, executable)


def shell_name(value: str) -> str:
    base = os.path.basename(value).lower()
    base = base[:-4] if base.endswith(".exe") else base
    return base.lstrip("-")


def check_shell(shell: Shell) -> None:
    """A clear error when the shell to start is not there."""
    if os.path.isabs(shell.executable) and os.access(shell.executable, os.X_OK):
        return
    if shutil.which(shell.executable):
        return
    from rezup.ground.errors import UsageError

    chosen = "REZUP_DEFAULT_SHELL names" if os.environ.get("REZUP_DEFAULT_SHELL") else "rezup found"
    raise UsageError(
        f"cannot start the shell {shell.executable!r} ({chosen} it): not found; "
        "set REZUP_DEFAULT_SHELL to a shell that is installed"
    )


def default_prompt(container: str, using_remote: bool) -> str:
    return f"rezup ({container}/{'remote' if using_remote else 'local'}) "


def interactive_command(shell: Shell, env: dict[str, str]) -> list[str]:
    """The command that starts ``shell`` interactively with the rezup prompt.

    ``env`` (the session environment) is updated with what the launch scripts need.
    """
    name, exe = shell.name, shell.executable
    if name == "bash":
        return [exe, "--rcfile", str(LAUNCH_DIR / "bashrc"), "-i"]
    if name == "zsh":
        if "ZDOTDIR" in env:
            env["REZUP_ORIG_ZDOTDIR"] = env["ZDOTDIR"]
        env["ZDOTDIR"] = str(LAUNCH_DIR / "zsh")
        return [exe, "-i"]
    if name in ("csh", "tcsh"):
        # csh has no rc-file option: point HOME at the launch folder, whose .cshrc puts HOME
        # back, sources the user's own rc file, then sets the prompt.
        env["REZUP_ORIG_HOME"] = env.get("HOME", os.path.expanduser("~"))
        env["HOME"] = str(LAUNCH_DIR / "csh")
        return [exe, "-i"]
    if name == "fish":
        init = (
            "functions -q fish_prompt; and functions -c fish_prompt _rezup_prompt; "
            "function fish_prompt; printf '%s' \"$REZUP_PROMPT\"; "
            "functions -q _rezup_prompt; and _rezup_prompt; end"
        )
        return [exe, "-i", "--init-command", init]
    if name == "cmd":
        return [exe, "/Q", "/K", str(LAUNCH_DIR / "up.bat")]
    if name in ("pwsh", "powershell"):
        return [exe, "-NoLogo", "-NoExit", "-File", str(LAUNCH_DIR / "up.ps1")]
    # POSIX sh, dash, ksh and friends read the file named by $ENV when interactive
    if env.get("ENV"):
        env["REZUP_ORIG_ENV"] = env["ENV"]
    env["ENV"] = str(LAUNCH_DIR / "rc.sh")
    return [exe, "-i"]


def script_command(shell: Shell, script: str) -> list[str]:
    """The command that runs ``script`` (a file, or a quoted command line) through ``shell``."""
    name, exe = shell.name, shell.executable
    is_file = os.path.isfile(script)
    if name == "cmd":
        return [exe, "/Q", "/C", script]
    if name in ("pwsh", "powershell"):
        return [exe, "-NoLogo", "-File" if is_file else "-Command", script]
    if is_file:
        return [exe, script]
    return [exe, "-c", script]
