"""Unit tests for the revision lifecycle: in-use claims, prune, drop, rollback, diff, inspect.

Revisions here are folders written by hand (no venv); claims are real ``flock`` locks held by
real child processes, taken through ``rezup.runtime.session.claim`` as ``rezup use`` takes them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from functools import partial
from pathlib import Path

import pytest

from rezup.cli import main
from rezup.ground.errors import ContainerError, RevisionGoneError, UsageError
from rezup.ground.settings import parse_duration
from rezup.operations import diff as diff_operation
from rezup.operations import inspect as inspect_operation
from rezup.operations.prune import prune
from rezup.runtime import session
from rezup.stages import claims
from tests.helpers import fake_revision

pytestmark = pytest.mark.skipif(os.name == "nt", reason="claims are POSIX flock locks")


# a revision folder as a build leaves it: recipe, plan, claim file, revision.json
make_revision = partial(
    fake_revision, claim=True, plan_pins=("rez==3.4.0",), rez_version="3.4.0", python="3.11.7"
)


HOLDER = textwrap.dedent("""
    import sys, time
    from rezup.runtime import session
    fd = session.claim(sys.argv[1])
    print("claimed" if fd is not None else "no claim", flush=True)
    time.sleep(120)
""")


class Holder:
    """A child process that claims a revision the way ``rezup use`` does, until killed."""

    def __init__(self, revision: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(revision)], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout.readline().strip() == "claimed"

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process.stdout.close()


@pytest.fixture
def holders():
    started: list[Holder] = []

    def start(revision: Path) -> Holder:
        holder = Holder(revision)
        started.append(holder)
        return holder

    yield start
    for holder in started:
        if holder.process.poll() is None:
            holder.kill()


@pytest.fixture
def local(home, tmp_path) -> Path:
    return tmp_path / "local"


# --------------------------------------------------------------------------------------------
# Claims


def test_claim_is_seen_while_the_holder_lives_and_gone_with_it(local, holders):
    revision = make_revision(local, "dev", "100.0")
    assert not claims.is_claimed(revision)
    holder = holders(revision)
    assert claims.is_claimed(revision)
    assert holder.pid in claims.holders(revision)
    with claims.exclusive(revision) as free:
        assert not free
    holder.kill()  # SIGKILL: the kernel drops the claim
    assert not claims.is_claimed(revision)
    assert claims.holders(revision) == []


def test_claim_survives_exec_and_children(local, tmp_path):
    """The claim descriptor is inherited across exec (the command itself holds it, under the
    same PID) and by the command's children, which keep it after the command is gone."""
    revision = make_revision(local, "dev", "100.0")
    script = (
        "import os, sys; from rezup.runtime import session; session.claim(sys.argv[1]); "
        "os.execvp('sh', ['sh', '-c', 'sleep 60 & echo started; wait'])"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(revision)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout.readline().strip() == "started"
        assert claims.is_claimed(revision)
        assert process.pid in claims.holders(revision)  # exec keeps the PID
        process.kill()  # only the shell: its child `sleep` still runs in the revision
        process.wait()
        assert claims.is_claimed(revision)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.stdout.close()
    deadline = time.monotonic() + 10
    while claims.is_claimed(revision):  # the kernel drops it with the last process
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_claim_of_a_revision_being_removed_fails(local):
    from rezup.ground.errors import RevisionGoneError
    from rezup.runtime import session

    revision = make_revision(local, "dev", "100.0")
    with claims.exclusive(revision) as taken:
        assert taken
        with pytest.raises(RevisionGoneError):
            session.claim(str(revision))
    (revision / "revision.json").unlink()  # retired: nobody new may enter it
    with pytest.raises(RevisionGoneError):
        session.claim(str(revision))


def test_claims_are_not_trusted_on_network_filesystems(local, monkeypatch):
    revision = make_revision(local, "dev", "100.0")
    monkeypatch.setenv("REZUP_LOCK", "soft")  # what a network filesystem gets
    assert not claims.trusted(revision)
    assert claims.is_claimed(revision), "a free claim proves nothing there"
    monkeypatch.setenv("REZUP_LOCK", "native")  # the admin says its locks work
    assert claims.trusted(revision)
    assert not claims.is_claimed(revision)


# --------------------------------------------------------------------------------------------
# Durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("90", 90),
        ("1.5", 1.5),
        ("45s", 45),
        ("10m", 600),
        ("12h", 43200),
        ("30d", 2592000),
        ("2w", 1209600),
        (" 7D ", 604800),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-1d", "1y", "nan", "inf", "d", "1 d 2h"])
def test_parse_duration_refuses(text):
    with pytest.raises(UsageError, match="duration"):
        parse_duration(text)


# --------------------------------------------------------------------------------------------
# Prune


def stamps(root: Path, name: str = "dev") -> list[str]:
    folder = root / name / "revisions"
    return sorted((p.name for p in folder.iterdir() if not p.name.startswith(".")), key=float)


def test_prune_keeps_the_newest_and_what_is_in_use(local, holders):
    for stamp in ("100.0", "200.0", "300.0", "400.0"):
        make_revision(local, "dev", stamp)
    make_revision(local, "dev", "50.0", ready=False)  # a killed build
    holder = holders(local / "dev" / "revisions" / "200.0")

    [result] = prune("dev", keep=1)
    assert stamps(local) == ["200.0", "400.0"]
    assert sorted(r.revision for r in result.removed) == ["100.0", "300.0", "50.0"]
    [kept] = result.kept
    assert kept.revision == "200.0" and kept.why_not == "in use" and holder.pid in kept.pids

    holder.kill()
    [result] = prune("dev", keep=1)  # a later prune removes it once free
    assert stamps(local) == ["400.0"]
    assert [r.revision for r in result.removed] == ["200.0"]


def test_prune_keep_older_than_and_dry_run(local):
    now = time.time()
    old, middle, new = f"{now - 10 * 86400:.6f}", f"{now - 3 * 86400:.6f}", f"{now:.6f}"
    for stamp in (old, middle, new):
        make_revision(local, "dev", stamp)
    [result] = prune("dev", keep=1, older_than=parse_duration("5d"), dry_run=True)
    assert [r.revision for r in result.removed] == [old]
    assert stamps(local) == [old, middle, new], "a dry run removes nothing"
    prune("dev", keep=2)
    assert stamps(local) == [middle, new]
    with pytest.raises(UsageError, match="--keep"):
        prune("dev", keep=0)
    with pytest.raises(ContainerError, match="no container named 'nosuch'"):
        prune("nosuch")


def test_prune_never_removes_a_revision_being_built(local):
    make_revision(local, "dev", "100.0")
    building = make_revision(local, "dev", "200.0", ready=False)
    make_revision(local, "dev", "300.0")
    from rezup.tools.build_lock import hold

    with hold(local / "dev" / ".locks" / "200.0.lock", "testing"):
        prune("dev")
    assert building.is_dir()
    assert stamps(local) == ["200.0", "300.0"]


def test_prune_without_name_prunes_every_local_container(local, capsys):
    for name in ("a", "b"):
        make_revision(local, name, "100.0")
        make_revision(local, name, "200.0")
    assert main(["prune"]) == 0
    assert stamps(local, "a") == ["200.0"] and stamps(local, "b") == ["200.0"]
    err = capsys.readouterr().err
    assert "a: removed 100.0" in err and "b: removed 100.0" in err and "freed" in err


# --------------------------------------------------------------------------------------------
# Drop


def test_drop_leaves_revisions_in_use_and_finishes_later(local, holders, capsys):
    make_revision(local, "dev", "100.0")
    used = make_revision(local, "dev", "200.0")
    holder = holders(used)
    assert main(["drop", "dev"]) == 0
    err = capsys.readouterr().err
    assert "dropped container" not in err
    assert "in use" in err and str(holder.pid) in err
    assert used.is_dir() and (used / "venv").is_dir(), "what runs there keeps its files"
    assert not (local / "dev" / "revisions" / "100.0").exists()
    assert not (used / "revision.json").exists(), "nobody new enters a dropped container"
    code = main(["use", "dev", "--", "true"])
    assert code == 1 and "no ready revision" in capsys.readouterr().err

    holder.kill()
    assert main(["prune"]) == 0  # the next rezup run that writes
    assert not (local / "dev").exists()
    assert [p.name for p in local.iterdir()] == []


def test_drop_one_revision(local, holders, capsys):
    make_revision(local, "dev", "100.0")
    make_revision(local, "dev", "200.0")
    assert main(["drop", "dev", "--revision", "100.0"]) == 0
    assert stamps(local) == ["200.0"]
    assert "dropped revision 100.0 of dev" in capsys.readouterr().err
    holder = holders(local / "dev" / "revisions" / "200.0")
    assert main(["drop", "dev", "--revision", "200"]) == 0
    assert f"in use by PID {holder.pid}" in capsys.readouterr().err
    assert main(["drop", "dev", "--revision", "999.0"]) == 1
    assert "no revision 999.0" in capsys.readouterr().err


def test_drop_refuses_while_a_revision_is_being_built(local, capsys):
    make_revision(local, "dev", "100.0")
    from rezup.tools.build_lock import hold

    with hold(local / "dev" / ".locks" / "200.0.lock", "testing"):
        assert main(["drop", "dev"]) == 1
    assert "being built" in capsys.readouterr().err
    assert stamps(local) == ["100.0"]


# --------------------------------------------------------------------------------------------
# Rollback, diff, inspect


def test_use_revision_enters_that_revision(local, capfd):
    make_revision(local, "dev", "100.0")
    make_revision(local, "dev", "200.0")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rezup",
            "use",
            "dev",
            "--revision",
            "100.0",
            "--",
            "sh",
            "-c",
            "echo $REZUP_REVISION",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "100.0"
    code = main(["use", "dev", "--revision", "150.0", "--", "true"])
    assert code == 1
    assert "no revision 150.0 of container 'dev'" in capfd.readouterr().err


def test_diff_shows_pins_env_and_recipe_changes(local, capsys):
    make_revision(
        local,
        "dev",
        "100.0",
        plan_pins=("rez==3.3.0", "six==1.16.0"),
        env={"STUDIO": "a", "GONE": "x"},
        recipe='[rez]\nurl = "rez==3.3.0"\n',
    )
    make_revision(
        local,
        "dev",
        "200.0",
        plan_pins=("rez==3.4.0", "pyyaml==6.0.2"),
        env={"STUDIO": "b"},
        recipe='[rez]\nurl = "rez==3.4.0"\n',
    )
    result = diff_operation.diff("dev")
    assert (result["from"], result["to"]) == ("100.0", "200.0")
    assert result["venvs"]["rez"] == {
        "added": {"pyyaml": "6.0.2"},
        "removed": {"six": "1.16.0"},
        "changed": {"rez": ["3.3.0", "3.4.0"]},
    }
    assert result["env"] == {
        "added": {},
        "removed": {"GONE": "x"},
        "changed": {"STUDIO": ["a", "b"]},
    }
    assert '-url = "rez==3.3.0"' in result["recipe"]
    assert main(["diff", "dev", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["venvs"]["rez"]["changed"]["rez"] == [
        "3.3.0",
        "3.4.0",
    ]
    assert main(["diff", "dev", "200.0", "100.0"]) == 0
    text = capsys.readouterr().out
    assert "~ rez==3.4.0 -> 3.3.0" in text and "~ STUDIO = b -> a" in text


def test_inspect_one_revision(local, holders, capsys):
    revision = make_revision(local, "dev", "100.0", env={"STUDIO": "a"})
    holder = holders(revision)
    info = inspect_operation.inspect("dev")
    assert info["state"] == "ready" and info["in_use"] and info["pids"] == [holder.pid]
    assert info["pins"] == {"rez": {"rez": "3.4.0"}}
    assert info["environment"]["env"] == {"STUDIO": "a"}
    assert info["path"] == str(revision)
    assert main(["inspect", "dev", "100.0"]) == 0
    text = capsys.readouterr().out
    assert "in use by PID" in text and "rez==3.4.0" in text
    assert main(["inspect", "dev", "7.0"]) == 1
    assert "no revision 7.0" in capsys.readouterr().err


def test_job_claims_on_shared_roots_are_records_other_hosts_can_read(local, monkeypatch):
    """A revision built on a network filesystem has a claims folder: each job records itself
    there; the host that wrote a record checks its process, other hosts expire it after the
    longest job; a remover marks the revision first, so no job enters it meanwhile."""
    from rezup.ground import hosts

    revision = make_revision(local, "dev", "100.0")
    records = revision / ".claims"
    records.mkdir()
    monkeypatch.setenv("REZUP_LOCK", "soft")  # what a network filesystem gets
    assert not claims.trusted(revision)
    assert not claims.is_claimed(revision), "no job recorded: free"

    fd = session.claim(str(revision))  # this process is the job
    try:
        [mine] = os.listdir(records)
        host, _, namespace = hosts.identity()
        assert mine.startswith(f"{host}#{os.getpid()}#")
        assert claims.is_claimed(revision)
        with claims.removing(revision) as live:
            assert live == [mine]
    finally:
        os.close(fd)
    (records / mine).unlink()

    finished = subprocess.Popen(["true"])
    finished.wait()
    _, boot, namespace = hosts.identity()
    (records / f"{host}#{finished.pid}#").write_text(f"{boot}\n{namespace}\n")  # ended here
    other = records / "render-042#12#345"
    other.write_text("another-boot\npid:[1]\n")  # another host's: cannot be checked from here
    assert claims.is_claimed(revision)
    with claims.removing(revision) as live:
        assert live == ["render-042#12#345"]
    assert not (records / f"{host}#{finished.pid}#").exists(), "an ended job's record expires"
    old = time.time() - 8 * 86400
    os.utime(other, (old, old))  # older than the longest job (7 days by default)
    assert not claims.is_claimed(revision)
    monkeypatch.setenv("REZUP_MAX_JOB_AGE", "30d")
    assert claims.is_claimed(revision), "the admin says jobs run up to 30 days"
    monkeypatch.delenv("REZUP_MAX_JOB_AGE")

    with claims.removing(revision) as live:
        assert live == []
        with pytest.raises(RevisionGoneError):  # a job starting meanwhile goes elsewhere
            session.claim(str(revision))
        assert [p.name for p in records.iterdir()] == [".removing"]
    assert list(records.iterdir()) == []


def test_a_build_takes_its_donor_claim_record_away_when_done(local):
    """A build claims its donor (clone, bytecode) like a job, but only while it uses it: on a
    shared root its record goes with the claim, so other hosts may remove the donor at once
    instead of waiting for the record to expire."""
    from rezup.stages.clone_donors import claimed

    revision = make_revision(local, "dev", "100.0")
    records = revision / ".claims"
    records.mkdir()
    with claimed(revision):
        # the clone's claim, then the bytecode's: the same donor, reached another way
        with claimed(revision / "venv" / "rez" / ".." / ".."):
            assert len(os.listdir(records)) == 1
        assert len(os.listdir(records)) == 1, "the outer claim still holds"
        assert claims.is_claimed(revision)
    assert os.listdir(records) == []
    assert not claims.is_claimed(revision)
