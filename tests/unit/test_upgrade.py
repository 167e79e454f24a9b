"""Unit tests for auto-upgrade decisions: when a check is due, what a source offers, and never
swapping files under a rezup at work."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from rezup import __version__
from rezup.ground import upgrade_check
from rezup.operations import upgrade
from tests.helpers import make_wheel


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.delenv("REZUP_NO_UPGRADE")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "rezup" / "upgrade.json"


def test_when_a_check_is_due(state, monkeypatch):
    assert upgrade_check.upgrade_check_due(["use"])  # never checked
    state.parent.mkdir(parents=True)
    state.write_text("{}")
    assert not upgrade_check.upgrade_check_due(["use"])  # checked just now: one stat, nothing else
    old = time.time() - 2 * 86400
    os.utime(state, (old, old))
    assert upgrade_check.upgrade_check_due(["use"])
    for args in (["--no-upgrade", "use"], ["-V"], ["--version"], ["-h"], ["-L"]):
        assert not upgrade_check.upgrade_check_due(args), args
    for name in ("REZUP_NO_UPGRADE", "REZUP_CONTAINER", "REZUP_UPGRADED"):
        monkeypatch.setenv(name, "x")
        assert not upgrade_check.upgrade_check_due(["use"]), name
        monkeypatch.delenv(name)
    monkeypatch.setenv("REZUP_UPGRADE_PAUSE", "soon")  # a bad value never stops a job
    assert upgrade_check.upgrade_pause() == upgrade_check.DEFAULT_UPGRADE_PAUSE
    monkeypatch.setenv("REZUP_UPGRADE_PAUSE", str(3 * 86400))
    assert not upgrade_check.upgrade_check_due(["use"])


def test_a_folder_of_wheels_offers_its_newest(tmp_path):
    major = __version__.split(".")[0]
    for version in (f"{major}.0.1", f"{major}.9.0", f"{major}.10.0"):
        make_wheel(tmp_path, "rezup", version)
    (tmp_path / "rezup-broken.whl").write_text("")
    version, source = upgrade.available_version(str(tmp_path))
    assert str(version) == f"{major}.10.0"
    assert source.endswith(f"rezup-{major}.10.0-py3-none-any.whl")
    with pytest.raises(upgrade.UpgradeError, match="neither a rezup checkout"):
        upgrade.available_version(str(tmp_path / "empty"))


def test_no_upgrade_under_a_rezup_at_work(state, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.setattr(upgrade, "_upgradable", lambda: None)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nsys.prefix = sys.argv[1]\n"
            "from rezup.operations.upgrade import hold_environment\n"
            "with hold_environment():\n    print('working', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "working"
        upgrade.upgrade_at_launch(["status"])  # would find nothing anyway: it must not look
        assert capsys.readouterr().err == ""
        assert '"postponed": true' in state.read_text()
        due_in = state.stat().st_mtime + upgrade_check.upgrade_pause() - time.time()
        assert 0 < due_in <= upgrade.POSTPONE + 1, "tried again a minute later"
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    with upgrade.hold_environment(exclusive=True) as alone:
        assert alone
