"""Fault injection: every fault leaves rezup working, or failing with one clear line.

Each test reproduces one fault found in a stress run (issue 9): empty names, corrupt metadata
of every shape, pulls failing with OS errors, stale soft locks of every format, killed
publishes, unreadable and read-only roots, deep nesting, full disks, SIGTERM/SIGHUP, FIFOs.
Full disks and read-only roots are real tmpfs mounts (skipped where this user cannot mount);
unreadable paths, which root can read anyway, are real where the filesystem allows (a
``revision.json`` that is a folder) and injected in process otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REZ_RECIPE, Sandbox, fill, one_error_line

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX faults")


# --------------------------------------------------------------------------------------------
# Helpers


def _finished_pid() -> int:
    """The PID of a process that has exited (and not been reused since, most likely)."""
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


# --------------------------------------------------------------------------------------------
# 5. Killed publishes leave nothing for good


def test_interrupted_publishes_are_shown_and_cleared(remote_sandbox: Sandbox):
    box = remote_sandbox
    box.write_recipe(REZ_RECIPE, name="farm")
    revisions = box.remote_root / "farm" / "revisions"
    host = socket.gethostname()
    dead = revisions / f".incoming-100.000000-{_finished_pid()}@{host}"
    old = revisions / ".incoming-200.000000-1@other-host.example"
    fresh = revisions / ".incoming-300.000000-1@other-host.example"
    for folder in (dead, old, fresh):
        (folder / "wheels").mkdir(parents=True)
    os.utime(old, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    status = json.loads(box.rezup("status", "farm", "--json", check=True).stdout)
    assert sorted(status["containers"][0]["stale_publishes"]) == sorted([dead.name, old.name])
    assert "2 interrupted publish(es)" in box.rezup("status", "farm", check=True).stdout
    box.rezup("add", "farm", "--remote", "--skip-use", check=True)
    assert not dead.exists() and not old.exists()
    assert fresh.exists(), "another host's publish under way is left alone"
    assert len(box.ready_revisions("farm", remote=True)) == 1


@pytest.mark.parametrize("lock_kind", ["native", "soft"])
def test_a_killed_publish_is_cleared_by_the_next(remote_sandbox: Sandbox, lock_kind: str):
    box = remote_sandbox
    box.write_recipe(REZ_RECIPE, name="farm")
    env = {**box.env, "REZUP_LOCK": lock_kind}
    revisions = box.remote_root / "farm" / "revisions"
    victim = subprocess.Popen(
        [sys.executable, "-m", "rezup", "add", "farm", "--remote", "--wheels", "--skip-use"],
        env=env,
        cwd=str(box.base),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not (
        revisions.is_dir() and any(p.name.startswith(".incoming-") for p in revisions.iterdir())
    ):
        assert victim.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    assert [p.name for p in revisions.iterdir() if p.name.startswith(".incoming-")]
    assert box.ready_revisions("farm", remote=True) == []
    box.rezup("add", "farm", "--remote", "--skip-use", check=True, env=env)
    assert not [p for p in revisions.iterdir() if p.name.startswith(".incoming-")]
    assert len(box.ready_revisions("farm", remote=True)) == 1


# --------------------------------------------------------------------------------------------
# 8. A full disk in rezup's own writes names the step and the path


def test_a_full_remote_root_names_the_step_and_the_path(remote_sandbox: Sandbox, tmpfs):
    box = remote_sandbox
    box.write_recipe(REZ_RECIPE, name="farm")
    tmpfs(box.remote_root, "256k")
    (box.remote_root / "farm" / "revisions").mkdir(parents=True)
    fill(box.remote_root)
    result = box.rezup("add", "farm", "--remote", "--skip-use")
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert "publishing revision" in line and "No space left on device" in line
    assert str(box.remote_root / "farm" / "revisions") in line
    assert [p.name for p in (box.remote_root / "farm" / "revisions").iterdir()] == []


# --------------------------------------------------------------------------------------------
# 9. SIGTERM and SIGHUP during add behave like Ctrl-C


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_during_add_cleans_up(sandbox: Sandbox, signum):
    sandbox.write_recipe(REZ_RECIPE, name="k")
    victim = subprocess.Popen(
        [sys.executable, "-m", "rezup", "add", "k", "--skip-use"],
        env=sandbox.env,
        cwd=str(sandbox.base),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    revisions = sandbox.local_root / "k" / "revisions"
    deadline = time.monotonic() + 60
    while not list(revisions.glob("*/venv/rez/bin/python")):
        assert victim.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    [folder] = [p for p in revisions.iterdir()]
    victim.send_signal(signum)  # rezup alone, as a scheduler cancelling the job would
    _, err = victim.communicate(timeout=60)
    assert victim.returncode == 128 + signum
    name = signal.Signals(signum).name
    assert (
        "rezup: interrupted" if signum == signal.SIGINT else f"rezup: interrupted by {name}"
    ) in err
    assert "Traceback" not in err
    assert not folder.exists(), "the half-built revision is removed"
    assert not any(str(folder) in _cmdline(pid) for pid in _pids()), "no uv is left running"


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_killed_add_under_soft_locks_is_cleared_by_the_next_add(sandbox: Sandbox):
    sandbox.write_recipe(REZ_RECIPE, name="k")
    env = {**sandbox.env, "REZUP_LOCK": "soft"}
    victim = subprocess.Popen(
        [sys.executable, "-m", "rezup", "add", "k", "--skip-use"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=str(sandbox.base),
    )
    deadline = time.monotonic() + 60
    revisions = sandbox.local_root / "k" / "revisions"
    while not list(revisions.glob(".incoming-*/venv/rez/bin/python")):  # a fenced build
        assert victim.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    [partial] = revisions.glob(".incoming-*")
    assert sandbox.revisions("k") == [], "nothing half-built under a revision's name"
    result = sandbox.rezup("add", "k", "--skip-use", check=True, env=env)
    assert f"removing {partial.name}, left by a build that was interrupted" in result.stderr
    assert not partial.exists()
    assert len(sandbox.ready_revisions("k")) == 1
    assert shutil.which("true")
