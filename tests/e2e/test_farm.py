"""End to end, farm side: remote revisions, pinned pulls, concurrency, crashes, fallback,
offline wheelhouses. Real uv, real rez, real processes."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest

from tests.helpers import (
    REZ_RECIPE,
    Sandbox,
    installed_version,
    make_wheel,
    offline_env,
    rez_recipe,
)


def with_tinypkg(links: Path) -> str:
    return rez_recipe(f'lib = ["tinypkg"]\n\n[pip]\noptions = ["--find-links", "{links}"]\n')


def test_remote_add_pull_and_local(remote_sandbox: Sandbox):
    box = remote_sandbox
    box.write_recipe(REZ_RECIPE, name="farm")
    box.rezup("add", "farm", "--remote", "--skip-use", check=True)
    [remote] = box.ready_revisions("farm", remote=True)
    assert sorted(p.name for p in remote.iterdir()) == [
        "plan.lock",
        "pylock.rez.toml",
        "revision.json",
        "rezup.toml",
    ]
    assert not (box.local_root / "farm").exists()

    # --local ignores the remote: nothing local yet
    local_only = box.rezup("use", "farm", "--local", "--", "true")
    assert local_only.returncode == 1 and "no ready revision" in local_only.stderr

    result = box.rezup(
        "use",
        "farm",
        "--",
        "sh",
        "-c",
        'echo "$REZUP_USING_REMOTE|$REZUP_REVISION"; rez --version',
        check=True,
    )
    assert result.stdout.splitlines()[0] == f"yes|{remote.name}"
    assert "Rez 3.4.0" in result.stdout
    [local] = box.ready_revisions("farm")
    assert local.name == remote.name
    assert (local / "plan.lock").read_text() == (remote / "plan.lock").read_text()
    assert json.loads((local / "revision.json").read_text())["pulled_from"] == str(remote)

    status = json.loads(box.rezup("status", "farm", "--json", check=True).stdout)
    [row] = status["containers"][0]["revisions"]
    assert (row["revision"], row["local"], row["remote"]) == (remote.name, "ready", "ready")

    # a local-only revision made later is what --local enters; the remote still wins otherwise
    box.rezup("add", "farm", "--skip-use", check=True, env={"REZUP_ROOT_REMOTE": ""})
    newest_local = box.ready_revisions("farm")[-1]
    assert newest_local.name != remote.name
    out = box.rezup(
        "use",
        "farm",
        "--local",
        "--",
        "sh",
        "-c",
        'echo "$REZUP_USING_REMOTE|$REZUP_REVISION"',
        check=True,
    ).stdout
    assert out.strip() == f"|{newest_local.name}"
    out = box.rezup("use", "farm", "--", "sh", "-c", 'echo "$REZUP_REVISION"', check=True).stdout
    assert out.strip() == remote.name


def test_add_remote_without_skip_use_enters_the_pulled_revision(remote_sandbox: Sandbox):
    remote_sandbox.write_recipe(REZ_RECIPE)
    result = remote_sandbox.rezup(
        "add", "--remote", "--", "sh", "-c", "echo $REZUP_USING_REMOTE", check=True
    )
    assert result.stdout.strip() == "yes"
    assert [p.name for p in remote_sandbox.ready_revisions()] == [
        p.name for p in remote_sandbox.ready_revisions(remote=True)
    ]


def test_remote_add_without_remote_root_is_an_error(sandbox: Sandbox):
    sandbox.write_recipe(REZ_RECIPE)
    result = sandbox.rezup("add", "--remote", "--skip-use")
    assert result.returncode == 2
    assert "no remote root" in result.stderr


def test_pull_installs_the_pinned_versions(remote_sandbox: Sandbox, tmp_path: Path):
    links = tmp_path / "links"
    make_wheel(links, "tinypkg", "1.0")
    remote_sandbox.write_recipe(with_tinypkg(links))
    remote_sandbox.rezup("add", "--remote", "--skip-use", check=True)
    make_wheel(links, "tinypkg", "1.1")  # the index moves on

    remote_sandbox.rezup("use", "--", "true", check=True)
    [pulled] = remote_sandbox.ready_revisions()
    assert installed_version(pulled, "tinypkg") == "1.0"

    # a fresh resolution would take 1.1: the pin is what held it back
    remote_sandbox.rezup("add", "--skip-use", check=True, env={"REZUP_ROOT_REMOTE": ""})
    assert installed_version(remote_sandbox.ready_revisions()[-1], "tinypkg") == "1.1"


def test_concurrent_pulls_build_once(remote_sandbox: Sandbox):
    remote_sandbox.write_recipe(REZ_RECIPE)
    remote_sandbox.rezup("add", "--remote", "--skip-use", check=True)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "rezup", "use", "--", "rez", "--version"],
            env=remote_sandbox.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(remote_sandbox.base),
        )
        for _ in range(8)
    ]
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0] * 8, results
    assert all("Rez 3.4.0" in out for _, out, _ in results)
    builders = [
        err
        for _, _, err in results
        if any(re.match(r"rezup: \[[\d:]+\] pulling revision", line) for line in err.splitlines())
    ]
    assert len(builders) == 1, [err for _, _, err in results]
    waiters = [err for _, _, err in results if "waiting for another process" in err]
    assert all(err.count("waiting for another process") == 1 for err in waiters)
    assert len(remote_sandbox.revisions()) == 1
    assert all("Traceback" not in err for _, _, err in results)


@pytest.mark.parametrize("lock_kind", ["native", "soft"])
def test_killed_pull_is_cleared_and_rebuilt(remote_sandbox: Sandbox, lock_kind: str):
    """A native lock's build is made in place; under a lease (soft) each builder works in a
    folder of its own, ready by one rename: a killed one leaves only that hidden folder."""
    box = remote_sandbox
    env = {**box.env, "REZUP_LOCK": lock_kind}
    box.write_recipe(REZ_RECIPE)
    box.rezup("add", "--remote", "--skip-use", check=True)
    [remote] = box.ready_revisions(remote=True)
    revisions = box.local_root / ".main" / "revisions"
    final = revisions / remote.name

    def partial() -> Optional[Path]:
        if lock_kind == "native":
            return final
        return next(iter(revisions.glob(f".incoming-{remote.name}-*")), None)

    victim = subprocess.Popen(
        [sys.executable, "-m", "rezup", "use", "--", "true"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=str(box.base),
    )
    deadline = time.monotonic() + 60
    while True:
        folder = partial()
        if folder is not None and (folder / "venv" / "rez" / "bin" / "python").exists():
            break
        assert victim.poll() is None, "the pull finished before it could be killed"
        assert time.monotonic() < deadline, "the pull never started building"
        time.sleep(0.02)
    os.killpg(victim.pid, signal.SIGKILL)  # the whole process group, uv included
    victim.wait()
    assert folder.is_dir() and not (folder / "revision.json").exists()
    assert not (final / "revision.json").exists()

    status = json.loads(box.rezup("status", "--json", env={"REZUP_LOCK": lock_kind}).stdout)
    [row] = status["containers"][0]["revisions"]
    assert row["local"] == ("incomplete" if lock_kind == "native" else None)  # not pulled

    result = box.rezup("use", "--", "rez", "--version", env={"REZUP_LOCK": lock_kind}, timeout=300)
    assert result.returncode == 0, result.stderr
    cleared = (
        "clearing incomplete revision"
        if lock_kind == "native"
        else f"left by a builder of revision {remote.name} that died or lost its lock"
    )
    assert cleared in result.stderr
    assert "Rez 3.4.0" in result.stdout
    assert (final / "revision.json").is_file()
    assert (final / "venv" / "rez" / "bin" / "rez" / ".rez_production_install").is_file()
    assert not folder.exists() or lock_kind == "native"


def test_failed_pull_falls_back_to_earlier_pulled_revision(remote_sandbox: Sandbox, tmp_path: Path):
    box = remote_sandbox
    links = tmp_path / "links"
    box.write_recipe(REZ_RECIPE)
    box.rezup("add", "--remote", "--skip-use", check=True)
    box.rezup("use", "--", "true", check=True)
    [first] = box.ready_revisions()

    wheel = make_wheel(links, "tinypkg", "1.0")
    box.write_recipe(with_tinypkg(links))
    box.rezup("add", "--remote", "--skip-use", check=True)
    newest = box.ready_revisions(remote=True)[-1]
    wheel.unlink()  # the pinned package is gone

    result = box.rezup("use", "--", "sh", "-c", 'echo "rev=$REZUP_REVISION"; exit 3')
    assert result.returncode == 3
    assert result.stdout.strip() == f"rev={first.name}"
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert f"cannot pull revision {newest.name}" in warnings[0]
    assert "tinypkg" in warnings[0]
    assert not (box.local_root / ".main" / "revisions" / newest.name).exists()

    # with no earlier pulled revision to fall back to, it is an error
    fresh = box.rezup("use", "--", "true", env={"REZUP_ROOT_LOCAL": str(tmp_path / "empty")})
    assert fresh.returncode == 1
    assert f"rezup: error: cannot pull revision {newest.name}" in fresh.stderr


def test_offline_pull_from_wheelhouse(remote_sandbox: Sandbox, tmp_path: Path):
    box = remote_sandbox
    links = tmp_path / "links"
    make_wheel(links, "tinypkg", "1.0")
    box.write_recipe(with_tinypkg(links))
    box.rezup("add", "--remote", "--wheels", "--skip-use", check=True)
    [remote] = box.ready_revisions(remote=True)
    wheels = sorted(p.name for p in (remote / "wheels").iterdir())
    assert "rez-3.4.0-py3-none-any.whl" in wheels
    assert "tinypkg-1.0-py3-none-any.whl" in wheels
    assert any(name.startswith("pip-") for name in wheels)

    shutil.rmtree(links)  # the find-links "index" is gone ...
    offline = offline_env(tmp_path)  # ... and so is every other index
    result = box.rezup("use", "--", "rez", "--version", env=offline, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Rez 3.4.0" in result.stdout
    [pulled] = box.ready_revisions()
    assert installed_version(pulled, "tinypkg") == "1.0"
    assert (pulled / "pylock.rez.toml").read_bytes() == (remote / "pylock.rez.toml").read_bytes()


HOLD_LOCK = """
import sys, time
from pathlib import Path
from rezup.tools.build_lock import hold
with hold(Path(sys.argv[1]), "testing"):
    print("held", flush=True)
    time.sleep(120)
"""


def _hold_lock(lock_file: Path, env: dict) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock_file)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


@pytest.mark.parametrize("lock_kind", ["native", "soft"])
def test_lock_held_too_long_is_a_clear_error(remote_sandbox: Sandbox, lock_kind: str):
    box = remote_sandbox
    box.write_recipe(REZ_RECIPE)
    box.rezup("add", "--remote", "--skip-use", check=True)
    [remote] = box.ready_revisions(remote=True)
    lock_file = box.local_root / ".main" / ".locks" / f"{remote.name}.lock"
    env = {"REZUP_LOCK": lock_kind, "REZUP_LOCK_TIMEOUT": "2"}
    holder = _hold_lock(lock_file, {**box.env, **env})
    try:
        started = time.monotonic()
        result = box.rezup("use", "--", "true", env=env)
        assert time.monotonic() - started < 60
    finally:
        holder.kill()
        holder.communicate()  # waits, and closes its stdout
    assert result.returncode == 1
    assert result.stderr.count("waiting for another process") == 1
    # the message names the file that really is the lock (a soft lock's is its lease)
    held_file = lock_file.with_suffix(".lease") if lock_kind == "soft" else lock_file
    assert held_file.exists()
    assert f"gave up after 2s waiting for the lock {held_file} " in result.stderr
    assert "Traceback" not in result.stderr
    assert box.revisions() == []


def test_drop_refuses_while_a_revision_is_being_built(sandbox: Sandbox):
    sandbox.write_recipe(REZ_RECIPE, name="busy")
    sandbox.rezup("add", "busy", "--skip-use", check=True)
    lock_file = sandbox.local_root / "busy" / ".locks" / "9999999999.000000.lock"
    holder = _hold_lock(lock_file, sandbox.env)
    try:
        result = sandbox.rezup("drop", "busy")
    finally:
        holder.kill()
        holder.communicate()  # waits, and closes its stdout
    assert result.returncode == 1
    assert "container 'busy' is being built" in result.stderr
    assert sandbox.ready_revisions("busy")
    sandbox.rezup("drop", "busy", check=True)
    assert not (sandbox.local_root / "busy").exists()


def test_a_failed_pull_is_not_retried_by_every_job(remote_sandbox: Sandbox, tmp_path: Path):
    box = remote_sandbox
    links = tmp_path / "links"
    box.write_recipe(REZ_RECIPE)
    box.rezup("add", "--remote", "--skip-use", check=True)
    box.rezup("use", "--", "true", check=True)
    wheel = make_wheel(links, "tinypkg", "1.0")
    box.write_recipe(with_tinypkg(links))
    box.rezup("add", "--remote", "--skip-use", check=True)
    wheel.unlink()

    first = box.rezup("use", "--", "true")
    assert first.returncode == 0 and "] pulling revision" in first.stderr
    again = box.rezup("use", "--", "true")
    assert again.returncode == 0
    assert "] pulling revision" not in again.stderr  # the recorded failure answers
    assert "cannot pull revision" in again.stderr and "tinypkg" in again.stderr
    retry = box.rezup("use", "--", "true", env={"REZUP_PULL_RETRY": "0"})
    assert retry.returncode == 0 and "] pulling revision" in retry.stderr


def test_status_marks_the_revision_use_enters(remote_sandbox: Sandbox):
    box = remote_sandbox
    box.write_recipe(REZ_RECIPE)
    box.rezup("add", "--remote", "--skip-use", check=True)
    box.rezup("use", "--", "true", check=True)
    box.rezup("add", "--skip-use", check=True, env={"REZUP_ROOT_REMOTE": ""})
    [pulled, local_only] = box.ready_revisions()
    data = json.loads(box.rezup("status", "--json", check=True).stdout)["containers"][0]
    assert data["use_enters"] == pulled.name
    used = box.rezup("use", "--", "sh", "-c", "echo $REZUP_REVISION", check=True).stdout
    assert used.strip() == pulled.name
    marked = [
        line
        for line in box.rezup("status", check=True).stdout.splitlines()
        if line.startswith(" *")
    ]
    assert len(marked) == 1 and pulled.name in marked[0] and local_only.name not in marked[0]
