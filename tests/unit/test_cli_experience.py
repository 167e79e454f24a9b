"""The command line as people use it: flags anywhere, help and completion, honest status,
clear refusals, and sessions that inherit nothing of rezup's own environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rezup.cli import global_flags, main
from tests.helpers import fake_revision

COMMANDS = ("use", "add", "status", "drop", "prune", "diff", "inspect", "completion")


pytestmark = pytest.mark.usefixtures("restore_logger")


def rezup(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rezup", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


# --------------------------------------------------------------------------------------------
# -q, -v, -D before or after the command


@pytest.mark.parametrize(
    ("own", "moved", "verbosity", "debug"),
    [
        (["status", "-D"], ["-D", "status"], 0, True),
        (["-q", "status"], ["-q", "status"], -1, False),
        (["add", "dev", "-v", "--skip-use"], ["-v", "add", "dev", "--skip-use"], 1, False),
        (["status", "-vv"], ["-vv", "status"], 2, False),
        (["status", "--verbose", "--debug"], ["--verbose", "--debug", "status"], 1, True),
        (["use", "dev", "--local"], ["use", "dev", "--local"], 0, False),
    ],
)
def test_output_flags_anywhere(own, moved, verbosity, debug):
    assert global_flags(own) == (moved, verbosity, debug)


def test_debug_after_the_command_shows_the_traceback(home, capsys):
    assert main(["drop", "nosuch", "-D"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().splitlines()[-1].startswith("rezup: error:")


def test_quiet_prints_nothing_but_errors(home, capsys, tmp_path):
    fake_revision(tmp_path / "local", "dev")
    fake_revision(tmp_path / "local", "dev", "1700000100.5")
    assert main(["prune", "dev", "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["prune", "dev"]) == 0
    assert "nothing to remove" in capsys.readouterr().err


def test_lines_are_timestamped_without_a_terminal(home, tmp_path):
    fake_revision(tmp_path / "local", "dev")
    fake_revision(tmp_path / "local", "dev", "1700000100.5")
    result = rezup("prune", "dev")
    assert re.search(
        r"^rezup: \[\d\d:\d\d:\d\d\] dev: removed 1700000000\.5", result.stderr, re.M
    ), result.stderr


# --------------------------------------------------------------------------------------------
# Help and completion


def test_help_has_full_summaries_and_examples(home, capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "..." not in out.split("Commands:")[1].split("Examples:")[0], "no cut summaries"
    assert "Usage: rezup [OPTIONS] [COMMAND] [ARGS]... [-- CMD ARGS...]" in out
    for command in COMMANDS:
        assert main([command, "--help"]) == 0
        help_text = capsys.readouterr().out
        assert "Examples:" in help_text, command
    assert main(["use", "--help"]) == 0
    assert "Usage: rezup use [OPTIONS] [NAME] [-- CMD ARGS...]" in capsys.readouterr().out


def test_completion_of_containers_and_revisions(home, tmp_path):
    fake_revision(tmp_path / "local", "dev")
    fake_revision(tmp_path / "local", "dev", "1700000100.5")
    fake_revision(tmp_path / "local", "devtools")
    (home / "rezup.farm.toml").write_text("")

    def complete(words: str) -> list[str]:
        env = {
            "_REZUP_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        }
        done = rezup(env=env)
        assert done.returncode == 0, done.stderr
        assert all("," in line for line in done.stdout.splitlines()), (words, repr(done.stdout))
        return [line.split(",", 1)[1] for line in done.stdout.splitlines()]

    assert complete("rezup use ") == ["dev", "devtools", "farm"]
    assert complete("rezup drop de") == ["dev", "devtools"]
    assert complete("rezup use dev --revision ") == ["1700000100.5", "1700000000.5"]
    assert complete("rezup inspect dev 17000001") == ["1700000100.5"]
    assert "status" in complete("rezup st")
    script = rezup("completion", "bash")
    assert script.returncode == 0 and "_REZUP_COMPLETE" in script.stdout
    for shell in ("zsh", "fish"):
        assert "_REZUP_COMPLETE" in rezup("completion", shell).stdout


# --------------------------------------------------------------------------------------------
# Clear refusals


def test_no_wait_needs_a_command(home, capsys):
    assert main(["use", "dev", "--no-wait"]) == 2
    assert "--no-wait needs a command" in capsys.readouterr().err


def test_do_with_a_missing_script(home, capsys):
    assert main(["use", "dev", "--do", "nosuch.sh"]) == 2
    assert "--do: script not found: nosuch.sh" in capsys.readouterr().err
    assert main(["use", "dev", "--do", "./bin/job"]) == 2


def test_a_missing_shell_names_the_setting(home, tmp_path):
    fake_revision(tmp_path / "local", "dev")
    result = rezup("use", "dev", env={"REZUP_DEFAULT_SHELL": "/no/such/shell"})
    assert result.returncode == 2
    assert "REZUP_DEFAULT_SHELL" in result.stderr and "/no/such/shell" in result.stderr


# --------------------------------------------------------------------------------------------
# Sessions inherit nothing of rezup's own environment


def test_the_venv_rezup_runs_from_stays_out_of_sessions(home, tmp_path):
    revision = fake_revision(tmp_path / "local", "dev")
    own_bin = str(Path(sys.prefix) / "bin")
    env = {"VIRTUAL_ENV": sys.prefix, "PATH": f"{own_bin}{os.pathsep}{os.environ['PATH']}"}
    result = rezup("use", "dev", "--", "sh", "-c", 'echo "${VIRTUAL_ENV-unset}|$PATH"', env=env)
    assert result.returncode == 0, result.stderr
    virtual_env, path = result.stdout.strip().split("|", 1)
    assert virtual_env == "unset"
    entries = path.split(os.pathsep)
    assert entries[0] == str(revision / "venv" / "rez" / "bin" / "rez")
    assert own_bin not in entries
    other = rezup(
        "use", "dev", "--", "sh", "-c", "echo $VIRTUAL_ENV", env={"VIRTUAL_ENV": "/some/other/venv"}
    )
    assert other.stdout.strip() == "/some/other/venv", "another venv is the user's business"


# --------------------------------------------------------------------------------------------
# Status: what each container really uses, and what is wrong


def test_status_and_use_warn_of_a_missing_remote_root(home, tmp_path):
    fake_revision(tmp_path / "local", "dev")
    env = {"REZUP_ROOT_REMOTE": str(tmp_path / "no-such-remote")}
    used = rezup("use", "dev", "--", "true", env=env)  # the lean path
    assert used.returncode == 0
    assert f"the remote root {tmp_path / 'no-such-remote'} does not exist" in used.stderr
    status = rezup("status", "dev", env=env)
    assert status.returncode == 0 and "warning: the remote root" in status.stdout
    (tmp_path / "a-file").write_text("")
    used = rezup("use", "dev", "--", "true", env={"REZUP_ROOT_REMOTE": str(tmp_path / "a-file")})
    assert "is not a folder" in used.stderr


def test_status_shows_a_failed_pull_and_what_use_really_enters(home, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "remote"
    fake_revision(remote, "dev", "100.0")
    fake_revision(remote, "dev", "200.0")
    fake_revision(local, "dev", "100.0", pulled_from=str(remote / "dev/revisions/100.0"))
    data = json.loads(rezup("status", "dev", "--json").stdout)["containers"][0]
    assert data["use"]["pull"] == "200.0" and data["use_enters"] == "100.0"
    assert "pulls revision 200.0 first" in rezup("status", "dev").stdout
    (local / "dev" / ".locks").mkdir(exist_ok=True)
    (local / "dev" / ".locks" / "200.0.failed").write_text("the index was down\n")
    data = json.loads(rezup("status", "dev", "--json").stdout)["containers"][0]
    assert data["use_enters"] == "100.0"
    failure = data["use"]["failure"]
    assert failure["revision"] == "200.0" and failure["reason"] == "the index was down"
    assert 0 < failure["retry_in"] <= 300 and failure["time"] <= time.time()
    text = rezup("status", "dev").stdout
    assert "the pull of revision 200.0 failed at" in text and "the index was down" in text
    marked = [line for line in text.splitlines() if line.startswith(" *")]
    assert len(marked) == 1 and "100.0" in marked[0]
