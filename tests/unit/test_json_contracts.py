"""Contracts of the documents rezup writes: each real document against its TypedDict in
``rezup.ground.formats`` (every required key, of its type, no key the type does not name) and
its ``format`` version; and documents of earlier formats still read.

Unit tests: fake revisions written by hand or by the real ``make_metadata`` and
``write_metadata``; no network, no rez build. A key added to a document must be added to its
TypedDict and to docs/reference/json-formats.md; a key renamed or removed bumps the version.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest

from rezup import entry
from rezup.cli import main
from rezup.ground import formats, mark_ready, paths, revision_json
from rezup.operations.diff import DIFF_FORMAT
from rezup.operations.inspect import INSPECT_FORMAT
from rezup.operations.status import STATUS_FORMAT
from rezup.runtime import session
from rezup.stages.plan import PLAN_FORMAT, Plan, ScriptTool, SharedPlan, VenvPlan
from rezup.stages.revision_record import session_metadata

pytestmark = [
    pytest.mark.usefixtures("restore_logger"),
    pytest.mark.skipif(os.name == "nt", reason="fake revisions with POSIX bin folders"),
]


# --------------------------------------------------------------------------------------------
# The checker: a JSON value against a type of rezup.ground.formats


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def conforms(value: Any, tp: Any, where: str = "$") -> None:
    """Assert that ``value`` (parsed JSON) is of type ``tp``: TypedDicts (required keys present,
    no unknown key, each value of its type), ``list[X]``, ``dict[str, X]``, ``Optional``/
    ``Union``, ``str``, ``int`` (not bool), ``float`` (a JSON int too), ``bool``, ``Any``."""
    if tp is Any:
        return
    if _is_typeddict(tp):
        assert isinstance(value, dict), f"{where}: {value!r} is not an object ({tp.__name__})"
        hints = get_type_hints(tp)
        missing = set(tp.__required_keys__) - set(value)
        assert not missing, f"{where}: {tp.__name__} lacks {sorted(missing)}"
        unknown = set(value) - set(hints)
        assert not unknown, f"{where}: keys {sorted(unknown)} not in {tp.__name__}"
        for key, item in value.items():
            conforms(item, hints[key], f"{where}.{key}")
        return
    origin = get_origin(tp)
    if origin is Union:
        errors = []
        for option in get_args(tp):
            try:
                conforms(value, option, where)
                return
            except AssertionError as exc:
                errors.append(str(exc))
        raise AssertionError(f"{where}: {value!r} is none of {tp}: {'; '.join(errors)}")
    if origin is list:
        assert isinstance(value, list), f"{where}: {value!r} is not a list"
        [item_type] = get_args(tp)
        for index, item in enumerate(value):
            conforms(item, item_type, f"{where}[{index}]")
        return
    if origin is dict:
        assert isinstance(value, dict), f"{where}: {value!r} is not an object"
        key_type, item_type = get_args(tp)
        for key, item in value.items():
            conforms(key, key_type, f"{where} key")
            conforms(item, item_type, f"{where}[{key!r}]")
        return
    if tp is type(None):
        assert value is None, f"{where}: {value!r} is not null"
    elif tp is float:
        assert type(value) in (int, float), f"{where}: {value!r} is not a number"
    elif tp is int:
        assert type(value) is int, f"{where}: {value!r} is not an integer"
    else:
        assert type(value) is tp, f"{where}: {value!r} is not {tp.__name__}"


@pytest.mark.parametrize(
    ("value", "tp"),
    [
        ({"added": {}, "removed": {}, "changed": {"a": ["1", "2"]}}, formats.Changes),
        ([1, None], list[typing.Optional[int]]),
        (1, float),
    ],
)
def test_the_checker_accepts_what_conforms(value, tp):
    conforms(value, tp)


@pytest.mark.parametrize(
    ("value", "tp"),
    [
        ({"added": {}, "removed": {}}, formats.Changes),  # a key missing
        ({"added": {}, "removed": {}, "changed": {}, "new": 1}, formats.Changes),  # unknown key
        ({"added": {"a": 1}, "removed": {}, "changed": {}}, formats.Changes),  # a value's type
        (True, int),
        ("x", typing.Optional[int]),
    ],
)
def test_the_checker_refuses_what_does_not(value, tp):
    with pytest.raises(AssertionError):
        conforms(value, tp)


# --------------------------------------------------------------------------------------------
# Fake revisions, their revision.json written by the real writer


def make_plan(
    name: str, pins: tuple[str, ...] = ("rez==3.4.0",), env: dict[str, str] | None = None
) -> Plan:
    return Plan(
        container=name,
        venvs=(VenvPlan("rez", "/usr/bin/python3", "", "3.11.7", tuple(pins)),),
        env=tuple((env or {}).items()),
        pinned_seeds=True,
    )


def make_revision(
    root: Path,
    name: str,
    stamp: str,
    *,
    plan: Plan | None = None,
    metadata: dict | None = None,
    recipe: str = "",
) -> Path:
    """A local revision as a build leaves it (no venv contents): recipe, plan, claim file, and
    ``revision.json`` from ``make_metadata`` + ``write_metadata`` unless ``metadata`` (a
    document written by hand) is given."""
    plan = plan or make_plan(name)
    path = root / name / paths.REVISIONS_DIRNAME / stamp
    (path / "venv" / "rez" / "bin" / "rez").mkdir(parents=True)
    (path / paths.RECIPE_FILENAME).write_text(recipe, encoding="utf-8")
    plan.write(path / paths.PLAN_FILENAME)
    (path / ".claim").touch()
    (root / name / ".locks").mkdir(parents=True, exist_ok=True)
    if metadata is not None:
        (path / paths.METADATA_FILENAME).write_text(json.dumps(metadata), encoding="utf-8")
    else:
        mark_ready.write_metadata(
            str(path),
            revision_json.make_metadata(
                str(path),
                plan_digest=plan.digest,
                venvs=["rez"],
                python="3.11.7",
                rez_version="3.4.0",
                session=session_metadata(plan),
                build_seconds=1.5,
            ),
        )
    return path


def publish_by_hand(remote: Path, name: str, stamp: str) -> Path:
    """A remote revision as ``add --remote`` publishes it: recipe, plan, revision.json."""
    plan = make_plan(name)
    path = remote / name / paths.REVISIONS_DIRNAME / stamp
    path.mkdir(parents=True)
    (path / paths.RECIPE_FILENAME).write_text("", encoding="utf-8")
    plan.write(path / paths.PLAN_FILENAME)
    mark_ready.write_metadata(
        str(path),
        revision_json.make_metadata(
            str(path),
            plan_digest=plan.digest,
            venvs=["rez"],
            python="3.11.7",
            rez_version="3.4.0",
            session=session_metadata(plan),
            remote=True,
        ),
    )
    return path


@pytest.fixture
def local(home, tmp_path) -> Path:
    return tmp_path / "local"


@pytest.fixture
def remote(home, tmp_path) -> Path:
    return tmp_path / "remote"


def json_out(argv: list[str], capsys) -> Any:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def revision_2x(root: Path, name: str, stamp: str) -> Path:
    """A revision as rezup 2.x wrote it: no format, no session, the version in the marker."""
    path = make_revision(
        root,
        name,
        stamp,
        recipe='[env]\nFROM_2X = "yes"\n',
        metadata={"venvs": ["rez"], "revision_path": "x", "rezup_version": "2.6.0"},
    )
    (path / "venv" / "rez" / "bin" / "rez" / ".rez_production_install").write_text("3.4.0")
    return path


# --------------------------------------------------------------------------------------------
# revision.json and plan.lock


def test_revision_json_as_written(local):
    revision = make_revision(local, "dev", "100.0")
    written = json.loads((revision / paths.METADATA_FILENAME).read_text(encoding="utf-8"))
    conforms(written, formats.RevisionMetadata)
    assert written["format"] == revision_json.METADATA_FORMAT
    # the marshal copy (the lean path's) holds exactly that data: the format key too
    assert (revision / paths.METADATA_MARSHAL_FILENAME).is_file()
    assert revision_json.read_metadata(str(revision)) == written


def test_revision_json_with_every_optional_key(local, remote):
    published = publish_by_hand(remote, "dev", "100.0")
    document = json.loads((published / paths.METADATA_FILENAME).read_text(encoding="utf-8"))
    conforms(document, formats.RevisionMetadata)
    assert document["remote"] is True
    plan = make_plan("dev")
    metadata = revision_json.make_metadata(
        "/x",
        plan_digest=plan.digest,
        venvs=["rez"],
        python="3.11.7",
        rez_version=None,
        session=session_metadata(plan),
        build_seconds=2,
        cloned_from="99.0",
        pulled_from=str(published),
    )
    conforms(json.loads(json.dumps(metadata)), formats.RevisionMetadata)


def test_plan_lock_round_trip():
    plan = Plan(
        container="dev",
        venvs=(
            VenvPlan(
                "rez",
                "/usr/bin/python3",
                "3.11",
                "3.11.7",
                ("rez==3.4.0 --hash=sha256:00",),
                editables=("/src/tool",),
                tools=(ScriptTool("tool", ("--flag",), editable=True),),
                link_shared=True,
            ),
            VenvPlan("extra", "/usr/bin/python3", "", "3.11.7", ("six==1.17.0",)),
        ),
        description="a plan",
        uv_options=("--index-url", "https://example.invalid/simple"),
        uv_env=(("UV_NATIVE_TLS", "1"),),
        env=(("STUDIO", "x"),),
        dotenv=("a.env",),
        dotenv_platform=(("linux", ("l.env",)),),
        shared=SharedPlan("shared", "/usr/bin/python3", ("pyyaml==6.0.2",)),
        wheels=True,
        pinned_seeds=True,
    )
    document = plan.to_dict()
    conforms(document, formats.PlanDocument)
    assert document["format"] == PLAN_FORMAT
    assert Plan.from_text(plan.to_text()) == plan
    assert Plan.from_dict(document) == plan
    # the fewest keys: no shared, pinned_seeds written only when true
    plain = make_plan("dev").with_wheels(False)
    conforms(Plan.from_text(plain.to_text()).to_dict(), formats.PlanDocument)


def test_the_tool_rezup_table_of_a_standard_lock():
    from rezup.ground.compat import tomllib
    from rezup.stages import standard_locks

    plan = make_plan("dev")
    body = 'lock-version = "1.0"\ncreated-by = "uv"\n\n[[packages]]\nname = "rez"\n'
    text = standard_locks.lock_text(body, standard_locks.tool_table(plan, plan.venvs[0], "1.5"))
    table = tomllib.loads(text)["tool"]["rezup"]
    conforms(table, formats.PylockToolTable)
    assert table["format"] == standard_locks.TOOL_FORMAT


# --------------------------------------------------------------------------------------------
# Every --json output


def test_status_json(local, remote, home, capsys):
    make_revision(local, "dev", "100.0")
    make_revision(local, "dev", "200.0", metadata={"format": revision_json.METADATA_FORMAT + 1})
    (local / "dev" / paths.REVISIONS_DIRNAME / "300.0").mkdir()  # a killed build
    publish_by_hand(remote, "dev", "400.0")
    (home / "rezup.idea.toml").write_text('description = "not built yet"\n', encoding="utf-8")
    (home / "rezup.broken.toml").write_text("[root\n", encoding="utf-8")
    for argv in (["status", "--json"], ["status", "dev", "--json"]):
        document = json_out(argv, capsys)
        conforms(document, formats.StatusDocument)
        assert document["format"] == STATUS_FORMAT
    document = json_out(["status", "--json"], capsys)
    [dev] = document["containers"]
    rows = {row["revision"]: row for row in dev["revisions"]}
    assert set(rows) == {"100.0", "200.0", "300.0", "400.0"}
    assert rows["100.0"]["local"] == "ready" and rows["200.0"]["local"] == "broken"
    assert "newer than this rezup reads" in rows["200.0"]["error"]
    assert dev["use"]["pull"] == "400.0"  # the remote revision, to be pulled first
    assert {r["name"] for r in document["recipes_without_container"]} == {"idea", "broken"}


def test_status_json_of_a_failed_pull(local, remote, capsys):
    make_revision(local, "dev", "100.0")
    publish_by_hand(remote, "dev", "200.0")
    failure = Path(paths.pull_failure_file(str(local), "dev", "200.0"))
    failure.parent.mkdir(parents=True, exist_ok=True)
    failure.write_text("the index is down\n", encoding="utf-8")
    document = json_out(["status", "dev", "--json"], capsys)
    conforms(document, formats.StatusDocument)
    use = document["containers"][0]["use"]
    assert use["failure"]["revision"] == "200.0" and use["failure"]["reason"]


def test_inspect_json(local, capsys):
    make_revision(
        local,
        "dev",
        "100.0",
        plan=make_plan("dev", env={"STUDIO": "a"}),
        recipe='[rez]\nurl = "rez==3.4.0"\n',
    )
    make_revision(local, "dev", "200.0", metadata={"venvs": ["rez"]})  # no session, no format
    for argv in (
        ["inspect", "dev", "--json"],
        ["inspect", "dev", "100.0", "--json"],
        ["inspect", "dev", "200.0", "--json"],
    ):
        document = json_out(argv, capsys)
        conforms(document, formats.InspectDocument)
        assert document["format"] == INSPECT_FORMAT
    document = json_out(["inspect", "dev", "100.0", "--json"], capsys)
    assert document["pins"] == {"rez": {"rez": "3.4.0"}}
    assert document["environment"]["env"] == {"STUDIO": "a"}


def test_diff_json(local, capsys):
    make_revision(
        local, "dev", "100.0", plan=make_plan("dev", ("rez==3.3.0", "six==1.16.0"), {"STUDIO": "a"})
    )
    make_revision(
        local,
        "dev",
        "200.0",
        plan=make_plan("dev", ("rez==3.4.0", "pyyaml==6.0.2"), {"STUDIO": "b"}),
        recipe="# changed\n",
    )
    document = json_out(["diff", "dev", "--json"], capsys)
    conforms(document, formats.DiffDocument)
    assert document["format"] == DIFF_FORMAT
    assert document["venvs"]["rez"]["changed"] == {"rez": ["3.3.0", "3.4.0"]}


def test_every_json_option_has_a_contract():
    """A new ``--json`` option needs its TypedDict, a version and a test here."""
    from rezup.cli.commands import cli

    with_json = sorted(
        name
        for name, command in cli.commands.items()
        if any("--json" in param.opts for param in command.params if hasattr(param, "opts"))
    )
    assert with_json == ["diff", "inspect", "status"]


# --------------------------------------------------------------------------------------------
# Documents of earlier formats are still read; a newer one is named


def test_a_revision_json_of_rezup_2_is_read_by_status_and_use(local, capsys):
    revision_2x(local, "old", "1619780350.588625")
    document = json_out(["status", "old", "--json"], capsys)
    conforms(document, formats.StatusDocument)
    [row] = document["containers"][0]["revisions"]
    assert row["local"] == "ready" and row["rez_version"] == "3.4.0"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rezup",
            "use",
            "old",
            "--",
            "sh",
            "-c",
            'echo "$FROM_2X $REZUP_REVISION"',
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["yes", "1619780350.588625"]


def test_a_revision_json_without_format_is_entered_by_the_lean_path(local, monkeypatch):
    """A revision of rezup 3 before formats: a session, no format key, no marshal copy."""
    plan = make_plan("dev", env={"FROM_RECIPE": "x"})
    make_revision(
        local,
        "dev",
        "100.0",
        plan=plan,
        metadata={
            "venvs": ["rez"],
            "rez_version": "3.4.0",
            "python": "3.11.7",
            "session": session_metadata(plan),
        },
    )
    launched = []
    monkeypatch.setattr(session, "claim", lambda revision_dir: None)
    monkeypatch.setattr(session, "launch", lambda argv, env: launched.append((argv, env)) or 7)
    assert entry.try_use(["use", "dev", "--", "true"]) == 7  # None: handed to the full path
    [(argv, env)] = launched
    assert argv == ["true"] and env["FROM_RECIPE"] == "x" and env["REZUP_REVISION"] == "100.0"


def test_a_newer_revision_json_is_skipped_with_one_line(local):
    make_revision(local, "dev", "100.0")
    newer = make_revision(local, "dev", "200.0")
    document = json.loads((newer / paths.METADATA_FILENAME).read_text(encoding="utf-8"))
    document["format"] = revision_json.METADATA_FORMAT + 1
    (newer / paths.METADATA_FILENAME).write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(
        ValueError,
        match=r"of format 2, newer than this rezup reads \(1\): "
        r"upgrade rezup",
    ):
        revision_json.read_metadata(str(newer))
    done = subprocess.run(
        [sys.executable, "-m", "rezup", "use", "dev", "--", "sh", "-c", "echo $REZUP_REVISION"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "100.0"
    [line] = [line for line in done.stderr.splitlines() if "200.0" in line]
    assert "newer than this rezup reads (1): upgrade rezup" in line


@pytest.mark.parametrize("value", ["1", 0, 1.0, None, True])
def test_a_format_that_is_not_a_version_is_broken(local, value):
    revision = make_revision(local, "dev", "100.0", metadata={"venvs": ["rez"], "format": value})
    if value is None:  # null: as if absent
        assert revision_json.read_metadata(str(revision)) is not None
        return
    with pytest.raises(ValueError, match="is not a version"):
        revision_json.read_metadata(str(revision))
