"""Unit tests for rezup.runtime.shell, and the launch scripts run by the real shells found here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rezup.runtime import shell as shells
from rezup.runtime.shell import (
    LAUNCH_DIR,
    Shell,
    default_prompt,
    detect_shell,
    interactive_command,
    script_command,
    shell_name,
)

PROMPT = "rezup (dev/local) "


# --------------------------------------------------------------------------------------------
# Names and detection


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("bash", "bash"),
        ("/bin/bash", "bash"),
        ("-bash", "bash"),
        ("/usr/bin/zsh", "zsh"),
        ("-zsh", "zsh"),
        ("tcsh", "tcsh"),
        ("/usr/local/bin/fish", "fish"),
        ("pwsh.exe", "pwsh"),
        ("PowerShell.EXE", "powershell"),
        ("cmd.exe", "cmd"),
        ("CMD.EXE", "cmd"),
        ("/bin/sh", "sh"),
        ("dash", "dash"),
    ],
)
def test_shell_name(value, name):
    assert shell_name(value) == name


def test_detect_shell_honours_override(home, monkeypatch):
    monkeypatch.setenv("REZUP_DEFAULT_SHELL", "/opt/shells/zsh")
    assert detect_shell() == Shell("zsh", "/opt/shells/zsh")
    monkeypatch.setenv("REZUP_DEFAULT_SHELL", "sh")
    found = detect_shell()
    assert found.name == "sh"
    assert found.executable == (shutil.which("sh") or "sh")
    monkeypatch.setenv("REZUP_DEFAULT_SHELL", "no-such-shell-xyz")
    assert detect_shell() == Shell("no-such-shell-xyz", "no-such-shell-xyz")


def test_detect_shell_without_override_gives_a_shell(home, monkeypatch):
    monkeypatch.setenv("SHELL", "/bin/sh")
    found = detect_shell()
    assert found.name in shells.KNOWN_SHELLS
    assert found.executable


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="walks /proc")
@pytest.mark.parametrize("name", ["bash", "dash"])
def test_detect_shell_finds_the_parent_shell(name, home, tmp_path):
    exe = shutil.which(name)
    if exe is None:
        pytest.skip(f"{name} is not installed")
    code = "from rezup.runtime.shell import detect_shell; print(detect_shell().name)"
    env = {k: v for k, v in os.environ.items() if k != "REZUP_DEFAULT_SHELL"}
    env["SHELL"] = "/bin/no-such-login-shell"
    env["PYTHONPATH"] = str(Path(shells.__file__).parents[1])
    # "; true" keeps the shell alive as the parent instead of exec'ing python
    out = subprocess.run(
        [exe, "-c", f'"{sys.executable}" -c "{code}"; true'],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    assert out == name


def test_default_prompt():
    assert default_prompt("dev", False) == "rezup (dev/local) "
    assert default_prompt(".main", True) == "rezup (.main/remote) "


# --------------------------------------------------------------------------------------------
# Command lines


def test_interactive_bash():
    env = {"HOME": "/home/me"}
    argv = interactive_command(Shell("bash", "/bin/bash"), env)
    assert argv == ["/bin/bash", "--rcfile", str(LAUNCH_DIR / "bashrc"), "-i"]
    assert env == {"HOME": "/home/me"}
    assert (LAUNCH_DIR / "bashrc").is_file()


def test_interactive_zsh():
    env = {"HOME": "/home/me"}
    assert interactive_command(Shell("zsh", "/bin/zsh"), env) == ["/bin/zsh", "-i"]
    assert env == {"HOME": "/home/me", "ZDOTDIR": str(LAUNCH_DIR / "zsh")}
    assert "REZUP_ORIG_ZDOTDIR" not in env
    assert (LAUNCH_DIR / "zsh" / ".zshrc").is_file()
    assert (LAUNCH_DIR / "zsh" / ".zshenv").is_file()

    env = {"HOME": "/home/me", "ZDOTDIR": "/home/me/.config/zsh"}
    interactive_command(Shell("zsh", "/bin/zsh"), env)
    assert env["ZDOTDIR"] == str(LAUNCH_DIR / "zsh")
    assert env["REZUP_ORIG_ZDOTDIR"] == "/home/me/.config/zsh"


@pytest.mark.parametrize("name", ["csh", "tcsh"])
def test_interactive_csh(name, home):
    env = {"HOME": "/home/me"}
    assert interactive_command(Shell(name, f"/bin/{name}"), env) == [f"/bin/{name}", "-i"]
    assert env["HOME"] == str(LAUNCH_DIR / "csh")
    assert env["REZUP_ORIG_HOME"] == "/home/me"
    assert (LAUNCH_DIR / "csh" / ".cshrc").is_file()
    assert (LAUNCH_DIR / "csh" / ".tcshrc").is_file()

    env = {}  # no HOME in the session: the real home folder is kept
    interactive_command(Shell(name, name), env)
    assert env["REZUP_ORIG_HOME"] == str(home)


@pytest.mark.parametrize("name", ["sh", "dash", "ksh", "mksh", "unknown-shell"])
def test_interactive_posix_sh(name):
    env = {"HOME": "/home/me"}
    assert interactive_command(Shell(name, f"/bin/{name}"), env) == [f"/bin/{name}", "-i"]
    assert env["ENV"] == str(LAUNCH_DIR / "rc.sh")
    assert "REZUP_ORIG_ENV" not in env

    env = {"ENV": "/home/me/.shrc"}
    interactive_command(Shell(name, f"/bin/{name}"), env)
    assert env["ENV"] == str(LAUNCH_DIR / "rc.sh")
    assert env["REZUP_ORIG_ENV"] == "/home/me/.shrc"


def test_interactive_fish():
    env = {"HOME": "/home/me"}
    argv = interactive_command(Shell("fish", "/usr/bin/fish"), env)
    assert argv[:3] == ["/usr/bin/fish", "-i", "--init-command"]
    assert len(argv) == 4
    assert "REZUP_PROMPT" in argv[3]
    assert "fish_prompt" in argv[3]
    assert env == {"HOME": "/home/me"}


def test_interactive_cmd_and_powershell():
    env: dict[str, str] = {}
    assert interactive_command(Shell("cmd", "C:\\Windows\\System32\\cmd.exe"), env) == [
        "C:\\Windows\\System32\\cmd.exe",
        "/Q",
        "/K",
        str(LAUNCH_DIR / "up.bat"),
    ]
    for name in ("pwsh", "powershell"):
        assert interactive_command(Shell(name, name), env) == [
            name,
            "-NoLogo",
            "-NoExit",
            "-File",
            str(LAUNCH_DIR / "up.ps1"),
        ]
    assert env == {}
    assert (LAUNCH_DIR / "up.bat").is_file()
    assert (LAUNCH_DIR / "up.ps1").is_file()


def test_script_command(tmp_path):
    script = tmp_path / "job.sh"
    script.write_text("echo hi\n", encoding="utf-8")
    line = "rez-env foo -- echo 'hi there'"
    bash = Shell("bash", "/bin/bash")
    assert script_command(bash, str(script)) == ["/bin/bash", str(script)]
    assert script_command(bash, line) == ["/bin/bash", "-c", line]
    tcsh = Shell("tcsh", "/bin/tcsh")
    assert script_command(tcsh, line) == ["/bin/tcsh", "-c", line]
    cmd = Shell("cmd", "cmd.exe")
    assert script_command(cmd, str(script)) == ["cmd.exe", "/Q", "/C", str(script)]
    assert script_command(cmd, "dir") == ["cmd.exe", "/Q", "/C", "dir"]
    pwsh = Shell("pwsh", "pwsh")
    assert script_command(pwsh, str(script)) == ["pwsh", "-NoLogo", "-File", str(script)]
    assert script_command(pwsh, "Get-Item .") == ["pwsh", "-NoLogo", "-Command", "Get-Item ."]
    # a folder is not a script file
    assert script_command(bash, str(tmp_path)) == ["/bin/bash", "-c", str(tmp_path)]


# --------------------------------------------------------------------------------------------
# The launch scripts, run by the real shells


def run_shell(argv: list[str], env: dict[str, str], command: str) -> str:
    completed = subprocess.run(
        [*argv, "-c", command],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def session_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TERM": "dumb",
        "REZUP_PROMPT": PROMPT,
    }
    env.update(extra)
    return env


def need(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        pytest.skip(f"{name} is not installed here")
    return exe


def test_bashrc_prefixes_the_prompt_after_the_users_bashrc(tmp_path):
    exe = need("bash")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text('PS1="user$ "\nexport FROM_USER_BASHRC=yes\n', encoding="utf-8")
    env = session_env(home)
    argv = interactive_command(Shell("bash", exe), env)
    out = run_shell(argv, env, 'printf "%s|%s\\n" "$PS1" "$FROM_USER_BASHRC"')
    assert out == f"{PROMPT}user$ |yes\n"


def test_bashrc_without_users_bashrc(tmp_path):
    exe = need("bash")
    home = tmp_path / "home"
    home.mkdir()
    env = session_env(home)
    argv = interactive_command(Shell("bash", exe), env)
    out = run_shell(argv, env, 'printf "%s\\n" "$PS1"')
    assert out.startswith(PROMPT)
    assert len(out.strip()) > len(PROMPT.strip())  # the usual prompt follows the prefix


def test_bashrc_without_rezup_prompt(tmp_path):
    exe = need("bash")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text('PS1="user$ "\n', encoding="utf-8")
    env = session_env(home)
    del env["REZUP_PROMPT"]
    argv = interactive_command(Shell("bash", exe), env)
    assert run_shell(argv, env, 'printf "%s\\n" "$PS1"') == "user$ \n"


@pytest.mark.parametrize("name", ["dash", "sh"])
def test_rc_sh_runs_users_env_file_then_prefixes(name, tmp_path):
    exe = need(name)
    home = tmp_path / "home"
    home.mkdir()
    user_rc = home / ".shrc"
    user_rc.write_text('PS1="user$ "\nFROM_USER_ENV=yes\n', encoding="utf-8")
    env = session_env(home, ENV=str(user_rc))
    argv = interactive_command(Shell(name, exe), env)
    out = run_shell(
        argv,
        env,
        'printf "%s|%s|%s|%s\\n" "$PS1" "$FROM_USER_ENV" "$ENV" "${REZUP_ORIG_ENV-unset}"',
    )
    assert out == f"{PROMPT}user$ |yes|{user_rc}|unset\n"


@pytest.mark.parametrize("name", ["dash", "sh"])
def test_rc_sh_without_users_env_file(name, tmp_path):
    exe = need(name)
    home = tmp_path / "home"
    home.mkdir()
    env = session_env(home)
    argv = interactive_command(Shell(name, exe), env)
    out = run_shell(argv, env, 'printf "%s|%s\\n" "$PS1" "${ENV-unset}"')
    prompt, env_value = out.rstrip("\n").split("|")
    assert prompt.startswith(PROMPT)
    assert env_value == "unset"  # the launch file does not leak into child shells


def test_zshrc_prefixes_the_prompt(tmp_path):
    exe = need("zsh")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".zshrc").write_text("PROMPT='user> '\nexport FROM_USER_ZSHRC=yes\n", encoding="utf-8")
    (home / ".zshenv").write_text("export FROM_USER_ZSHENV=yes\n", encoding="utf-8")
    env = session_env(home)
    argv = interactive_command(Shell("zsh", exe), env)
    out = run_shell(
        argv, env, 'print -r -- "$PROMPT|$FROM_USER_ZSHRC|$FROM_USER_ZSHENV|${ZDOTDIR-unset}"'
    )
    assert out == f"{PROMPT}user> |yes|yes|unset\n"


def test_zshrc_with_users_zdotdir(tmp_path):
    exe = need("zsh")
    home = tmp_path / "home"
    zdotdir = home / ".config" / "zsh"
    zdotdir.mkdir(parents=True)
    (home / ".zshrc").write_text("export WRONG_FILE=yes\n", encoding="utf-8")
    (zdotdir / ".zshrc").write_text("PROMPT='zdot> '\n", encoding="utf-8")
    (zdotdir / ".zshenv").write_text("export FROM_ZDOTDIR_ZSHENV=yes\n", encoding="utf-8")
    env = session_env(home, ZDOTDIR=str(zdotdir))
    argv = interactive_command(Shell("zsh", exe), env)
    out = run_shell(
        argv,
        env,
        'print -r -- "$PROMPT|$FROM_ZDOTDIR_ZSHENV|${WRONG_FILE-no}|'
        '$ZDOTDIR|${REZUP_ORIG_ZDOTDIR-unset}"',
    )
    assert out == f"{PROMPT}zdot> |yes|no|{zdotdir}|unset\n"


@pytest.mark.parametrize("name", ["tcsh", "csh"])
def test_cshrc_prefixes_the_prompt(name, tmp_path):
    exe = need(name)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".cshrc").write_text(
        'set prompt="user% "\nsetenv FROM_USER_CSHRC yes\n', encoding="utf-8"
    )
    env = session_env(home)
    argv = interactive_command(Shell(name, exe), env)
    out = run_shell(argv, env, 'echo "$prompt|$FROM_USER_CSHRC|$HOME"')
    assert out == f"{PROMPT}user% |yes|{home}\n"


def test_fish_prompt(tmp_path):
    exe = need("fish")
    home = tmp_path / "home"
    home.mkdir()
    env = session_env(home)
    argv = interactive_command(Shell("fish", exe), env)
    out = run_shell(argv, env, "fish_prompt")
    assert out.startswith(PROMPT)
