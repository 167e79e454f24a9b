"""Unit tests for rezup.cli: argument splitting, exit codes and one-line errors.

Commands run in-process through ``rezup.cli.main``; the few that would replace the process
(``use NAME -- CMD`` execs CMD) run as a subprocess. None builds a venv or uses the network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import rezup
from rezup.cli import main
from rezup.container import Container
from rezup.operations import status as status_module
from rezup.runtime.session import split_command


@pytest.fixture
def home(home, tmp_path, monkeypatch):
    """The shared throw-away home, run from its parent folder."""
    monkeypatch.chdir(tmp_path)
    return home


pytestmark = pytest.mark.usefixtures("restore_logger")


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rezup: error: "), err
    assert "Traceback" not in err
    return lines[0]


def make_ready_revision(root: Path, name: str, dirname: str = "1700000000.5") -> Path:
    path = Container.at(name, root).revisions() / dirname
    bin_dir = path / "venv" / "rez" / "bin" / "rez"
    bin_dir.mkdir(parents=True)
    (path / "rezup.toml").write_text("", encoding="utf-8")
    (path / "revision.json").write_text(
        json.dumps(
            {
                "rez_version": "3.4.0",
                "python": "3.11.7",
                "venvs": ["rez"],
                "session": {
                    "bin_dirs": ["venv/rez/bin/rez"],
                    "env": [["FROM_RECIPE", "${HOME}/x"]],
                    "dotenv": [],
                },
            }
        ),
        encoding="utf-8",
    )
    return path


# --------------------------------------------------------------------------------------------
# split_command


@pytest.mark.parametrize(
    ("argv", "own", "command"),
    [
        ([], [], []),
        (["use", "dev"], ["use", "dev"], []),
        (["use", "dev", "--", "rez-env", "foo"], ["use", "dev"], ["rez-env", "foo"]),
        (["use", "dev", "--"], ["use", "dev"], []),
        (["--", "ls"], [], ["ls"]),
        (["use", "x", "--", "a", "--", "b"], ["use", "x"], ["a", "--", "b"]),
        (["use", "x", "--", "--help"], ["use", "x"], ["--help"]),
    ],
)
def test_split_command(argv, own, command):
    assert split_command(argv) == (own, command)


# --------------------------------------------------------------------------------------------
# Errors and exit codes


def test_unknown_command(home, capsys):
    code, out, err = run_main(["frobnicate"], capsys)
    assert code == 2
    line = assert_one_error_line(err)
    assert "frobnicate" in line
    assert out == ""


def test_unknown_option(home, capsys):
    code, _, err = run_main(["status", "--bogus"], capsys)
    assert code == 2
    assert "--bogus" in assert_one_error_line(err)


@pytest.mark.parametrize("name", ["../x", "a/b", "..", "a\\b"])
def test_use_refuses_bad_names(home, capsys, name):
    code, _, err = run_main(["use", name, "--", "true"], capsys)
    assert code == 2
    assert "invalid container name" in assert_one_error_line(err)


def test_use_nested_session_refused(home, capsys, monkeypatch):
    """Inside a session only a shell is refused (a command may run in any container)."""
    monkeypatch.setenv("REZUP_CONTAINER", "dev")
    for args in (["use", "other"], ["use", "dev"], ["add", "other"]):
        code, _, err = run_main(args, capsys)
        assert code == 2
        assert "already inside a rezup session" in assert_one_error_line(err)
    code, _, err = run_main(["use", "other", "--", "true"], capsys)
    assert code == 1 and "already inside" not in err  # allowed: other has no revision here
    for args in (["drop", "dev"], ["prune", "dev"]):
        code, _, err = run_main(args, capsys)
        assert code == 2 and "from inside a session of it" in assert_one_error_line(err)


def test_use_do_and_command_together(home, capsys):
    code, _, err = run_main(["use", "dev", "--do", "job.sh", "--", "true"], capsys)
    assert code == 2
    assert "either --do" in assert_one_error_line(err)


def test_use_container_without_revision(home, capsys, tmp_path):
    code, _, err = run_main(["use", "nosuch", "--", "true"], capsys)
    assert code == 1
    line = assert_one_error_line(err)
    assert "'nosuch' has no ready revision" in line
    assert "rezup add nosuch" in line
    assert not (tmp_path / "local" / "nosuch").exists(), "nothing is created"


def test_drop_missing_container(home, capsys):
    code, _, err = run_main(["drop", "nosuch"], capsys)
    assert code == 1
    line = assert_one_error_line(err)
    assert "no container named 'nosuch'" in line


def test_drop_bad_name(home, capsys):
    code, _, err = run_main(["drop", "../x"], capsys)
    assert code == 2
    assert_one_error_line(err)


def test_drop_container(home, capsys, tmp_path):
    path = make_ready_revision(tmp_path / "local", "dev")
    code, _, err = run_main(["drop", "dev"], capsys)
    assert code == 0, err
    assert not path.exists()
    assert not (tmp_path / "local" / "dev").exists()
    assert list((tmp_path / "local").iterdir()) == []
    assert "dropped container dev" in err


def test_add_wheels_without_remote(home, capsys):
    code, _, err = run_main(["add", "dev", "--wheels", "--skip-use"], capsys)
    assert code == 2
    assert "--wheels goes with --remote" in assert_one_error_line(err)


def test_add_remote_without_remote_root(home, capsys, monkeypatch):
    monkeypatch.delenv("REZUP_ROOT_REMOTE")
    code, _, err = run_main(["add", "dev", "--remote"], capsys)
    assert code == 2
    assert "no remote root" in assert_one_error_line(err)


def test_add_with_broken_recipe(home, capsys):
    (home / "rezup.dev.toml").write_text("[rez]\nbogus = 1\n", encoding="utf-8")
    code, _, err = run_main(["add", "dev", "--skip-use"], capsys)
    assert code == 2
    line = assert_one_error_line(err)
    assert str(home / "rezup.dev.toml") in line
    assert "unknown key 'bogus'" in line


def test_add_with_missing_recipe_file(home, capsys, tmp_path):
    code, _, err = run_main(
        ["add", "dev", "-f", str(tmp_path / "missing.toml"), "--dry-run"], capsys
    )
    assert code == 2
    assert "recipe file not found" in assert_one_error_line(err)


def test_add_toml_syntax_error(home, capsys):
    (home / "rezup.dev.toml").write_text('description = "x\n', encoding="utf-8")
    code, _, err = run_main(["add", "dev", "--dry-run"], capsys)
    assert code == 2
    assert "line 1, column" in assert_one_error_line(err)


def test_internal_error_is_one_line(home, capsys, monkeypatch):
    def boom(name=None):
        raise RuntimeError("something unexpected")

    monkeypatch.setattr(status_module, "collect", boom)
    code, _, err = run_main(["status"], capsys)
    assert code == 1
    line = assert_one_error_line(err)
    assert "internal error: RuntimeError: something unexpected" in line
    assert "--debug" in line
    with pytest.raises(RuntimeError, match="something unexpected"):
        main(["--debug", "status"])


def test_debug_shows_traceback_for_rezup_errors(home, capsys):
    code, _, err = run_main(["-D", "drop", "nosuch"], capsys)
    assert code == 1
    assert "Traceback" in err
    assert err.rstrip().splitlines()[-1].startswith("rezup: error: no container named")


def test_keyboard_interrupt(home, capsys, monkeypatch):
    def interrupted(name=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(status_module, "collect", interrupted)
    code, _, err = run_main(["status"], capsys)
    assert code == 130
    # (on a terminal the line the ^C was typed on is ended first)
    assert err.strip() == "rezup: interrupted"
    assert "Traceback" not in err


# --------------------------------------------------------------------------------------------
# Output


def test_version(home, capsys):
    for flag in ("-V", "--version"):
        code, out, err = run_main([flag], capsys)
        assert code == 0
        assert out == f"rezup {rezup.__version__}\n"
        assert err == ""


def test_help(home, capsys):
    code, out, _ = run_main(["-h"], capsys)
    assert code == 0
    assert "Usage: rezup" in out
    for command in ("use", "add", "status", "drop"):
        assert command in out
    code, out, _ = run_main(["use", "--help"], capsys)
    assert code == 0
    assert "--do" in out


def test_status_json(home, capsys, tmp_path):
    make_ready_revision(tmp_path / "local", "dev")
    (home / "rezup.broken.toml").write_text("[root\n", encoding="utf-8")
    code, out, err = run_main(["status", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    by_name = {c["name"]: c for c in data["containers"]}
    assert set(by_name) == {"dev"}  # a recipe alone is not a container: listed apart
    assert by_name["dev"]["latest_ready"] == "1700000000.5"
    assert by_name["dev"]["revisions"][0]["local"] == "ready"
    assert by_name["dev"]["revisions"][0]["rez_version"] == "3.4.0"
    assert by_name["dev"]["local_path"] == str(tmp_path / "local" / "dev")
    assert by_name["dev"]["use_enters"] == "1700000000.5"
    assert by_name["dev"]["size"] == by_name["dev"]["revisions"][0]["size"] > 0
    [broken] = data["recipes_without_container"]
    assert broken["name"] == "broken" and "invalid TOML" in broken["recipe_error"]


def test_status_json_of_one_container(home, capsys, tmp_path):
    code, _, err = run_main(["status", "nosuch", "--json"], capsys)
    assert code == 1
    assert "no container named 'nosuch'" in assert_one_error_line(err)
    make_ready_revision(tmp_path / "local", "dev")
    code, out, _ = run_main(["status", "dev", "--json"], capsys)
    assert code == 0
    assert [c["name"] for c in json.loads(out)["containers"]] == ["dev"]


def test_status_text(home, capsys, tmp_path):
    make_ready_revision(tmp_path / "local", "dev")
    (home / "rezup.idea.toml").write_text('description = "not built yet"\n')
    code, out, _ = run_main(["status"], capsys)
    assert code == 0
    assert out.startswith("dev\n") and f"  local   {tmp_path / 'local' / 'dev'}" in out
    assert "1700000000.5" in out
    assert "ready" in out and "legend:" in out
    assert "recipes without a container" in out and "idea" in out


# --------------------------------------------------------------------------------------------
# `use NAME -- CMD` execs CMD: run in a subprocess


@pytest.mark.skipif(os.name == "nt", reason="POSIX shell command")
def test_use_runs_command_with_its_exit_code(home, tmp_path):
    revision = make_ready_revision(tmp_path / "local", "dev")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REZUP_")}
    env.update(
        HOME=str(home),
        REZUP_ROOT_LOCAL=str(tmp_path / "local"),
        PYTHONPATH=str(Path(rezup.__file__).parents[1]),
    )
    script = (
        'printf "%s|%s|%s|%s\\n" "$REZUP_CONTAINER" "$REZUP_USING_REMOTE" '
        '"$FROM_RECIPE" "${PATH%%:*}"; exit 7'
    )
    completed = subprocess.run(
        [sys.executable, "-m", "rezup", "use", "dev", "--", "sh", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert completed.returncode == 7, completed.stderr
    assert completed.stdout == f"dev||{home}/x|{revision / 'venv' / 'rez' / 'bin' / 'rez'}\n"


@pytest.mark.skipif(os.name == "nt", reason="POSIX exec")
def test_use_missing_command(home, tmp_path):
    make_ready_revision(tmp_path / "local", "dev")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REZUP_")}
    env.update(
        HOME=str(home),
        REZUP_ROOT_LOCAL=str(tmp_path / "local"),
        PYTHONPATH=str(Path(rezup.__file__).parents[1]),
    )
    completed = subprocess.run(
        [sys.executable, "-m", "rezup", "use", "dev", "--", "no-such-command-xyz"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert completed.returncode == 127
    assert_one_error_line(completed.stderr)


@pytest.mark.parametrize(
    ("argv", "what"),
    [
        (["status"], "status"),
        (["drop", "dev"], "drop"),
        (["prune"], "prune"),
        (["diff", "dev"], "diff"),
        (["inspect", "dev"], "inspect"),
        (["completion", "bash"], "completion"),
        (["add", "--skip-use"], "add --skip-use"),
        (["add", "--dry-run"], "add --dry-run"),
    ],
)
def test_a_command_that_runs_none_refuses_one(argv, what, home, capsys):
    """Every command but `use` and `add` (entering) refuses `-- CMD` instead of ignoring it:
    the rule lives in the commands' click class, not in each command."""
    code, out, err = run_main([*argv, "--", "ls"], capsys)
    assert code == 2 and out == ""
    assert err == f"rezup: error: {what} runs no command; remove the '-- ...' part\n"
