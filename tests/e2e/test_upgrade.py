"""End to end: auto-upgrade. rezup is installed in a throwaway venv from this checkout, and
``REZUP_UPGRADE_SOURCE`` points at a copy of the checkout with a higher ``__version__``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

import rezup
from tests.helpers import fake_revision, make_sandbox

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX venv layout")

CHECKOUT = Path(__file__).resolve().parents[2]
CURRENT = Version(rezup.__version__)


def copy_checkout(dest: Path, version: str) -> Path:
    """This checkout's tracked files, with ``version`` as ``rezup.__version__``."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        if name.startswith(("rezup/", "pyproject.toml", "README.md")):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(CHECKOUT / name, dest / name)
    init = dest / "rezup" / "__init__.py"
    init.write_text(
        re.sub(r'__version__ = "[^"]+"', f'__version__ = "{version}"', init.read_text())
    )
    return dest


def bumped(micro: int = 1, major: int = 0) -> str:
    if major:
        return f"{CURRENT.major + major}.0.0"
    return f"{CURRENT.major}.{CURRENT.minor}.{CURRENT.micro + micro}"


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("sources")
    return {
        name: copy_checkout(base / name, version)
        for name, version in (
            ("current", str(CURRENT)),
            ("newer", bumped(1)),
            ("newest", bumped(2)),
            ("major", bumped(major=1)),
        )
    }


@pytest.fixture
def install(tmp_path, sources):
    """A fresh venv with rezup (this checkout's version) installed, not editable."""
    from rezup.tools.uv_process import find_uv

    venv = tmp_path / "venv"
    subprocess.run([find_uv(), "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [
            find_uv(),
            "pip",
            "install",
            "-q",
            "--python",
            str(venv / "bin/python"),
            str(sources["current"]),
        ],
        check=True,
    )
    return venv


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    box = make_sandbox(tmp_path / "box")
    fake_revision(box.local_root, ".main", "100.0")
    env = {k: v for k, v in box.env.items() if k != "REZUP_NO_UPGRADE"}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    return env


def version_of(venv: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(venv / "bin" / "rezup"), "-V"], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip().split()[-1]


JOB = ["use", "--", "sh", "-c", 'echo "ran with $REZUP_UPGRADED"; exit 7']


@pytest.mark.parametrize("entry", ["console script", "python -m rezup"])
def test_use_upgrades_then_runs_the_command_once(install, env, sources, entry):
    env["REZUP_UPGRADE_SOURCE"] = str(sources["newer"])
    launcher = (
        [str(install / "bin" / "rezup")]
        if entry == "console script"
        else [str(install / "bin" / "python"), "-m", "rezup"]
    )
    result = subprocess.run([*launcher, *JOB], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 7, result.stderr  # the command's own exit code
    assert result.stdout.splitlines() == [f"ran with {bumped(1)}"]  # once, by the new rezup
    assert f"upgrading rezup {CURRENT} to {bumped(1)}" in result.stderr
    assert version_of(install, env) == bumped(1)

    # within the pause nothing is checked, even with a newer source
    env["REZUP_UPGRADE_SOURCE"] = str(sources["newest"])
    again = subprocess.run([*launcher, *JOB], env=env, capture_output=True, text=True)
    assert again.returncode == 7 and "upgrading" not in again.stderr
    assert version_of(install, env) == bumped(1)


def test_disabled_by_the_variable_and_the_option(install, env, sources):
    env["REZUP_UPGRADE_SOURCE"] = str(sources["newer"])
    rezup_command = str(install / "bin" / "rezup")
    for extra_env, args in (
        ({"REZUP_NO_UPGRADE": "1"}, JOB),
        ({}, ["--no-upgrade", *JOB]),
        ({"REZUP_CONTAINER": "outer"}, ["status"]),
    ):
        result = subprocess.run(
            [rezup_command, *args], env={**env, **extra_env}, capture_output=True, text=True
        )
        assert "upgrading" not in result.stderr, args
        assert not Path(env["XDG_STATE_HOME"], "rezup", "upgrade.json").exists()
    assert version_of(install, env) == str(CURRENT)


def test_a_broken_source_warns_once_and_runs_the_command(install, env, tmp_path):
    env["REZUP_UPGRADE_SOURCE"] = str(tmp_path / "no-such-checkout")
    rezup_command = str(install / "bin" / "rezup")
    first = subprocess.run([rezup_command, *JOB], env=env, capture_output=True, text=True)
    assert first.returncode == 7 and first.stdout.strip() == "ran with"
    [warning] = [line for line in first.stderr.splitlines() if "warning" in line]
    assert warning.startswith("rezup: warning: auto-upgrade failed")
    assert "no-such-checkout" in warning
    second = subprocess.run([rezup_command, *JOB], env=env, capture_output=True, text=True)
    assert second.returncode == 7 and "warning" not in second.stderr, "warned once"
    state = json.loads(Path(env["XDG_STATE_HOME"], "rezup", "upgrade.json").read_text())
    assert "no-such-checkout" in state["failure"]


def test_major_versions_are_never_crossed(install, env, sources):
    env["REZUP_UPGRADE_SOURCE"] = str(sources["major"])
    result = subprocess.run(
        [str(install / "bin" / "rezup"), *JOB], env=env, capture_output=True, text=True
    )
    assert result.returncode == 7
    [note] = [line for line in result.stderr.splitlines() if bumped(major=1) in line]
    assert "major versions are not upgraded automatically" in note
    assert version_of(install, env) == str(CURRENT)
    latest = subprocess.run(
        [str(install / "bin" / "rezup"), "-L"], env=env, capture_output=True, text=True, check=True
    )
    assert latest.stdout.strip().startswith(bumped(major=1))
    assert "not upgraded automatically" in latest.stdout
