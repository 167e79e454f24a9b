"""End to end: revisions in use are never removed under running jobs and sessions (real uv,
real rez 3.4.0, real processes); prune, drop, rollback and diff on real revisions."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import Sandbox, make_rez_repository, rez_recipe

pytestmark = pytest.mark.skipif(os.name == "nt", reason="claims are POSIX flock locks")


def recipe(six: str, studio: str) -> str:
    return rez_recipe(f'lib = ["six=={six}"]\n\n[env]\nSTUDIO = "{studio}"\n')


def wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def start(box: Sandbox, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rezup", *args],
        env=box.env,
        cwd=str(box.base),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


JOB = """
rez --version
echo "revision=$REZUP_REVISION studio=$STUDIO"
touch "$1/started"
while [ ! -e "$1/go" ]; do sleep 0.05; done
rez --version
rez-env bar -- sh -c 'echo "nested bar=$REZ_BAR_VERSION"'
"""


def test_a_running_job_keeps_its_revision_through_add_prune_and_drop(
    sandbox: Sandbox, tmp_path: Path
):
    box = sandbox
    box.write_recipe(recipe("1.16.0", "one"), name="dev")
    box.rezup("add", "dev", "--skip-use", check=True)
    [first] = box.ready_revisions("dev")

    flags = tmp_path / "flags"
    flags.mkdir()
    repo = make_rez_repository(tmp_path / "packages")
    job = subprocess.Popen(
        [sys.executable, "-m", "rezup", "use", "dev", "--", "sh", "-c", JOB, "job", str(flags)],
        env={**box.env, "REZ_PACKAGES_PATH": str(repo)},
        cwd=str(box.base),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _add_prune_and_drop_under(job, box, first, flags)
    finally:
        if job.poll() is None:
            job.kill()
            job.communicate()


def _add_prune_and_drop_under(
    job: subprocess.Popen, box: Sandbox, first: Path, flags: Path
) -> None:
    wait_for(flags / "started")
    box.write_recipe(recipe("1.17.0", "two"), name="dev")
    box.rezup("add", "dev", "--skip-use", check=True)
    box.rezup("add", "dev", "--skip-use", check=True)
    first_, second, third = box.ready_revisions("dev")
    assert first_ == first

    # diff: a pinned package's version change and an [env] change
    changes = json.loads(
        box.rezup("diff", "dev", first.name, second.name, "--json", check=True).stdout
    )
    assert changes["venvs"]["rez"]["changed"]["six"] == ["1.16.0", "1.17.0"]
    assert changes["env"]["changed"]["STUDIO"] == ["one", "two"]
    text = box.rezup("diff", "dev", first.name, second.name, check=True).stdout
    assert "~ six==1.16.0 -> 1.17.0" in text and "~ STUDIO = one -> two" in text

    # rollback: use --revision enters the older revision (and claims it too)
    rolled = box.rezup(
        "use",
        "dev",
        "--revision",
        first.name,
        "--",
        "sh",
        "-c",
        'echo "$REZUP_REVISION $STUDIO"; rez-python -c "import six; print(six.__version__)"',
        check=True,
    )
    assert rolled.stdout.split() == [first.name, "one", "1.16.0"]

    # prune --keep 1: the job's revision is in use, the newest is kept: only the 2nd goes
    pruned = box.rezup("prune", "dev", "--keep", "1", check=True)
    assert [p.name for p in box.revisions("dev")] == [first.name, third.name]
    assert f"removed {second.name}" in pruned.stderr and "freed" in pruned.stderr
    assert f"kept {first.name} (in use by PID {job.pid})" in pruned.stderr

    # drop while the job runs: nothing is taken from under it
    dropped = box.rezup("drop", "dev", check=True)
    assert "dropped container" not in dropped.stderr
    assert "is hidden" in dropped.stderr and str(job.pid) in dropped.stderr
    assert (first / "venv" / "rez" / "bin" / "rez" / "rez").is_file()
    assert not third.exists()
    refused = box.rezup("use", "dev", "--", "true")
    assert refused.returncode == 1 and "no ready revision" in refused.stderr

    (flags / "go").touch()
    out, err = job.communicate(timeout=120)
    assert job.returncode == 0, err
    assert out.count("Rez 3.4.0") == 2, out
    assert f"revision={first.name} studio=one" in out
    assert "nested bar=2.1" in out

    # the next rezup run that writes removes what is left, now that it is free
    assert (box.local_root / "dev").exists()
    box.rezup("prune", check=True)
    assert not (box.local_root / "dev").exists()
    assert [p.name for p in box.local_root.iterdir()] == []


def test_an_interactive_session_keeps_its_revision_through_drop(sandbox: Sandbox):
    pexpect = pytest.importorskip("pexpect")
    if not shutil.which("bash"):
        pytest.skip("bash is not installed")
    box = sandbox
    box.write_recipe(recipe("1.17.0", "pty"), name="dev")
    box.rezup("add", "dev", "--skip-use", check=True)
    [revision] = box.ready_revisions("dev")
    env = {**box.env, "REZUP_DEFAULT_SHELL": "bash", "TERM": "dumb", "PS1": "$ "}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "rezup", "use", "dev"],
        env=env,
        encoding="utf-8",
        timeout=60,
        cwd=str(box.base),
        dimensions=(24, 500),
    )  # long prompts are not scrolled by readline
    try:
        child.expect_exact("rezup (dev/local) ")
        dropped = box.rezup("drop", "dev", check=True)
        assert "is hidden" in dropped.stderr
        assert revision.is_dir()
        child.sendline("rez --version; echo rez-exit=$?")
        child.expect_exact("Rez 3.4.0")
        child.expect_exact("rez-exit=0")
        child.expect_exact("rezup (dev/local) ")
        child.sendline("exit 0")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    box.rezup("prune", check=True)
    assert not (box.local_root / "dev").exists()


def test_a_killed_job_takes_its_claim_with_it(sandbox: Sandbox):
    box = sandbox
    box.write_recipe(recipe("1.17.0", "kill"), name="dev")
    box.rezup("add", "dev", "--skip-use", check=True)
    [first] = box.ready_revisions("dev")
    job = start(box, "use", "dev", "--", "sleep", "120")  # rezup execs: the job is `sleep`
    deadline = time.monotonic() + 30
    while "yes" not in box.rezup("status", "dev", check=True).stdout:
        assert time.monotonic() < deadline and job.poll() is None
        time.sleep(0.1)
    box.rezup("add", "dev", "--skip-use", check=True)
    status = json.loads(box.rezup("status", "dev", "--json", check=True).stdout)
    rows = {row["revision"]: row for row in status["containers"][0]["revisions"]}
    assert rows[first.name]["in_use"] and rows[first.name]["pids"] == [job.pid]
    assert rows[first.name]["size"] > 0
    box.rezup("prune", "dev", check=True)
    assert first.exists()

    job.send_signal(signal.SIGKILL)
    job.communicate(timeout=30)
    box.rezup("prune", "dev", check=True)
    assert not first.exists()
    assert len(box.ready_revisions("dev")) == 1
