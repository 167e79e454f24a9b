"""The donor index of a root (``stages/donor_index``), what a plan's build digest ignores, and
how a background compile shows in ``status``: with revisions written by hand."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from rezup.cli import main
from rezup.ground import paths, settings
from rezup.ground.errors import UsageError
from rezup.stages import bytecode_later, donor_index
from rezup.stages.cleanup import remove_revision, retire
from rezup.stages.disk_state import ContainerDir, RevisionDir
from rezup.stages.plan import Plan, SharedPlan, VenvPlan
from tests.helpers import fake_revision

KEY = donor_index.plan_key("sha256:" + "a" * 64)


def entered(root: Path, container: str, stamp: str, keys: tuple[str, ...] = (KEY,)) -> Path:
    revision = fake_revision(root, container, stamp)
    donor_index.register(revision, keys)
    return revision


def test_candidates_come_from_every_container_own_first_then_newest(tmp_path: Path):
    old_main = entered(tmp_path, ".main", "100.0")
    new_main = entered(tmp_path, ".main", "300.0")
    show = entered(tmp_path, "show", "200.0")
    dev = entered(tmp_path, "dev", "400.0")
    assert donor_index.candidates(tmp_path, KEY, prefer="show") == [show, dev, new_main, old_main]
    assert donor_index.candidates(tmp_path, KEY, prefer="dev", skip=dev) == [
        new_main,
        show,
        old_main,
    ]
    assert donor_index.candidates(tmp_path, "plan-" + "b" * 64) == []
    assert (old_main / donor_index.KEYS_FILENAME).read_text() == f"{KEY}\n"


def test_a_removed_or_retired_revision_is_never_a_candidate(tmp_path: Path):
    kept = entered(tmp_path, ".main", "100.0")
    pruned = entered(tmp_path, ".main", "200.0")
    retired = entered(tmp_path, "show", "300.0")
    assert remove_revision(RevisionDir(ContainerDir(tmp_path, ".main"), "200.0")).removed
    retire(RevisionDir(ContainerDir(tmp_path, "show"), "300.0"))
    assert not pruned.exists() and (retired / "revision.retired.json").exists()
    assert donor_index.candidates(tmp_path, KEY) == [kept]
    folder = tmp_path / donor_index.INDEX_DIRNAME / KEY
    assert sorted(os.listdir(folder)) == [".main@100.0"]


def test_a_stale_entry_is_removed_on_sight_and_the_last_one_takes_its_folder(tmp_path: Path):
    gone = entered(tmp_path, "dev", "100.0")
    (gone / "revision.json").unlink()  # as if removed by a crashed rezup, the index untold
    assert donor_index.candidates(tmp_path, KEY) == []
    assert not (tmp_path / donor_index.INDEX_DIRNAME).exists()  # nor the index, now empty


def test_the_index_folder_stays_while_another_key_is_in_it(tmp_path: Path):
    kept = entered(tmp_path, "dev", "100.0")
    donor_index.register(kept, [KEY, "pyc-rez-cpython3.11"])
    gone = entered(tmp_path, "show", "200.0")
    donor_index.forget(gone)
    assert sorted(os.listdir(tmp_path / donor_index.INDEX_DIRNAME)) == sorted(
        [KEY, "pyc-rez-cpython3.11"]
    )
    donor_index.forget(kept)
    assert not (tmp_path / donor_index.INDEX_DIRNAME).exists()


def test_more_than_a_few_candidates_are_never_checked(tmp_path: Path):
    for stamp in range(100, 100 + donor_index.LOOKED_AT + 4):
        entered(tmp_path, "dev", f"{stamp}.0")
    found = donor_index.candidates(tmp_path, KEY)
    assert len(found) == donor_index.LOOKED_AT
    assert found[0].name == f"{100 + donor_index.LOOKED_AT + 3}.0"


def test_an_index_that_cannot_be_written_costs_nothing(tmp_path: Path):
    revision = fake_revision(tmp_path, "dev", "100.0")
    (tmp_path / donor_index.INDEX_DIRNAME).write_text("not a folder")
    donor_index.register(revision, [KEY])  # no error: a later build finds no donor here
    assert donor_index.candidates(tmp_path, KEY) == []
    donor_index.forget(revision)


def test_the_keys_of_a_revision(tmp_path: Path):
    revision = fake_revision(tmp_path, "dev", "100.0", production=True)
    keys = donor_index.revision_keys(revision, "sha256:" + "c" * 64, "[rez]\n", ["rez", "gone"])
    assert keys == [
        "plan-" + "c" * 64,
        donor_index.recipe_key("[rez]\n"),
        "pyc-rez-cpython3.11",  # "gone" has no pyvenv.cfg: no bytecode key
    ]


def _plan(container: str, shared: bool = False) -> Plan:
    venv = VenvPlan("rez", "/usr/bin/python3", "", "3.11.7", ("rez==3.4.0",))
    return Plan(
        container=container,
        venvs=(venv,),
        shared=SharedPlan("libs", "/usr/bin/python3", ("six==1.16.0",)) if shared else None,
    )


def test_the_build_digest_ignores_the_container_unless_shared_libs_are_linked():
    assert _plan(".main").digest != _plan("show").digest
    assert _plan(".main").build_digest == _plan("show").build_digest
    assert _plan(".main", shared=True).build_digest != _plan("show", shared=True).build_digest
    other = Plan(
        container=".main",
        venvs=(VenvPlan("rez", "/usr/bin/python3", "", "3.11.7", ("rez==3.3.0",)),),
    )
    assert other.build_digest != _plan(".main").build_digest


def test_status_shows_the_venvs_compiled_in_the_background(home, tmp_path: Path, capsys):
    revision = fake_revision(tmp_path / "local", "dev", "1700000000.5")
    lock = revision / f"{paths.COMPILING_PREFIX}rez"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a compiler holds it (the holder is another open file)
    try:
        assert bytecode_later.compiling(revision) == ["rez"]
        assert main(["status", "dev", "--json"]) == 0
        [row] = json.loads(capsys.readouterr().out)["containers"][0]["revisions"]
        assert row["compiling"] == ["rez"]
        assert main(["status", "dev"]) == 0
        out = capsys.readouterr().out
        assert "seed packages of venv rez is being compiled in the background" in out
    finally:
        os.close(fd)
    assert bytecode_later.compiling(revision) == []
    assert main(["status", "dev", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)["containers"][0]["revisions"]
    assert row["compiling"] == []


@pytest.mark.parametrize(
    ("value", "allowed"),
    [("", True), ("0", True), ("no", True), ("1", False), ("yes", False), ("TRUE", False)],
)
def test_the_no_background_setting(monkeypatch, value: str, allowed: bool):
    monkeypatch.setenv(settings.NO_BACKGROUND, value)
    assert settings.background_allowed() is allowed


def test_a_wrong_no_background_setting_is_a_usage_error(monkeypatch):
    monkeypatch.setenv(settings.NO_BACKGROUND, "perhaps")
    with pytest.raises(UsageError, match="REZUP_NO_BACKGROUND must be 1 or 0"):
        settings.background_allowed()


def test_a_flag_sets_its_setting_for_the_command_only(monkeypatch):
    monkeypatch.delenv(settings.NO_BACKGROUND, raising=False)
    with settings.setting(settings.NO_BACKGROUND, "1"):
        assert os.environ[settings.NO_BACKGROUND] == "1"
    assert settings.NO_BACKGROUND not in os.environ
    monkeypatch.setenv(settings.NO_BACKGROUND, "0")
    with settings.setting(settings.NO_BACKGROUND, None):  # no flag: the setting as it is
        assert os.environ[settings.NO_BACKGROUND] == "0"
    with settings.setting(settings.NO_BACKGROUND, "1"):
        pass
    assert os.environ[settings.NO_BACKGROUND] == "0"


def test_donors_are_the_index_then_the_own_older_revisions_once_each(tmp_path: Path):
    """``donors``: the indexed revisions (any container, the own first), then the own
    container's revisions made before the index, newest first, at most ``scan``; none twice,
    never the new revision, none of a container being dropped."""
    before_index = [fake_revision(tmp_path, "dev", f"{stamp}.0") for stamp in (10, 20, 30)]
    own = entered(tmp_path, "dev", "40.0")
    other = entered(tmp_path, "show", "50.0")
    gone = entered(tmp_path, "old", "60.0")
    (tmp_path / "old" / paths.DROPPED_MARKER).touch()
    new = tmp_path / "dev" / "revisions" / "70.0"
    new.mkdir()

    found = list(donor_index.donors(tmp_path, KEY, "dev", skip=new, scan=3))
    assert found == [own, other, before_index[2], before_index[1]]  # own once, then 2 more
    assert gone not in found
    assert list(donor_index.donors(tmp_path, None, "dev", skip=new, scan=2)) == [
        own,
        before_index[2],
    ]
    assert list(donor_index.donors(tmp_path, KEY, "show", scan=0)) == [other, own]
