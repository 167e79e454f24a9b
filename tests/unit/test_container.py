"""Unit tests for rezup.container (revisions on disk), rezup.tools.build_lock (kinds) and
rezup.operations.status."""

from __future__ import annotations

import json
import os
import random
import sys
from datetime import datetime
from pathlib import Path

import pytest

from rezup.container import (
    Container,
    Revision,
    get_container_root,
    iter_containers,
)
from rezup.ground import paths, root_settings
from rezup.ground.errors import ContainerError, UsageError
from rezup.operations import status as status_mod
from rezup.recipe import ContainerRecipe
from rezup.tools.build_lock import NETWORK_FILESYSTEMS, filesystem_type, lock_kind, lock_timeout


def add_revision(
    container: Container, dirname: str, ready: bool = True, metadata: dict | None = None
) -> Revision:
    path = container.revisions() / dirname
    path.mkdir(parents=True)
    (path / "rezup.toml").write_text("", encoding="utf-8")
    if ready:
        (path / "revision.json").write_text(json.dumps(metadata or {}), encoding="utf-8")
    return Revision(container, dirname)


def names(revisions) -> list[str]:
    return [r.dirname() for r in revisions]


# --------------------------------------------------------------------------------------------
# Roots


def test_roots_precedence(home, tmp_path, monkeypatch):
    def local_root(setting: str = "") -> Path:
        return Path(root_settings.local_root(setting))

    def remote_root(setting: str = ""):
        root = root_settings.remote_root(setting)
        return Path(root) if root else None

    assert local_root() == tmp_path / "local"
    assert remote_root() == tmp_path / "remote"
    assert local_root("/from/recipe") == Path("/from/recipe")
    assert remote_root("/from/recipe") == Path("/from/recipe")
    monkeypatch.delenv("REZUP_ROOT_LOCAL")
    monkeypatch.delenv("REZUP_ROOT_REMOTE")
    assert local_root() == home / ".rezup"
    assert remote_root() is None
    monkeypatch.setenv("REZUP_ROOT_LOCAL", "~/elsewhere")
    assert local_root() == home / "elsewhere"


def test_container_roots_from_recipe(home, tmp_path):
    (home / "rezup.dev.toml").write_text(
        f'[root]\nlocal = "{tmp_path / "dev-local"}"\nremote = "{tmp_path / "dev-remote"}"\n',
        encoding="utf-8",
    )
    dev = Container("dev")
    assert dev.is_remote()
    assert dev.root() == tmp_path / "dev-remote"
    assert dev.path() == tmp_path / "dev-remote" / "dev"
    local = Container("dev", force_local=True)
    assert not local.is_remote()
    assert local.root() == tmp_path / "dev-local"
    recipe = ContainerRecipe("dev")
    assert get_container_root(recipe) == tmp_path / "dev-local"
    assert get_container_root(recipe, remote=True) == tmp_path / "dev-remote"

    main = Container()
    assert main.name() == ".main"
    assert main.is_remote()  # $REZUP_ROOT_REMOTE is set by the fixture
    assert main.root() == tmp_path / "remote"


def test_container_refuses_bad_names(home, tmp_path):
    for bad in ("..", "a/b", "../x", "a\\b"):
        with pytest.raises(UsageError):
            Container(bad)
        with pytest.raises(UsageError):
            Container.at(bad, tmp_path)


def test_container_basics(home, tmp_path):
    container = Container.at("dev", tmp_path / "root")
    assert container.path() == tmp_path / "root" / "dev"
    assert container.revisions() == container.path() / "revisions"
    assert container.lock_file("123.5") == container.path() / ".locks" / "123.5.lock"
    assert not container.is_exists()
    assert container.is_empty()
    assert list(container.iter_revision()) == []
    assert container.get_latest_revision() is None
    add_revision(container, "100.5")
    assert container.is_exists()
    assert not container.is_empty()
    assert container == Container.at("dev", tmp_path / "root")
    assert len({container, Container.at("dev", tmp_path / "root")}) == 1
    assert "dev" in repr(container)


# --------------------------------------------------------------------------------------------
# Revisions


def test_revisions_ordered_by_number_not_text(home, tmp_path):
    container = Container.at("dev", tmp_path)
    for name in ("9.5", "10.0", "100", "1619780350.6", "1619780350.588625", "99.99"):
        add_revision(container, name)
    assert names(container.iter_revision()) == [
        "1619780350.6",
        "1619780350.588625",
        "100",
        "99.99",
        "10.0",
        "9.5",
    ]
    assert names(container.iter_revision(latest_first=False)) == [
        "9.5",
        "10.0",
        "99.99",
        "100",
        "1619780350.588625",
        "1619780350.6",
    ]
    assert container.get_latest_revision().dirname() == "1619780350.6"


def test_non_timestamp_folders_are_ignored(home, tmp_path):
    container = Container.at("dev", tmp_path)
    add_revision(container, "200.0")
    add_revision(container, "100.0")
    for odd in (
        "latest",
        ".incoming-300.0-1234",
        "nan",
        "inf",
        "Infinity",
        "1e12",
        "1_000",
        "-5",
        "300.0.bak",
        " 400.0",
    ):
        add_revision(container, odd)
    assert names(container.iter_revision()) == ["200.0", "100.0"]
    assert container.get_latest_revision().dirname() == "200.0"
    # validate=False adds folders without a recipe, never other names (rezup 2.x yielded them)
    add_revision(container, "300.0", ready=False)
    (container.revisions() / "300.0" / "rezup.toml").unlink()
    assert names(container.iter_revision(validate=False)) == ["300.0", "200.0", "100.0"]
    assert names(container.iter_revision()) == ["200.0", "100.0"]


def test_only_ready_revisions_count(home, tmp_path):
    container = Container.at("dev", tmp_path)
    add_revision(container, "100.0")
    add_revision(container, "300.0", ready=False)
    add_revision(container, "200.0")
    assert container.get_latest_revision().dirname() == "200.0"
    assert container.get_latest_revision(only_ready=False).dirname() == "300.0"
    incomplete = Revision(container, "300.0")
    assert not incomplete.is_ready()
    assert incomplete.is_valid()
    assert incomplete.metadata() is None  # rezup 2.x: None until the revision is ready
    assert not incomplete.is_pulled()


def test_no_ready_revision(home, tmp_path):
    container = Container.at("dev", tmp_path)
    assert container.is_empty()
    add_revision(container, "100.0", ready=False)
    assert container.get_latest_revision() is None
    assert not container.is_empty()  # rezup 2.x: empty means no revision at all


def test_many_revisions_pick_newest_ready(home, tmp_path):
    container = Container.at("dev", tmp_path)
    rng = random.Random(1234)
    stamps = sorted({round(1_600_000_000 + rng.random() * 1e8, 6) for _ in range(1000)})
    newest_ready = stamps[-4]
    container.revisions().mkdir(parents=True)
    for stamp in stamps:
        path = container.revisions() / repr(stamp)
        path.mkdir()
        (path / "rezup.toml").touch()  # a valid revision holds its recipe
        if stamp == newest_ready or (stamp < newest_ready and rng.random() < 0.5):
            (path / "revision.json").write_text("{}", encoding="utf-8")
    assert len(list(container.iter_revision())) == len(stamps)
    assert container.get_latest_revision().dirname() == repr(newest_ready)
    ordered = [r.seconds() for r in container.iter_revision()]
    assert ordered == sorted(ordered, reverse=True)


def test_get_revision_by_time(home, tmp_path):
    container = Container.at("dev", tmp_path)
    add_revision(container, "100.0")
    add_revision(container, "200.5")
    add_revision(container, "300.0", ready=False)
    assert container.get_revision_by_time(200.5).dirname() == "200.5"
    assert container.get_revision_by_time("200.5").dirname() == "200.5"
    assert container.get_revision_by_time(datetime.fromtimestamp(100.0)).dirname() == "100.0"
    assert container.get_revision_by_time(150) is None
    assert container.get_revision_by_time(150, fallback=True).dirname() == "100.0"
    assert container.get_revision_by_time(99, fallback=True) is None
    assert container.get_revision_by_time(1e10, fallback=True).dirname() == "200.5"
    # not ready: invisible unless asked for
    assert container.get_revision_by_time(300.0) is None
    assert container.get_revision_by_time(350, fallback=True).dirname() == "200.5"
    assert container.get_revision_by_time(300.0, only_ready=False).dirname() == "300.0"


def test_new_revision_name_is_unique(home, tmp_path, monkeypatch):
    container = Container.at("dev", tmp_path)
    monkeypatch.setattr("time.time", lambda: 1700000000.25)
    assert container.new_revision_name() == "1700000000.250000"
    add_revision(container, "1700000000.250000")
    add_revision(container, "1700000000.250001")
    name = container.new_revision_name()
    assert name == "1700000000.250002"
    assert not (container.revisions() / name).exists()
    assert float(name) > 1700000000.25


def test_new_revision_name_sorts_after_existing(home, tmp_path):
    container = Container.at("dev", tmp_path)
    add_revision(container, "100.0")
    name = container.new_revision_name()
    add_revision(container, name)
    assert container.get_latest_revision().dirname() == name


def test_revision_accessors(home, tmp_path):
    container = Container.at("dev", tmp_path)
    revision = add_revision(
        container,
        "1619780350.588625",
        metadata={
            "rez_version": "3.4.0",
            "pulled_from": "/remote/dev/revisions/x",
            "session": {"bin_dirs": ["venv/rez/bin/rez", "venv/iso/bin/rez"]},
        },
    )
    assert revision.seconds() == 1619780350.588625
    assert revision.timestamp() == datetime.fromtimestamp(1619780350.588625)
    assert isinstance(revision.time_str(), str)
    assert revision.is_ready() and revision.is_valid()
    assert revision.is_pulled()
    assert revision.get_rez_version() == "3.4.0"
    assert revision.production_bin_dirs() == [
        revision.path() / "venv/rez/bin/rez",
        revision.path() / "venv/iso/bin/rez",
    ]
    assert revision.venv_path() == revision.path() / "venv" / "rez"
    assert revision.venv_path("iso") == revision.path() / "venv" / "iso"
    assert revision.lock_file() == container.path() / ".locks" / "1619780350.588625.lock"
    assert revision.plan_path() == revision.path() / "plan.lock"
    assert revision == Revision(container, "1619780350.588625")
    assert "ready=True" in repr(revision)
    assert not Revision(container, "not-a-stamp").is_valid()


# --------------------------------------------------------------------------------------------
# Containers found from recipes


def test_iter_containers(home, tmp_path, monkeypatch):
    monkeypatch.delenv("REZUP_ROOT_REMOTE")
    (home / "rezup.toml").write_text("", encoding="utf-8")
    (home / "rezup.dev.toml").write_text(
        f'[root]\nremote = "{tmp_path / "shared"}"\n', encoding="utf-8"
    )
    found = [(c.name(), c.is_remote()) for c in iter_containers()]
    assert found == [(".main", False), ("dev", True), ("dev", False)]


# --------------------------------------------------------------------------------------------
# Lock kinds


@pytest.mark.parametrize(
    ("value", "kind"),
    [("native", "native"), ("soft", "soft"), ("NATIVE", "native"), (" soft ", "soft")],
)
def test_lock_kind_override(value, kind, tmp_path, monkeypatch):
    monkeypatch.setenv("REZUP_LOCK", value)
    assert lock_kind(tmp_path) == kind


@pytest.mark.parametrize("value", ["auto", "", "AUTO"])
def test_lock_kind_auto(value, tmp_path, monkeypatch):
    monkeypatch.setenv("REZUP_LOCK", value)
    expected = "soft" if filesystem_type(tmp_path) in NETWORK_FILESYSTEMS else "native"
    assert lock_kind(tmp_path) == expected
    monkeypatch.delenv("REZUP_LOCK")
    assert lock_kind(tmp_path) == expected


@pytest.mark.parametrize("value", ["fcntl", "strict", "nfs", "1", "none"])
def test_lock_kind_rejects_other_values(value, tmp_path, monkeypatch):
    monkeypatch.setenv("REZUP_LOCK", value)
    with pytest.raises(UsageError, match="REZUP_LOCK must be auto, native or soft"):
        lock_kind(tmp_path)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/mounts")
def test_filesystem_type_on_linux(tmp_path):
    fstype = filesystem_type(tmp_path)
    assert isinstance(fstype, str) and fstype
    # a path that does not exist yet is judged by its nearest existing parent
    assert filesystem_type(tmp_path / "not" / "there" / "yet") == fstype
    assert isinstance(filesystem_type(Path("/")), str)
    assert filesystem_type(Path("/proc/self")) == "proc"


def test_lock_timeout(monkeypatch):
    monkeypatch.delenv("REZUP_LOCK_TIMEOUT", raising=False)
    assert lock_timeout() == 1800.0
    monkeypatch.setenv("REZUP_LOCK_TIMEOUT", "2.5")
    assert lock_timeout() == 2.5
    monkeypatch.setenv("REZUP_LOCK_TIMEOUT", "soon")
    with pytest.raises(UsageError, match="REZUP_LOCK_TIMEOUT"):
        lock_timeout()


# --------------------------------------------------------------------------------------------
# Status


def test_status_with_ready_incomplete_and_broken_recipe(home, tmp_path):
    (home / "rezup.good.toml").write_text('description = "good"\n', encoding="utf-8")
    (home / "rezup.bad.toml").write_text('[rez]\nurl = "rez"\nbogus = 1\n', encoding="utf-8")
    (home / "rezup.syntax.toml").write_text("[root\n", encoding="utf-8")
    local = tmp_path / "local"
    good = Container.at("good", local)
    add_revision(good, "1700000000.5", metadata={"rez_version": "3.4.0", "python": "3.11.7"})
    add_revision(good, "1700000100.5", ready=False)
    add_revision(good, "stray-folder", ready=False)
    # a container with revisions but no recipe file is found through the root
    add_revision(Container.at("orphan", local), "1600000000.0")

    statuses = status_mod.collect()
    by_name = {info["name"]: info for info in statuses}
    assert sorted(by_name) == ["bad", "good", "orphan", "syntax"]
    assert [n for n, info in sorted(by_name.items()) if info["exists"]] == ["good", "orphan"]

    info = by_name["good"]
    assert info["recipe_error"] is None
    assert info["description"] == "good"
    assert info["recipe"] == str(home / "rezup.good.toml")
    assert info["local_root"] == str(local)
    assert info["remote_root"] == str(tmp_path / "remote")
    assert [row["revision"] for row in info["revisions"]] == ["1700000100.5", "1700000000.5"]
    assert info["revisions"][0]["local"] == "incomplete"
    assert info["revisions"][0]["remote"] is None
    assert info["revisions"][1]["local"] == "ready"
    assert info["revisions"][1]["rez_version"] == "3.4.0"
    assert info["latest_ready"] == "1700000000.5"

    assert "unknown key 'bogus'" in by_name["bad"]["recipe_error"]
    assert "invalid TOML" in by_name["syntax"]["recipe_error"]
    assert by_name["bad"]["revisions"] == []
    assert by_name["orphan"]["recipe"] is None
    assert by_name["orphan"]["latest_ready"] == "1600000000.0"

    text = status_mod.render(statuses)
    assert any(line.split() == ["good", "good"] for line in text.splitlines())  # + description
    assert "recipe error:" in text
    assert "unknown key 'bogus'" in text
    assert "incomplete" in text
    assert "3.4.0" in text
    assert "recipes without a container" in text
    marked = [line for line in text.splitlines() if line.startswith(" *")]
    assert len(marked) == 2  # good and orphan have a revision in use
    assert any("1700000000.5" in line for line in marked)
    json.dumps(statuses)  # serialisable as given to --json


def test_status_of_one_container_and_broken_metadata(home, tmp_path):
    local = tmp_path / "local"
    dev = Container.at("dev", local)
    broken = add_revision(dev, "100.0")
    (broken.path() / "revision.json").write_text("{oops", encoding="utf-8")
    remote = Container.at("dev", tmp_path / "remote", remote=True)
    add_revision(remote, "100.0")
    add_revision(remote, "200.0")
    (info,) = status_mod.collect("dev")
    rows = {row["revision"]: row for row in info["revisions"]}
    assert rows["100.0"]["local"] == "broken"
    assert "broken revision.json" in rows["100.0"]["error"]
    assert rows["100.0"]["remote"] == "ready"
    assert rows["200.0"] == {**rows["200.0"], "local": None, "remote": "ready"}
    assert info["latest_ready"] is None
    text = status_mod.render([info])
    header = next(line for line in text.splitlines() if "revision" in line and "date" in line)
    assert "remote" in header  # the table has a remote column
    with pytest.raises(UsageError):
        status_mod.collect("../x")


def test_unreadable_remote_root_falls_back_to_the_last_pulled_revision(
    home, tmp_path, monkeypatch, caplog
):
    import errno
    import json as json_module

    from rezup.operations import use

    remote = tmp_path / "remote"
    local = tmp_path / "local"
    pulled = local / ".main" / "revisions" / "1700000000.000001"
    pulled.mkdir(parents=True)
    (pulled / "rezup.toml").write_text("")
    source = remote / ".main" / "revisions" / "1700000000.000001"
    (pulled / "revision.json").write_text(json_module.dumps({"pulled_from": str(source)}))

    real_listdir = os.listdir

    def stale_nfs(path):
        if str(path).startswith(str(remote)):
            raise OSError(errno.ESTALE, "Stale file handle", str(path))
        return real_listdir(path)

    monkeypatch.setattr(paths.os, "listdir", stale_nfs)
    revision, using_remote = use.revision_for_use(".main")
    assert revision.dirname() == pulled.name and using_remote
    assert "cannot read the remote root" in caplog.text

    (pulled / "revision.json").write_text("{}")  # nothing pulled before: a clear error
    with pytest.raises(ContainerError, match=r"cannot read the remote root .*Stale file handle"):
        use.revision_for_use(".main")
