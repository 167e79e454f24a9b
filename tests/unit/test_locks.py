"""Locks: which kind, agreed per folder, held across uv children, and non-blocking takes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from rezup.tools.build_lock import (
    KIND_FILENAME,
    NETWORK_FILESYSTEMS,
    agreed_lock_kind,
    filesystem_type,
    is_held,
    lease_file,
    try_hold,
)


def test_filesystem_type_from_the_mount_table(tmp_path):
    for folder in ("pipe/rezup/.main/.locks", "share space/x", "pipeline", "home/me"):
        (tmp_path / folder).mkdir(parents=True)
    root = os.path.realpath(tmp_path)
    mounts = textwrap.dedent(f"""\
        /dev/vda / ext4 rw,relatime 0 0
        proc /proc proc rw 0 0
        filer:/export/pipe {root}/pipe nfs4 rw,vers=4.2 0 0
        //smb/share {root}/share\\040space cifs rw 0 0
    """)
    assert filesystem_type(tmp_path / "pipe/rezup/.main/.locks", mounts) == "nfs4"
    assert filesystem_type(tmp_path / "pipe/rezup/not/yet/made", mounts) == "nfs4"
    assert filesystem_type(tmp_path / "share space/x", mounts) == "cifs"
    assert filesystem_type(tmp_path / "pipeline", mounts) == "ext4"  # a prefix is no mount
    assert filesystem_type(tmp_path / "home/me", mounts) == "ext4"
    assert {"nfs4", "cifs"} <= NETWORK_FILESYSTEMS and "ext4" not in NETWORK_FILESYSTEMS


def test_the_first_process_records_the_kind_for_everyone(tmp_path, monkeypatch):
    locks = tmp_path / ".locks"
    monkeypatch.setenv("REZUP_LOCK", "auto")
    (locks).mkdir()
    (locks / KIND_FILENAME).write_text("soft\n")  # as a client on NFS would have recorded
    assert agreed_lock_kind(locks) == "soft"
    with try_hold(locks / "1.lock") as taken:  # a soft lock is a lease beside the native one
        assert taken and lease_file(locks / "1.lock").name == "1.lease"
        assert lease_file(locks / "1.lock").is_file()
    monkeypatch.setenv("REZUP_LOCK", "native")  # an explicit choice still wins
    assert agreed_lock_kind(locks) == "native"

    fresh = tmp_path / "other" / ".locks"
    monkeypatch.setenv("REZUP_LOCK", "auto")
    kind = agreed_lock_kind(fresh)
    assert (fresh / KIND_FILENAME).read_text().strip() == kind


def test_soft_lock_ignores_a_native_lock_file_left_beside_it(tmp_path, monkeypatch):
    monkeypatch.setenv("REZUP_LOCK", "soft")
    locks = tmp_path / ".locks"
    locks.mkdir()
    (locks / "1700000000.0.lock").write_text("")  # left by a native lock
    assert not is_held(locks / "1700000000.0.lock")
    with try_hold(locks / "1700000000.0.lock") as taken:
        assert taken
        assert is_held(locks / "1700000000.0.lock")


def test_try_hold_does_not_wait(tmp_path):
    lock_file = tmp_path / "x.lock"
    with try_hold(lock_file) as first:
        assert first
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path\n"
                "from rezup.tools.build_lock import try_hold\n"
                "with try_hold(Path(sys.argv[1])) as taken: print(taken)",
                str(lock_file),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        assert child.stdout.strip() == "False"


KILLED_BUILDER = """
import os, sys, threading, time
from pathlib import Path
from rezup.tools import uv_process
from rezup.stages.build_site import building_under_lock
with building_under_lock(Path(sys.argv[1]), "testing"):
    threading.Thread(target=uv_process.run, args=(["ignored"],), daemon=True).start()
    time.sleep(0.5)
    os._exit(9)  # killed while "uv" runs: only this process dies, like kill -9 PID
"""


@pytest.mark.skipif(os.name == "nt", reason="POSIX descriptors")
def test_native_lock_stays_held_while_uv_children_live(tmp_path, monkeypatch):
    monkeypatch.setenv("REZUP_LOCK", "native")
    fake_uv = tmp_path / "fake-uv"
    fake_uv.write_text("#!/bin/sh\nexec sleep 3\n")
    fake_uv.chmod(0o755)
    lock_file = tmp_path / ".locks" / "1.lock"
    env = {**os.environ, "UV": str(fake_uv), "REZUP_LOCK": "native"}
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-c", KILLED_BUILDER, str(lock_file)], env=env, timeout=30, check=False
    )
    assert is_held(lock_file), "the orphaned uv child must keep the build lock"
    while is_held(lock_file):
        assert time.monotonic() - started < 20
        time.sleep(0.1)
    assert time.monotonic() - started >= 2.5  # released only when the child exited
