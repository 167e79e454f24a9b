"""Fault injection: every fault leaves rezup working, or failing with one clear line.

Each test reproduces one fault found in a stress run (issue 9): empty names, corrupt metadata
of every shape, pulls failing with OS errors, stale soft locks of every format, killed
publishes, unreadable and read-only roots, deep nesting, full disks, SIGTERM/SIGHUP, FIFOs.
Full disks and read-only roots are real tmpfs mounts (skipped where this user cannot mount);
unreadable paths, which root can read anyway, are real where the filesystem allows (a
``revision.json`` that is a folder) and injected in process otherwise.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from functools import partial
from pathlib import Path

import pytest

from rezup.cli import main
from rezup.ground import paths, revision_json
from rezup.ground.errors import LockError, UsageError
from tests.helpers import fake_revision, fill, one_error_line, publish_by_hand, rezup

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX faults")


# --------------------------------------------------------------------------------------------
# Helpers


def remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


# a local revision written by hand (no venv): enough to be entered by `use -- CMD`
make_revision = partial(fake_revision, claim=True, rez_version="3.4.0", python="3.11.7")


# --------------------------------------------------------------------------------------------
# 1. An empty container name is an error everywhere (never the default container)


@pytest.mark.parametrize(
    "args",
    [
        ["drop", ""],
        ["use", "", "--", "true"],
        ["use", ""],
        ["add", "", "--skip-use"],
        ["status", ""],
        ["prune", ""],
        ["inspect", ""],
        ["diff", ""],
        ["drop", "", "--revision", "1.0"],
    ],
)
def test_an_empty_container_name_is_an_error_everywhere(local, capsys, monkeypatch, args):
    monkeypatch.delenv("REZUP_ROOT_REMOTE")
    main_revision = make_revision(local, ".main", "100.0")
    assert main(args) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "invalid container name ''" in line
    assert main_revision.is_dir(), "the default container is untouched"


def test_an_empty_name_is_an_error_on_the_lean_path_and_in_the_api(local, env):
    make_revision(local, ".main", "100.0")
    result = rezup(env, "use", "", "--", "echo", "entered")
    assert result.returncode == 2 and "entered" not in result.stdout
    assert "invalid container name ''" in one_error_line(result.stderr)
    from rezup import Container, ContainerRecipe

    for make in (lambda: Container(""), lambda: ContainerRecipe("")):
        with pytest.raises(UsageError, match="invalid container name ''"):
            make()


# --------------------------------------------------------------------------------------------
# 2. Corrupt metadata of every shape is skipped: an older ready revision is used


CORRUPT = {
    "truncated": b'{"rez_version": "3.4',
    "empty": b"",
    "invalid": b"{oops",
    "list": b"[]",
    "null": b"null",
    "string": b'"revision"',
    "number": b"42",
    "binary": b"\xff\xfe\x00\x01",
    "deep": b"[" * 100_000,
    "folder": None,
}


@pytest.mark.parametrize("shape", sorted(CORRUPT))
def test_a_broken_newest_revision_is_skipped(local, env, shape, monkeypatch):
    monkeypatch.delenv("REZUP_ROOT_REMOTE")
    env.pop("REZUP_ROOT_REMOTE")
    make_revision(local, "dev", "100.0")
    broken = make_revision(local, "dev", "200.0")
    metadata = broken / "revision.json"
    if CORRUPT[shape] is None:  # unreadable: a folder where the file should be
        metadata.unlink()
        metadata.mkdir()
    else:
        metadata.write_bytes(CORRUPT[shape])
    probe = ["--", "sh", "-c", "echo entered $REZUP_REVISION"]
    for lean in (True, False):  # the lean path, and the full command line (-D forces it)
        result = rezup(env, *(["use", "dev"] if lean else ["-D", "use", "dev"]), *probe)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "entered 100.0"
        assert f"skipping revision {broken}" in result.stderr
        assert "Traceback" not in result.stderr
    status = rezup(env, "status", "dev", "--json")
    assert status.returncode == 0, status.stderr
    rows = {r["revision"]: r for r in json.loads(status.stdout)["containers"][0]["revisions"]}
    # a folder where the file should be is no ready marker: that revision never completed
    assert rows["200.0"]["local"] == ("incomplete" if shape == "folder" else "broken")
    assert rows["100.0"]["local"] == "ready"
    assert rezup(env, "status").returncode == 0


# --------------------------------------------------------------------------------------------
# 3. A pull failing with an OS error falls back to the last pulled revision, and is recorded


def test_a_pull_failing_with_an_os_error_falls_back_and_is_recorded(local, remote, env):
    pulled_from = publish_by_hand(remote, "dev", "100.0")
    make_revision(local, "dev", "100.0", pulled_from=str(pulled_from))
    newest = publish_by_hand(remote, "dev", "200.0")
    (newest / "rezup.toml").unlink()
    (newest / "rezup.toml").mkdir()  # reading the recipe fails: IsADirectoryError
    probe = ["use", "dev", "--", "sh", "-c", "echo entered $REZUP_REVISION"]
    first = rezup(env, *probe)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "entered 100.0"
    assert "cannot pull revision 200.0 of dev" in first.stderr
    assert "Is a directory" in first.stderr and str(newest / "rezup.toml") in first.stderr
    assert (local / "dev" / ".locks" / "200.0.failed").is_file(), "the failure is recorded"
    again = rezup(env, *probe)
    assert again.stdout.strip() == "entered 100.0"
    assert "failed less than 300s ago" in again.stderr  # not tried again by every job
    assert not (local / "dev" / "revisions" / "200.0").exists()


def test_a_pull_onto_a_full_disk_falls_back(local, remote, env, tmpfs):
    tmpfs(local, "512k")
    pulled_from = publish_by_hand(remote, "dev", "100.0")
    make_revision(local, "dev", "100.0", pulled_from=str(pulled_from))
    publish_by_hand(remote, "dev", "200.0")
    fill(local)
    result = rezup(env, "use", "dev", "--", "sh", "-c", "echo entered $REZUP_REVISION")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "entered 100.0"
    assert "No space left on device" in result.stderr
    assert not (local / "dev" / "revisions" / "200.0").exists()


# --------------------------------------------------------------------------------------------
# 4. Soft locks are as safe as native ones


SOFT_BUILDER = textwrap.dedent("""
    import os, sys, threading, time
    from pathlib import Path
    from rezup.tools import uv_process
    from rezup.stages.build_site import building_under_lock
    with building_under_lock(Path(sys.argv[1]), "testing"):
        threading.Thread(target=uv_process.run, args=(["ignored"],), daemon=True).start()
        time.sleep(0.5)
        os._exit(9)  # only the builder dies, like kill -9 PID: its uv child runs on
""")


def test_a_dead_builders_soft_lock_is_kept_while_its_uv_runs(tmp_path, monkeypatch):
    from rezup.tools.build_lock import is_held, try_hold

    monkeypatch.setenv("REZUP_LOCK", "soft")
    fake_uv = tmp_path / "fake-uv"
    fake_uv.write_text("#!/bin/sh\nexec sleep 3\n")
    fake_uv.chmod(0o755)
    lock_file = tmp_path / ".locks" / "1.lock"
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-c", SOFT_BUILDER, str(lock_file)],
        env={**os.environ, "UV": str(fake_uv)},
        timeout=30,
        check=False,
    )
    assert lock_file.with_suffix(".lease").exists()
    assert is_held(lock_file), "its uv still writes: the lock is still held"
    with try_hold(lock_file) as taken:
        assert not taken
    while time.monotonic() - started < 20:
        with try_hold(lock_file) as taken:  # taken over as soon as the uv child is gone
            if taken:
                break
        time.sleep(0.1)
    assert taken and time.monotonic() - started >= 2.5


def _dead_soft_claim(lock_file: Path) -> None:
    """A soft lock (lease) left by a process of this host that died holding it (kill -9)."""
    code = (
        "import os, sys; from pathlib import Path; from rezup.tools.build_lock import hold\n"
        "with hold(Path(sys.argv[1]), 'x'):\n    os._exit(9)"
    )
    subprocess.run([sys.executable, "-c", code, str(lock_file)], check=False, timeout=30)


def test_an_abandoned_build_under_a_dead_soft_lock_is_cleared(local, env, monkeypatch):
    monkeypatch.setenv("REZUP_LOCK", "soft")
    env["REZUP_LOCK"] = "soft"
    make_revision(local, "dev", "100.0")
    abandoned = make_revision(local, "dev", "200.0", ready=False)
    _dead_soft_claim(local / "dev" / ".locks" / "200.0.lock")
    assert abandoned.is_dir()
    result = rezup(env, "prune", "dev")
    assert result.returncode == 0, result.stderr
    assert not abandoned.exists()


def _lease_record(host: str, pid: int, token: str = "0" * 32, beat: int = 0) -> str:
    from rezup.ground import hosts

    _, boot, namespace = hosts.identity()
    return (
        f"rezup-lease 1\nhost={host}\nboot={boot}\npidns={namespace}\npid={pid}\n"
        f"start=\ntoken={token}\nduration=1\nbeat={beat:012d}\n"
    )


@pytest.mark.parametrize(
    ("left", "taken_over"),
    [
        ("lease of a dead local process", True),
        ("lease of another host, not refreshed for the lease time", True),
        ("damaged record, unchanged for the lease time", True),
        ("live holder, refreshing", False),
    ],
)
def test_stale_leases_of_every_kind(tmp_path, monkeypatch, left, taken_over):
    """Leases (soft locks) are taken over by whoever waits, after the lease time without a
    refresh (1 s here), or at once for a dead process of this host; a live holder keeps its
    lease however long it holds it."""
    from rezup.tools.build_lock import hold

    monkeypatch.setenv("REZUP_LOCK", "soft")
    monkeypatch.setenv("REZUP_LOCK_LEASE", "1")
    lock_file = tmp_path / ".locks" / "1.lock"
    lease = lock_file.with_suffix(".lease")
    lease.parent.mkdir(parents=True)
    holder = None
    if left.startswith("lease of a dead"):
        _dead_soft_claim(lock_file)
    elif left.startswith("lease of another host"):
        lease.write_text(_lease_record("other-host.example", 1))
    elif left.startswith("damaged"):
        lease.write_text("garbage")
    else:
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys, time; from pathlib import Path; "
                "from rezup.tools.build_lock import hold\nwith hold(Path(sys.argv[1]), 'x'):\n"
                "    print('held', flush=True); time.sleep(60)",
                str(lock_file),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ},
        )
        assert holder.stdout.readline().strip() == "held"
    assert lease.exists()
    try:
        started = time.monotonic()
        if taken_over:
            with hold(lock_file, "testing", timeout=10):
                waited = time.monotonic() - started
            expected = 0.5 if "dead local" in left else 3.0
            assert waited < expected, f"taken over after {waited:.1f}s"
        else:
            with pytest.raises(LockError) as info, hold(lock_file, "testing", timeout=3):
                pass
            assert f"waiting for the lock {lease} " in str(info.value)
            assert f"its holder, PID {holder.pid} on host {socket.gethostname()}" in str(info.value)
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
            holder.stdout.close()


def test_a_lock_timeout_is_recorded_for_later_jobs(local, remote, env, monkeypatch):
    pulled_from = publish_by_hand(remote, "dev", "100.0")
    make_revision(local, "dev", "100.0", pulled_from=str(pulled_from))
    publish_by_hand(remote, "dev", "200.0")
    env.update(REZUP_LOCK="soft", REZUP_LOCK_TIMEOUT="2")
    lock_file = local / "dev" / ".locks" / "200.0.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from rezup.tools.build_lock import hold\nwith hold(Path(sys.argv[1]), 'x'):\n"
            "    print('held', flush=True); time.sleep(600)",
            str(lock_file),
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        probe = ["use", "dev", "--", "sh", "-c", "echo entered $REZUP_REVISION"]
        first = rezup(env, *probe)
        assert first.stdout.strip() == "entered 100.0", first.stderr
        assert (
            f"gave up after 2s waiting for the lock {lock_file.with_suffix('.lease')}"
            in first.stderr
        )
        # a later job, even one that would wait long, does not wait again: had it tried the
        # lock, it would say so and wait for the holder (10 minutes; killed at 2)
        started = time.monotonic()
        second = rezup({**env, "REZUP_LOCK_TIMEOUT": "600"}, *probe)
        took = time.monotonic() - started
        assert second.stdout.strip() == "entered 100.0", second.stderr
        assert "failed less than" in second.stderr
        assert "waiting for another process" not in second.stderr
        assert took < 60, f"a later job waited again ({took:.1f}s): {second.stderr}"
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


# --------------------------------------------------------------------------------------------
# 6. status never fails: it reports the one broken thing and reads only


def test_status_reports_an_unreadable_remote_root(local, remote, capsys, monkeypatch):
    make_revision(local, "dev", "100.0")
    publish_by_hand(remote, "dev", "100.0")
    real_listdir = os.listdir

    def denied(path="."):
        if str(path).startswith(str(remote)):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_listdir(path)

    monkeypatch.setattr(paths.os, "listdir", denied)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert f"cannot read the remote root {remote}: Permission denied" in out
    assert "100.0" in out and "ready" in out


def test_status_reports_an_unreadable_remote_revision(local, remote, capsys, monkeypatch):
    published = publish_by_hand(remote, "dev", "100.0")
    metadata = str(published / "revision.json")

    def denied(path, *args, **kwargs):
        if str(path) == metadata:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(revision_json, "open", denied, raising=False)
    assert main(["status", "dev", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)["containers"][0]["revisions"]
    assert row["remote"] == "broken" and "cannot read revision.json" in row["error"]


def _tree(path: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(path)), p.stat().st_mtime_ns) for p in path.rglob("*"))


def test_status_writes_nothing_to_a_read_only_remote_root(local, remote, capsys, tmpfs):
    tmpfs(remote)
    publish_by_hand(remote, "dev", "100.0")
    make_revision(remote, "dev", "200.0", ready=False)  # an incomplete one: checks its lock
    before = _tree(remote)
    remount_read_only(remote)
    assert main(["status"]) == 0
    assert main(["status", "dev", "--json"]) == 0
    assert "error" not in capsys.readouterr().err
    assert _tree(remote) == before, "a read-only command writes nothing"


def test_a_read_only_local_root_is_used_and_claimed(local, env, tmpfs, monkeypatch):
    """A shared root an admin built, mounted read-only: jobs still enter and claim it."""
    from rezup.stages import claims

    env.pop("REZUP_ROOT_REMOTE")
    monkeypatch.delenv("REZUP_ROOT_REMOTE")
    tmpfs(local)
    revision = make_revision(local, "dev", "100.0")
    remount_read_only(local)
    job = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rezup",
            "use",
            "dev",
            "--",
            "sh",
            "-c",
            "echo entered $REZUP_REVISION; sleep 30",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert job.stdout.readline().strip() == "entered 100.0"
        assert claims.is_claimed(revision), "a read-only root is claimed all the same"
        status = rezup(env, "status", "dev")
        assert status.returncode == 0 and "yes" in status.stdout
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.communicate()


@pytest.mark.parametrize(
    "recipe",
    [
        '[root]\nlocal = "/tmp/' + "x" * 5000 + '"\n',
        "a = " + "[" * 5000 + "]" * 5000 + "\n",
        "[env]\nX = {" * 1 + "a = " * 0 + "}\n" + "b = " + "[" * 3000 + "1" + "]" * 3000 + "\n",
    ],
)
def test_status_reports_a_recipe_it_cannot_use(home, capsys, recipe):
    (home / "rezup.bad.toml").write_text(recipe, encoding="utf-8")
    (home / "rezup.good.toml").write_text("", encoding="utf-8")
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "bad" in out and "good" in out
    assert main(["status", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    data = {c["name"]: c for c in [*listed["containers"], *listed["recipes_without_container"]]}
    assert data["bad"]["recipe_error"] or data["bad"].get("errors")


# --------------------------------------------------------------------------------------------
# 7. Deeply nested TOML is a recipe error, on every path


def test_deeply_nested_recipes_are_recipe_errors(home, env):
    (home / "rezup.deep.toml").write_text(
        "[root]\nlocal = 'x'\n[env]\nA = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8"
    )
    (home / "rezup.deeper.toml").write_text(
        "a = " + "{b = " * 3000 + "1" + "}" * 3000, encoding="utf-8"
    )
    for name in ("deep", "deeper"):
        result = rezup(env, "add", name, "--skip-use")
        assert result.returncode == 2, result.stderr
        assert "nested too deeply" in one_error_line(result.stderr)
        result = rezup(env, "use", name, "--", "true")  # reads only [root]: "deep" has one
        assert result.returncode == (2 if name == "deep" else 1), result.stderr
        line = one_error_line(result.stderr)
        assert "nested too deeply" in line if name == "deep" else "no ready revision" in line
        status = rezup(env, "status", name)
        assert status.returncode == 0 and "recipe error" in status.stdout


# --------------------------------------------------------------------------------------------
# 10. Only regular files are recipes


def test_a_fifo_is_not_a_recipe(home, env, tmp_path):
    fifo = tmp_path / "recipe.fifo"
    os.mkfifo(fifo)
    result = rezup(env, "add", "--file", str(fifo), "--skip-use", timeout=30)
    assert result.returncode == 2
    assert "must be a regular file" in one_error_line(result.stderr)
    os.mkfifo(home / "rezup.dev.toml")  # the recipe of a container, as a FIFO
    for args in (["use", "dev", "--", "true"], ["add", "dev", "--skip-use"]):
        result = rezup(env, *args, timeout=30)
        assert result.returncode == 2
        assert "must be a regular file" in one_error_line(result.stderr)


@pytest.mark.parametrize("name", [None, "dev"])
def test_an_empty_file_option_is_an_error(home, capsys, name):
    (home / "rezup.toml").write_text("", encoding="utf-8")
    args = ["add", *([name] if name else []), "--file", "", "--skip-use"]
    assert main(args) == 2
    assert "the recipe file name is empty" in one_error_line(capsys.readouterr().err)
