"""Waiting costs nothing: a job whose revision another process is pulling waits blocked in the
kernel, in the lean entry point, then enters it (issue 13, "Waiting costs nothing")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from functools import partial
from pathlib import Path

import pytest

from rezup import entry
from rezup.ground import lock_policy, paths
from rezup.tools.build_lock import adopt, hold, is_held
from tests.helpers import fake_revision, publish_by_hand

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="flock waiters are read from /proc/locks"
)


def blocked_waiters(path: Path) -> int:
    """How many processes wait in the kernel for a flock on ``path`` (/proc/locks "->")."""
    stat = os.stat(path)
    wanted = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    with open("/proc/locks", encoding="ascii", errors="replace") as stream:
        return sum(1 for line in stream if "->" in line and wanted in line.split())


def wait_for(condition, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


HOLDER = textwrap.dedent("""
    import os, sys
    from rezup.ground import lock_policy
    path = sys.argv[1]
    lock_policy.agreed_lock_kind(os.path.dirname(path))
    fd = lock_policy.take(path)
    assert fd is not None
    print("held", flush=True)
    command = sys.stdin.readline().strip()  # what to do before letting go (a repr)
    if command:
        import ast
        exec(ast.literal_eval(command))
""")


class Holder:
    """Another process that holds a native build lock until told what to do and go."""

    def __init__(self, lock_file: Path, env: dict[str, str]) -> None:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(lock_file)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline().strip() == "held"

    def finish(self, code: str = "") -> None:
        self.proc.stdin.write(repr(code) + "\n")
        self.proc.stdin.flush()
        assert self.proc.wait(timeout=30) == 0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


# --------------------------------------------------------------------------------------------
# lock_policy.wait_until_free


def test_wait_until_free_blocks_in_the_kernel_until_the_holder_lets_go(tmp_path):
    lock_file = tmp_path / ".locks" / "1.lock"
    holder = Holder(lock_file, dict(os.environ))
    try:
        waiter = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from rezup.ground import lock_policy; "
                "print(lock_policy.wait_until_free(sys.argv[1], 60))",
                str(lock_file),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: blocked_waiters(lock_file) == 1, "the waiter blocks on the lock")
        assert waiter.poll() is None
        holder.finish()
        out, _ = waiter.communicate(timeout=30)
        assert out.strip() == "True"
    finally:
        holder.kill()


def test_wait_until_free_gives_up_after_its_time(tmp_path):
    lock_file = tmp_path / ".locks" / "1.lock"
    assert lock_policy.wait_until_free(lock_file, 1) is True  # no lock file: free
    holder = Holder(lock_file, dict(os.environ))
    try:
        assert lock_policy.wait_until_free(lock_file, 0) is False
        started = time.monotonic()
        assert lock_policy.wait_until_free(lock_file, 0.3) is False
        assert time.monotonic() - started < 20
        import signal as signal_module

        assert signal_module.getsignal(signal_module.SIGALRM) == signal_module.SIG_DFL
        assert signal_module.getitimer(signal_module.ITIMER_REAL) == (0.0, 0.0)
        results: list[bool] = []  # outside the main thread: polls, same answers
        thread = threading.Thread(
            target=lambda: results.append(lock_policy.wait_until_free(lock_file, 0.2))
        )
        thread.start()
        thread.join()
        assert results == [False]
    finally:
        holder.kill()
    assert lock_policy.wait_until_free(lock_file, 1) is True


def test_wait_until_free_leaves_a_timer_in_use_alone(tmp_path):
    """A caller's own SIGALRM timer is not taken over: then the wait polls."""
    lock_file = tmp_path / "1.lock"
    holder = Holder(lock_file, dict(os.environ))
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        assert lock_policy.wait_until_free(lock_file, 0.4) is False
        assert fired == [signal.SIGALRM]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        holder.kill()


def test_the_command_line_waits_for_a_native_lock_blocked(tmp_path):
    lock_file = tmp_path / ".locks" / "1.lock"
    env = {**os.environ, "REZUP_LOCK": "native"}
    holder = Holder(lock_file, env)
    try:
        waiter = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; "
                "from rezup.tools.build_lock import hold\n"
                "with hold(Path(sys.argv[1]), 'building x'):\n"
                "    print('got it', flush=True)",
                str(lock_file),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: blocked_waiters(lock_file) == 1, "the command line blocks")
        holder.finish()
        out, err = waiter.communicate(timeout=30)
    finally:
        holder.kill()
    assert out.strip() == "got it"
    assert err.count("waiting for another process to finish building x") == 1


def test_a_lock_taken_before_the_command_line_is_handed_over(tmp_path, monkeypatch):
    monkeypatch.setenv("REZUP_LOCK", "native")
    lock_file = tmp_path / ".locks" / "1.lock"
    lock_file.parent.mkdir()
    fd = lock_policy.take(lock_file)
    assert fd is not None and lock_policy.take(lock_file) is None
    adopt(lock_file, fd)
    with hold(lock_file, "x", timeout=0) as held:  # no second lock: it would wait for itself
        assert held.fd == fd
        assert is_held(lock_file)
    assert not is_held(lock_file)
    assert lock_policy.take(lock_file) is not None


# --------------------------------------------------------------------------------------------
# The lean entry point waits for a pull


@pytest.fixture
def farm(home, tmp_path):
    """A remote revision 200.0 not pulled here yet; 100.0 pulled before."""
    local, remote = tmp_path / "local", tmp_path / "remote"
    fake_revision(
        local,
        "dev",
        "100.0",
        claim=True,
        rez_version="3.4.0",
        python="3.11.7",
        pulled_from=str(publish_by_hand(remote, "dev", "100.0")),
    )
    published = publish_by_hand(remote, "dev", "200.0")
    lock_file = Path(paths.lock_file(str(local), "dev", "200.0"))
    env = {**os.environ, "REZUP_LOCK_TIMEOUT": "60"}
    env.pop("REZUP_LOCK", None)
    return local, published, lock_file, env


PROBE = ["use", "dev", "--", "sh", "-c", "echo entered $REZUP_REVISION"]

PULLED_BY_HAND = """
from rezup.ground import paths, mark_ready
import os
path = os.path.join(os.path.dirname(os.path.dirname(sys.argv[1])), "revisions", "200.0")
os.makedirs(os.path.join(path, "venv", "rez", "bin", "rez"))
mark_ready.write_metadata(path, {"venvs": ["rez"], "pulled_from": "PUBLISHED",
                             "session": {"bin_dirs": ["venv/rez/bin/rez"], "env": [],
                                         "dotenv": []}})
"""


def start_use(env: dict[str, str], *args: str) -> subprocess.Popen:
    """``rezup ARGS`` as the console script runs it (``-m`` would import runpy's own modules),
    with ``-X importtime``."""
    return subprocess.Popen(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            f"import sys; sys.argv = ['rezup', *{list(args)!r}]; "
            "from rezup.entry import main; main()",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def imported(stderr: str) -> set[str]:
    return {
        line.split("|")[-1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:")
    }


def test_a_job_waits_for_another_pull_in_the_lean_entry_point(farm):
    _, published, lock_file, env = farm
    holder = Holder(lock_file, env)
    try:
        job = start_use(env, *PROBE)
        wait_for(lambda: blocked_waiters(lock_file) == 1, "the job blocks on the pull's lock")
        holder.finish(PULLED_BY_HAND.replace("PUBLISHED", str(published)))
        out, err = job.communicate(timeout=60)
    finally:
        holder.kill()
    assert job.returncode == 0, err
    assert out.strip() == "entered 200.0"
    assert (
        err.count(
            "rezup: waiting for another process to finish pulling revision 200.0 "
            f"of dev (lock {lock_file})"
        )
        == 1
    )
    modules = imported(err)
    assert "rezup.ground.lock_policy" in modules
    for heavy in (
        "rezup.cli",
        "click",
        "rezup.tools.build_lock",
        "filelock",
        "logging",
        "json",
        "re",
    ):
        assert heavy not in modules, heavy


def test_a_job_whose_pull_failed_meanwhile_falls_back(farm):
    local, _, lock_file, env = farm
    holder = Holder(lock_file, env)
    failure = Path(paths.pull_failure_file(str(local), "dev", "200.0"))
    try:
        job = start_use(env, *PROBE)
        wait_for(lambda: blocked_waiters(lock_file) == 1, "the job blocks on the pull's lock")
        holder.finish(f"open({str(failure)!r}, 'w').write('a pin is gone\\n')")
        out, err = job.communicate(timeout=60)
    finally:
        holder.kill()
    assert job.returncode == 0, err
    assert out.strip() == "entered 100.0"
    assert err.count("waiting for another process") == 1
    assert "cannot pull revision 200.0 of dev: a pin is gone" in err
    assert "Traceback" not in err


def test_a_lean_wait_ends_at_the_lock_timeout_like_the_command_lines(farm):
    local, _, lock_file, env = farm
    env["REZUP_LOCK_TIMEOUT"] = "1"
    holder = Holder(lock_file, env)
    try:
        first = subprocess.run(
            [sys.executable, "-m", "rezup", *PROBE],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        started = time.monotonic()
        second = subprocess.run(
            [sys.executable, "-m", "rezup", *PROBE],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        second_took = time.monotonic() - started
    finally:
        holder.kill()
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "entered 100.0"
    assert first.stderr.count("waiting for another process") == 1
    assert (
        f"gave up after 1s waiting for the lock {lock_file} (pulling revision 200.0 of "
        "dev)" in first.stderr
    )
    assert Path(paths.pull_failure_file(str(local), "dev", "200.0")).is_file()
    assert second.stdout.strip() == "entered 100.0"
    assert "failed less than" in second.stderr
    assert "waiting for another process" not in second.stderr
    assert second_took < 20  # it did not wait again


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_waiting_job_stops_cleanly_on_a_signal(farm, signum):
    _, _, lock_file, env = farm
    holder = Holder(lock_file, env)
    job = subprocess.Popen(
        [sys.executable, "-m", "rezup", *PROBE],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a suite started in the background of a shell ignores SIGINT, and so would the job
        # (Python leaves an ignored SIGINT ignored): a job started from a terminal does not
        preexec_fn=partial(signal.signal, signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_for(lambda: blocked_waiters(lock_file) == 1, "the job blocks on the pull's lock")
        job.send_signal(signum)
        out, err = job.communicate(timeout=30)
    finally:
        holder.kill()
        if job.poll() is None:
            job.kill()
            job.communicate()
    assert job.returncode == 128 + signum
    name = signal.Signals(signum).name
    assert err.splitlines()[-1] == (
        "rezup: interrupted" if name == "SIGINT" else f"rezup: interrupted by {name}"
    )
    assert "Traceback" not in err and out == ""


def test_soft_locks_wait_in_the_command_line_as_before(farm, monkeypatch):
    local, _, lock_file, _ = farm
    monkeypatch.setenv("REZUP_LOCK", "soft")
    assert entry.wait_for_pull("dev", str(local), "200.0") is None
    assert not lock_file.exists()  # nothing taken: the command line does it all
