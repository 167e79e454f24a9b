"""Shared fixtures (what they use lives in ``tests/helpers.py``). Every test, and every process
it starts, runs as a fake user: a throw-away HOME and rezup roots, none of this machine's pip and
uv settings; the user's uv cache is shared for speed. Nothing here mocks uv or the filesystem.

``tests/e2e/`` holds the end-to-end tests (marked ``e2e`` by folder, below), ``tests/unit/`` the
rest, which need no network."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import SCRUBBED, Sandbox, isolated_env, make_sandbox, user_env

E2E_DIR = Path(__file__).parent / "e2e"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list) -> None:
    """Mark the tests under ``tests/e2e`` ``e2e`` (before ``-m`` selects), and run the
    multi-host tests first: they are the longest (leases, builds over sshfs) and partly wait
    rather than compute, so they run beside the rest of the suite, not after it."""
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: 0 if item.path == E2E_DIR / "test_hosts.py" else 1)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker more than the cores. The suite waits (on the index, on sshfs,
    on leases) more than it computes: on 2 cores 3 workers took 5:40 where 2 took 7:45 and 4
    took 6:27 (one full run each, 2026-12-06)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) + 1


def _isolate(monkeypatch: pytest.MonkeyPatch, base: Path) -> None:
    """Make this process a fake user whose home, roots and settings are under ``base``."""
    env = isolated_env(base, base, base / ".rezup")
    for name in SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session", autouse=True)
def _hermetic_session(tmp_path_factory):
    """The whole session runs as a fake user, so module- and session-scoped fixtures (which
    start before ``_isolated_home``) and the processes they start see no pip or uv settings of
    this machine either."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _isolate(monkeypatch, tmp_path_factory.mktemp("session-home"))
        yield


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test, unit or end-to-end, runs with a temporary HOME and rezup roots."""
    _isolate(monkeypatch, tmp_path_factory.mktemp("home"))


@pytest.fixture
def restore_logger():
    """main() points the 'rezup' logger at the (captured) stderr; put it back afterwards."""
    logger = logging.getLogger("rezup")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """For unit tests: a throw-away home folder, with local and remote roots beside it."""
    home = tmp_path / "home"
    home.mkdir()
    for name, value in user_env(home, tmp_path / "local", tmp_path / "remote").items():
        monkeypatch.setenv(name, value)
    (tmp_path / "remote").mkdir()
    return home


@pytest.fixture
def sandbox(tmp_path) -> Sandbox:
    return make_sandbox(tmp_path)


@pytest.fixture
def remote_sandbox(tmp_path) -> Sandbox:
    return make_sandbox(tmp_path, remote=True)


# -- for the fault tests (tests/unit/test_faults.py, tests/e2e/test_faults.py) ---------------------


@pytest.fixture
def tmpfs(tmp_path):
    """``mount(path, size)``: a real tmpfs of ``size`` at ``path`` (skip where not allowed)."""
    mounted: list[Path] = []

    def mount(path: Path, size: str = "1m") -> Path:
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=755", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def env(home) -> dict[str, str]:
    """The process environment of a fake user (home, local and remote roots in tmp)."""
    return dict(os.environ)


@pytest.fixture
def local(home, tmp_path) -> Path:
    return tmp_path / "local"


@pytest.fixture
def remote(home, tmp_path) -> Path:
    return tmp_path / "remote"
