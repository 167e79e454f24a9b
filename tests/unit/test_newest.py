"""``{container}/.newest``: ``rezup use`` need not list 10,000 revisions, and the revision it
chooses is always the one the full listing chooses (issue 13, "use with 10,000 revisions")."""

from __future__ import annotations

import json
import marshal
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rezup.ground import mark_ready, newest, paths, revision_json

pytestmark = pytest.mark.skipif(os.name == "nt", reason="no .newest on Windows")


# --------------------------------------------------------------------------------------------
# The rule as it was: every name of the listing, newest first (rezup 3.0)


def listed_newest_usable(revisions: str, warn) -> tuple:
    for name in paths.revision_names(revisions):
        revision_dir = os.path.join(revisions, name)
        try:
            metadata = revision_json.read_metadata(revision_dir)
        except ValueError as exc:
            warn(f"skipping revision {revision_dir}: {exc}")
            continue
        if metadata is not None:
            return name, metadata
    return None, None


def listed_newest_ready(revisions: str):
    for name in paths.revision_names(revisions):
        if revision_json.is_ready(os.path.join(revisions, name)):
            return name
    return None


def both_ways(revisions: Path) -> tuple:
    """(what the layout functions say, what the plain listing says): choice and warnings."""
    new_warnings: list[str] = []
    old_warnings: list[str] = []
    new = (
        newest.newest_usable(str(revisions), new_warnings.append),
        newest.newest_ready(str(revisions)),
        new_warnings,
    )
    old = (
        listed_newest_usable(str(revisions), old_warnings.append),
        listed_newest_ready(str(revisions)),
        old_warnings,
    )
    return new, old


# --------------------------------------------------------------------------------------------
# Revision folders in every state

STATES = (
    "incomplete",
    "ready",
    "broken",
    "not an object",
    "retired",
    "folder marker",
    "written by this rezup",
)


def make(revisions: Path, name: str, state: str) -> None:
    path = revisions / name
    path.mkdir(parents=True, exist_ok=True)
    set_state(path, state)


def set_state(path: Path, state: str) -> None:
    marker = path / paths.METADATA_FILENAME
    for leftover in (marker, path / paths.RETIRED_METADATA_FILENAME):
        if leftover.is_dir():
            leftover.rmdir()
        elif leftover.exists():
            leftover.unlink()
    metadata = {
        "venvs": ["rez"],
        "session": {"bin_dirs": [], "env": [], "dotenv": []},
        "name": path.name,
    }
    if state == "ready":
        marker.write_text(json.dumps(metadata), encoding="utf-8")
    elif state == "written by this rezup":  # with a marshal copy, as a build writes it
        mark_ready._write_marshal(str(path), json.dumps(metadata, indent=2, sort_keys=True) + "\n")
        marker.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    elif state == "broken":
        marker.write_text("{not json", encoding="utf-8")
    elif state == "not an object":
        marker.write_text("[1]", encoding="utf-8")
    elif state == "retired":
        (path / paths.RETIRED_METADATA_FILENAME).write_text("{}", encoding="utf-8")
    elif state == "folder marker":
        marker.mkdir()


_STAMPS = st.sampled_from(
    [
        "100.0",
        "100.5",
        "200",
        "200.000001",
        "300.25",
        "1000.0",
        "999.999",
        "50",
        "1700000000.123456",
        "100.00",
    ]
)
_OTHER = st.sampled_from([".incoming-300.0-1@host", "nan", "1e9", "notes.txt", ".dropped#x"])
_EVENTS = st.one_of(
    st.tuples(st.just("state"), _STAMPS, st.sampled_from(STATES)),  # no listing change
    st.tuples(st.just("add"), _STAMPS, st.sampled_from(STATES)),
    st.tuples(st.just("remove"), _STAMPS, st.just("")),
    st.tuples(st.just("other"), _OTHER, st.just("")),
    st.tuples(st.just("refresh"), st.just(""), st.just("")),
)


def apply(revisions: Path, event: tuple) -> None:
    kind, name, state = event
    path = revisions / name
    if kind == "state":
        if path.is_dir():
            set_state(path, state)
    elif kind == "add":
        if not path.exists():
            make(revisions, name, state)
    elif kind == "remove":
        if path.exists():
            shutil.rmtree(path)
    elif kind == "other" and not path.exists():
        (path.mkdir if name.startswith(".") else path.touch)()
    elif kind == "refresh":
        newest.refresh_newest(str(revisions))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    initial=st.dictionaries(_STAMPS, st.sampled_from(STATES), max_size=8),
    events=st.lists(_EVENTS, max_size=10),
)
def test_the_newest_file_never_changes_the_choice(tmp_path_factory, initial, events):
    revisions = tmp_path_factory.mktemp("c") / "dev" / "revisions"
    revisions.mkdir(parents=True)
    for name, state in initial.items():
        make(revisions, name, state)
    assert newest.refresh_newest(str(revisions))
    assert newest._trusted_head(str(revisions)) is not None  # the choice below uses it
    new, old = both_ways(revisions)
    assert new == old
    for event in events:
        apply(revisions, event)
        new, old = both_ways(revisions)
        assert new == old, event


def test_the_newest_file_is_used_when_nothing_moved(tmp_path):
    revisions = tmp_path / "dev" / "revisions"
    for name in ("100.0", "200.0"):
        make(revisions, name, "ready")
    make(revisions, "300.0", "incomplete")
    assert newest.refresh_newest(str(revisions))
    assert newest._trusted_head(str(revisions)) == ("300.0", "200.0")
    assert newest.newest_usable(str(revisions))[0] == "200.0"
    assert newest.newest_ready(str(revisions)) == "200.0"


def test_the_listing_is_not_read_when_the_newest_file_holds(tmp_path, monkeypatch):
    revisions = tmp_path / "dev" / "revisions"
    for index in range(50):
        make(revisions, f"{1000 + index}.0", "written by this rezup")
    newest.refresh_newest(str(revisions))

    def no_listing(path):
        raise AssertionError(f"listed {path}")

    monkeypatch.setattr(paths.os, "listdir", no_listing)
    assert newest.newest_usable(str(revisions))[0] == "1049.0"
    assert newest.choose_revision(str(revisions), None)[0] == "1049.0"


def test_write_metadata_of_a_revision_in_place_refreshes_the_newest_file(tmp_path):
    revisions = tmp_path / "dev" / "revisions"
    make(revisions, "100.0", "ready")
    (revisions / "200.0").mkdir()
    mark_ready.write_metadata(str(revisions / "200.0"), {"session": {}})
    assert newest._trusted_head(str(revisions)) == ("200.0",)
    staging = revisions / ".incoming-300.0-1@host"  # a publish: refreshed after the rename
    staging.mkdir()
    mark_ready.write_metadata(str(staging), {"remote": True})
    assert newest._trusted_head(str(revisions)) is None  # the listing moved on: not trusted


# --------------------------------------------------------------------------------------------
# Faults: .newest is a hint; whatever is wrong with it, the listing decides


def forge(
    revisions: Path,
    head: tuple,
    *,
    mtime_ns: int | None = None,
    stamp_ns: int | None = None,
    inode: int | None = None,
    tag: str = "",
) -> None:
    folder = os.stat(revisions)
    mtime = folder.st_mtime_ns if mtime_ns is None else mtime_ns
    data = (
        tag or newest._NEWEST_TAG,
        folder.st_ino if inode is None else inode,
        mtime,
        mtime + 10**9 if stamp_ns is None else stamp_ns,
        head,
    )
    (revisions.parent / paths.NEWEST_FILENAME).write_bytes(marshal.dumps(data))


@pytest.fixture
def revisions(tmp_path) -> Path:
    revisions = tmp_path / "dev" / "revisions"
    make(revisions, "100.0", "ready")
    make(revisions, "200.0", "ready")
    make(revisions, "300.0", "incomplete")
    return revisions


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"garbage\xff",
        b"\xf0\x01",
        marshal.dumps(["rezup .newest 1"]),
        marshal.dumps(("rezup .newest 1", 1, 2)),
        marshal.dumps(("rezup .newest 1", "1", "2", "3", ())),
    ],
)
def test_a_corrupt_newest_file_is_ignored(revisions, content):
    (revisions.parent / paths.NEWEST_FILENAME).write_bytes(content)
    assert newest._trusted_head(str(revisions)) is None
    assert newest.newest_usable(str(revisions))[0] == "200.0"


def test_a_newest_file_of_another_format_is_ignored(revisions):
    forge(revisions, ("100.0",), tag="rezup .newest 2")
    assert newest.newest_usable(str(revisions))[0] == "200.0"


@pytest.mark.parametrize("head", [("100.0", 7), ("nan",), (b"200.0",), ["200.0"]])
def test_a_newest_file_naming_no_revisions_is_ignored(revisions, head):
    forge(revisions, head)
    assert newest._trusted_head(str(revisions)) is None
    assert newest.newest_usable(str(revisions))[0] == "200.0"


def test_a_stale_newest_file_is_ignored(revisions):
    newest.refresh_newest(str(revisions))
    make(revisions, "400.0", "ready")  # by rezup 3.0 or 2.x, which write no .newest
    assert newest._trusted_head(str(revisions)) is None
    assert newest.newest_usable(str(revisions))[0] == "400.0"


def test_a_newest_file_written_in_the_same_clock_tick_is_ignored(revisions):
    """The racy case: written before the clock moved past the folder's last change."""
    forge(revisions, ("100.0",), stamp_ns=os.stat(revisions).st_mtime_ns)
    assert newest._trusted_head(str(revisions)) is None
    assert newest.newest_usable(str(revisions))[0] == "200.0"


def test_a_newest_file_of_a_replaced_folder_is_ignored(revisions):
    forge(revisions, ("100.0",), inode=os.stat(revisions).st_ino + 1)
    assert newest.newest_usable(str(revisions))[0] == "200.0"


def test_a_newest_file_naming_a_removed_revision_goes_on_down_the_listing(revisions):
    """Even one that passes every check (forged): its names are checked again, and the
    listing follows when none of them is usable."""
    forge(revisions, ("250.0",))
    assert newest._trusted_head(str(revisions)) == ("250.0",)
    assert newest.newest_usable(str(revisions))[0] == "200.0"
    assert newest.newest_ready(str(revisions)) == "200.0"


def test_a_newest_file_naming_a_revision_retired_since(revisions):
    newest.refresh_newest(str(revisions))
    assert newest._trusted_head(str(revisions)) == ("300.0", "200.0")
    os.replace(
        revisions / "200.0" / paths.METADATA_FILENAME,
        revisions / "200.0" / paths.RETIRED_METADATA_FILENAME,
    )  # the folder stays
    assert newest._trusted_head(str(revisions)) is not None
    assert newest.newest_usable(str(revisions))[0] == "100.0"


def test_a_newest_file_naming_a_revision_broken_since(revisions):
    newest.refresh_newest(str(revisions))
    (revisions / "200.0" / paths.METADATA_FILENAME).write_text("[]", encoding="utf-8")
    warnings: list[str] = []
    assert newest.newest_usable(str(revisions), warnings.append)[0] == "100.0"
    assert len(warnings) == 1 and "200.0" in warnings[0] and "not a JSON object" in warnings[0]


def test_a_revision_becoming_ready_under_the_newest_file_is_chosen(revisions):
    newest.refresh_newest(str(revisions))
    make(revisions, "300.0", "ready")  # finished by a rezup that writes no .newest
    assert newest.newest_usable(str(revisions))[0] == "300.0"


def test_an_unreadable_revisions_folder_is_an_error_as_before(revisions):
    """A root that cannot be listed (remote: RemoteRootError) is not hidden by .newest."""
    newest.refresh_newest(str(revisions))
    revisions.chmod(0o000)
    try:
        if os.access(revisions, os.R_OK):
            pytest.skip("this user reads any folder (root)")
        with pytest.raises(PermissionError):
            newest.newest_usable(str(revisions))
    finally:
        revisions.chmod(0o755)


def test_refreshing_never_fails(tmp_path):
    assert newest.refresh_newest(str(tmp_path / "nowhere" / "revisions")) is False
    revisions = tmp_path / "dev" / "revisions"
    make(revisions, "100.0", "ready")
    revisions.parent.chmod(0o555)
    try:
        written = newest.refresh_newest(str(revisions))  # a read-only container: no file
        assert written is os.access(revisions.parent, os.W_OK)
    finally:
        revisions.parent.chmod(0o755)
    assert not [p for p in revisions.parent.iterdir() if p.name.endswith(".tmp")]


def test_removing_a_revision_refreshes_the_newest_file(home, tmp_path):
    from rezup.stages.cleanup import remove_revision, retire
    from rezup.stages.disk_state import ContainerDir

    container = ContainerDir(tmp_path / "local", "dev")
    for name in ("100.0", "200.0", "300.0"):
        make(container.revisions(), name, "written by this rezup")
    newest.refresh_newest(str(container.revisions()))
    assert remove_revision(container.revision("300.0")).removed
    assert newest._trusted_head(str(container.revisions())) == ("200.0",)
    retire(container.revision("200.0"))
    assert newest._trusted_head(str(container.revisions())) == ("200.0", "100.0")


def test_use_with_many_revisions_enters_the_newest(home, tmp_path):
    revisions = tmp_path / "local" / ".main" / "revisions"
    for index in range(2000):
        make(revisions, f"{1600000000 + index}.000000", "ready")
    latest = revisions / "1600001999.000000"
    (latest / "venv" / "rez" / "bin" / "rez").mkdir(parents=True)
    mark_ready.write_metadata(
        str(latest),
        {"venvs": ["rez"], "session": {"bin_dirs": ["venv/rez/bin/rez"], "env": [], "dotenv": []}},
    )
    assert newest._trusted_head(str(revisions)) == (latest.name,)
    done = subprocess.run(
        [sys.executable, "-m", "rezup", "use", "--", "sh", "-c", "echo $REZUP_REVISION"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == latest.name
