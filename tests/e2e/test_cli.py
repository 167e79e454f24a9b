"""End to end: what a person sees on a terminal (a pty) and in a farm log, with real builds."""

from __future__ import annotations

import json
import re
import sys
import time

import pytest

from tests.helpers import REZ_RECIPE, Sandbox, find_pyenv_python


def spawn(box: Sandbox, *args: str):
    pexpect = pytest.importorskip("pexpect")
    return pexpect.spawn(
        sys.executable,
        ["-m", "rezup", *args],
        env=box.env,
        encoding="utf-8",
        timeout=120,
        cwd=str(box.base),
        dimensions=(24, 160),
    )


def test_progress_on_a_terminal(sandbox: Sandbox):
    pexpect = pytest.importorskip("pexpect")
    sandbox.write_recipe(REZ_RECIPE)
    child = spawn(sandbox, "add", "--skip-use")
    try:
        child.expect(pexpect.EOF)
    finally:
        child.close()
    screen = child.before
    assert child.exitstatus == 0, screen
    # the live line: what runs, for how long (redrawn in place with \r)
    assert re.search(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] (resolving|creating venv 'rez'|installing).*\d+\.\ds", screen)
    assert "\r\x1b[2K" in screen
    # finished steps stay, with their time
    for done in (
        r"✓ resolved \(\d+\.\ds\)",
        r"✓ created venv 'rez' \(Python [\d.]+\) \(\d+\.\ds\)",
        r"✓ installed \d+ packages? into venv 'rez' \(\d+\.\ds\)",
    ):
        assert re.search(done, screen), done


def test_progress_in_a_log_and_with_quiet(sandbox: Sandbox):
    sandbox.write_recipe(REZ_RECIPE)
    logged = sandbox.rezup("add", "--skip-use", check=True)  # stderr is a pipe: a log
    stamp = r"rezup: \[\d\d:\d\d:\d\d\] "
    for line in (
        "resolving",
        r"resolved \(\d+\.\ds\)",
        "creating venv 'rez'",
        r"installed \d+ packages? into venv 'rez' \(\d+\.\ds\)",
        r"revision [\d.]+ of \.main is ready",
    ):
        assert re.search(stamp + line, logged.stderr), line
    quiet = sandbox.rezup("add", "--skip-use", "-q", check=True)  # a clone: quiet too
    assert quiet.stderr == ""
    # a plan no revision has (an unchanged one would be cloned: nothing to install)
    sandbox.write_recipe(REZ_RECIPE + '\n[env]\nSTUDIO = "verbose"\n')
    verbose = sandbox.rezup("-v", "add", "--skip-use", check=True)
    assert "cloned" not in verbose.stderr
    # -v adds uv's own progress, as uv says it, under the step it belongs to
    assert re.search(stamp + r"  rez: Resolved \d+ packages? in", verbose.stderr)
    assert re.search(stamp + r"  Installed \d+ packages? in", verbose.stderr)
    assert re.search(stamp + r"  \+ rez==", verbose.stderr)
    assert "Installed" not in logged.stderr


def test_no_wait_without_a_command_leaves_the_terminal_alone(sandbox: Sandbox):
    pexpect = pytest.importorskip("pexpect")
    sandbox.write_recipe(REZ_RECIPE)
    sandbox.rezup("add", "--skip-use", check=True)
    started = time.monotonic()
    child = spawn(sandbox, "use", "--no-wait")
    try:
        child.expect(pexpect.EOF, timeout=30)
    finally:
        child.close()
    assert child.exitstatus == 2 and time.monotonic() - started < 30
    assert "--no-wait needs a command" in child.before


def test_add_python_overrides_the_recipe_and_finds_pyenv_installs(sandbox: Sandbox):
    other = find_pyenv_python("3.12") or find_pyenv_python("3.10")
    if other is None:
        pytest.skip("no second CPython (3.12 or 3.10) installed by pyenv")
    version = ".".join(other.split("/versions/")[1].split(".")[:2])
    sandbox.write_recipe(REZ_RECIPE)
    planned = sandbox.rezup("add", "--python", version, "--dry-run", check=True)
    assert f'python_version = "{version}.' in planned.stdout
    sandbox.write_recipe(REZ_RECIPE + f'python = "{version}"\n')  # the same from the recipe
    assert f'python_version = "{version}.' in sandbox.rezup("add", "--dry-run", check=True).stdout
    missing = sandbox.rezup("add", "--python", "3.99", "--dry-run")
    assert missing.returncode == 1
    [line] = [x for x in missing.stderr.splitlines() if x.startswith("rezup: error:")]
    assert "python = '3.99'" in line and "pyenv" in line  # what was asked, where it looked
    built = sandbox.rezup("add", "--python", other, "--skip-use", check=True)
    metadata = json.loads((sandbox.ready_revisions()[-1] / "revision.json").read_text())
    assert metadata["python"].startswith(version), built.stderr
