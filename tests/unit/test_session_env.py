"""Unit tests for rezup.runtime.session: the environment of a session, from a fake revision."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rezup.container import Container, Revision
from rezup.ground.errors import ContainerError, UsageError
from rezup.runtime import session
from rezup.runtime.session import expand_vars, load_dotenv_file, session_environ


def compose_environ(revision: Revision, using_remote: bool, base=None) -> dict[str, str]:
    """The session environment of ``revision``, as ``rezup use`` composes it."""
    return session_environ(
        revision.metadata(), str(revision.path()), revision.container().name(), using_remote, base
    )


def make_revision(
    root: Path, session_data=None, *, name="dev", dirname="1700000000.000001", metadata=None
) -> Revision:
    """A ready revision folder written by hand, as a local build
    (``rezup.stages.build.build_revision``) leaves it."""
    container = Container.at(name, root)
    revision = Revision(container, dirname)
    revision.path().mkdir(parents=True)
    data = {"rez_version": "3.4.0", "python": "3.11.7", "venvs": ["rez"]}
    if session_data is not None:
        data["session"] = session_data
    if metadata:
        data.update(metadata)
    (revision.path() / "revision.json").write_text(json.dumps(data), encoding="utf-8")
    return revision


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


BASE = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/me",
    "KEEP": "kept",
    "A": "from-process",
    "B": "from-process",
    "C": "from-process",
    "REZUP_CONTAINER": "stale",
    "REZUP_USING_REMOTE": "stale",
}


def test_compose_environ_order(tmp_path, home):
    first = write(tmp_path / "first.env", "A=first\nB=first\nONLY_FIRST=1\n")
    second = write(tmp_path / "second.env", "B=second\nC=second\n")
    revision = make_revision(
        tmp_path / "root",
        {
            "bin_dirs": ["venv/rez/bin/rez"],
            "env": [["C", "from-env"], ["REZUP_CONTAINER", "from-env"]],
            "dotenv": [first, second],
        },
    )
    env = compose_environ(revision, using_remote=False, base=dict(BASE))

    assert env["KEEP"] == "kept"  # process environment at the bottom
    assert env["A"] == "first"  # dotenv over the process
    assert env["B"] == "second"  # later dotenv files over earlier ones
    assert env["ONLY_FIRST"] == "1"
    assert env["C"] == "from-env"  # [env] over dotenv
    assert env["REZUP_CONTAINER"] == "dev"  # rezup's own over everything
    assert env["REZUP_USING_REMOTE"] == ""
    assert env["REZUP_REVISION"] == "1700000000.000001"
    assert BASE["A"] == "from-process", "the base mapping is not modified"


def test_compose_environ_remote_flag(tmp_path, home):
    revision = make_revision(tmp_path / "root", {"bin_dirs": [], "env": [], "dotenv": []})
    assert compose_environ(revision, True, base={})["REZUP_USING_REMOTE"] == "yes"
    assert compose_environ(revision, False, base={})["REZUP_USING_REMOTE"] == ""


def test_compose_environ_expansion(tmp_path, home):
    dotenv = write(
        tmp_path / "site.env",
        "# a comment\n"
        "ROOT=${HOME}/studio\n"
        "CONFIG=${ROOT}/rezconfig.py\n"
        "WITH_DEFAULT=${NOT_SET:-fallback}\n"
        "SET_DEFAULT=${KEEP:-unused}\n"
        "EMPTY_DEFAULT=${EMPTY:-was-empty}\n"
        "UNKNOWN=[${NOT_SET}]\n"
        "export EXPORTED='quoted value'\n"
        "DOLLAR=$HOME\n"
        "NOVALUE\n",
    )
    revision = make_revision(
        tmp_path / "root",
        {
            "bin_dirs": [],
            "env": [
                ["REZ_CONFIG_FILE", "${CONFIG}"],
                ["PACKAGES", "${ROOT}/packages:${REZ_PACKAGES_PATH:-/default/packages}"],
                ["CHAIN", "${PACKAGES}|${KEEP}"],
            ],
            "dotenv": [dotenv],
        },
    )
    env = compose_environ(revision, False, base={"HOME": "/home/me", "KEEP": "kept", "EMPTY": ""})

    assert env["ROOT"] == "/home/me/studio"
    assert env["CONFIG"] == "/home/me/studio/rezconfig.py"  # earlier values of the same file
    assert env["WITH_DEFAULT"] == "fallback"
    assert env["SET_DEFAULT"] == "kept"
    assert env["EMPTY_DEFAULT"] == "was-empty"
    assert env["UNKNOWN"] == "[]"
    assert env["EXPORTED"] == "quoted value"
    assert env["DOLLAR"] == "$HOME"  # only ${VAR} is expanded
    assert "NOVALUE" not in env
    assert env["REZ_CONFIG_FILE"] == "/home/me/studio/rezconfig.py"
    assert env["PACKAGES"] == "/home/me/studio/packages:/default/packages"
    assert env["CHAIN"] == "/home/me/studio/packages:/default/packages|kept"


def test_compose_environ_path(tmp_path, home):
    revision = make_revision(
        tmp_path / "root",
        {
            "bin_dirs": ["venv/rez/bin/rez", "venv/iso/bin/rez"],
            "env": [["PATH", "/studio/bin:${PATH}"]],
            "dotenv": [],
        },
    )
    env = compose_environ(revision, False, base={"PATH": "/usr/bin:/bin"})
    parts = env["PATH"].split(os.pathsep)
    assert parts[:2] == [
        str(revision.path() / "venv/rez/bin/rez"),
        str(revision.path() / "venv/iso/bin/rez"),
    ]
    assert parts[2:] == ["/studio/bin", "/usr/bin", "/bin"]


def test_compose_environ_without_path(tmp_path, home):
    revision = make_revision(
        tmp_path / "root",
        {
            "bin_dirs": ["venv/rez/bin/rez"],
            "env": [],
            "dotenv": [],
        },
    )
    env = compose_environ(revision, False, base={})
    assert env["PATH"] == str(revision.path() / "venv/rez/bin/rez")


def test_compose_environ_uses_process_environment(tmp_path, home, monkeypatch):
    monkeypatch.setenv("REZUP_TEST_MARKER", "here")
    revision = make_revision(tmp_path / "root", {"bin_dirs": [], "env": [], "dotenv": []})
    env = compose_environ(revision, False)
    assert env["REZUP_TEST_MARKER"] == "here"
    assert "REZUP_CONTAINER" not in os.environ, "composing does not touch os.environ"


def test_compose_environ_rezup2_revision(tmp_path, home):
    """A revision without a "session" key (rezup 2.x): bin dirs from its venvs list."""
    revision = make_revision(tmp_path / "root", None, metadata={"venvs": ["rez", "ext"]})
    env = compose_environ(revision, False, base={"PATH": "/bin"})
    bin_name = "Scripts" if os.name == "nt" else "bin"
    assert env["PATH"].split(os.pathsep) == [
        str(revision.path() / "venv" / "rez" / bin_name / "rez"),
        str(revision.path() / "venv" / "ext" / bin_name / "rez"),
        "/bin",
    ]


def test_missing_dotenv_file_warns(tmp_path, home, capsys):
    present = write(tmp_path / "present.env", "PRESENT=yes\n")
    missing = str(tmp_path / "missing.env")
    revision = make_revision(
        tmp_path / "root",
        {
            "bin_dirs": [],
            "env": [["AFTER", "ok"]],
            "dotenv": [missing, present],
        },
    )
    env = compose_environ(revision, False, base={})
    assert env["PRESENT"] == "yes"
    assert env["AFTER"] == "ok"
    err = capsys.readouterr().err
    assert f"rezup: warning: dotenv file not found: {missing}" in err
    assert err.count("\n") == 1


def test_unreadable_dotenv_file_warns(tmp_path, capsys):
    folder = tmp_path / "a-folder.env"
    folder.mkdir()
    assert load_dotenv_file(str(folder), {}) == {}
    assert "rezup: warning: cannot read dotenv file" in capsys.readouterr().err


def test_load_dotenv_file(tmp_path):
    path = write(
        tmp_path / "x.env",
        'A="double ${B}"\nC=${A}-c\nD=${D:-self-default}\nE="multi\nline"\n',
    )
    values = load_dotenv_file(path, {"B": "bee"})
    assert values == {
        "A": "double bee",
        "C": "double bee-c",
        "D": "self-default",
        "E": "multi\nline",
    }


def test_broken_revision_json_is_a_container_error(tmp_path, home):
    revision = make_revision(tmp_path / "root", {"bin_dirs": []})
    (revision.path() / "revision.json").write_text("{not json", encoding="utf-8")
    broken = Revision(revision.container(), revision.dirname())
    with pytest.raises(ContainerError, match=r"broken revision\.json"):
        compose_environ(broken, False, base={})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${A}", "a"),
        ("x${A}y${B}z", "xaybz"),
        ("${UNSET}", ""),
        ("${UNSET:-dflt}", "dflt"),
        ("${A:-dflt}", "a"),
        ("${EMPTY:-dflt}", "dflt"),
        ("${EMPTY}", ""),
        ("${UNSET:-}", ""),
        ("${UNSET:-with spaces/and:colons}", "with spaces/and:colons"),
        ("$A ${A", "$A ${A"),
        ("${1BAD}", "${1BAD}"),
        ("no vars", "no vars"),
        ("${A}${A}", "aa"),
    ],
)
def test_expand_vars(value, expected):
    assert expand_vars(value, {"A": "a", "B": "b", "EMPTY": ""}) == expected


def test_refuse_nested_session(monkeypatch):
    monkeypatch.delenv("REZUP_CONTAINER", raising=False)
    session.refuse_nested_session()
    monkeypatch.setenv("REZUP_CONTAINER", "")
    session.refuse_nested_session()
    monkeypatch.setenv("REZUP_CONTAINER", "dev")
    with pytest.raises(UsageError, match="already inside a rezup session of container 'dev'"):
        session.refuse_nested_session()


@pytest.mark.skipif(os.name == "nt", reason="exec is POSIX only")
def test_launch_reports_missing_and_non_executable_commands(tmp_path, capsys):
    # these never exec (the command cannot run), so the test process stays
    code = session.launch([str(tmp_path / "no-such-command")], {"PATH": "/nonexistent"})
    assert code == 127
    assert "rezup: error: cannot run" in capsys.readouterr().err
    not_executable = tmp_path / "script.sh"
    not_executable.write_text("echo hi\n", encoding="utf-8")
    not_executable.chmod(0o644)
    assert session.launch([str(not_executable)], {"PATH": "/nonexistent"}) == 126
    capsys.readouterr()
    # --no-wait reports the same way: one line and the shell's exit code for "not found"
    assert session.launch([str(tmp_path / "no-such-command")], {}, wait=False) == 127
    assert capsys.readouterr().err.startswith("rezup: error: cannot run ")
