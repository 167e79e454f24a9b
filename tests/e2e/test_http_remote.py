"""End to end: a remote root served over HTTPS by a real web server (nginx where installed, else
Python's http.server), with TLS from a test certificate authority and basic auth through netrc.
Real uv, real rez, real processes; the publisher writes to the folder the server serves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REZ_RECIPE, Sandbox, lean_use_imports, offline_env
from tests.web_server import ScratchCA, StaticSite

USER, PASSWORD = "farm", "s3cret-farm"


def trusted_bundle(ca: ScratchCA, folder: Path) -> Path:
    """The machine's certificate bundle (the index may be reached through a proxy it trusts)
    with the test authority added: what SSL_CERT_FILE names for rezup and uv."""
    import ssl

    system = os.environ.get("SSL_CERT_FILE") or ssl.get_default_verify_paths().cafile
    bundle = folder / "bundle.pem"
    text = Path(system).read_text() if system and os.path.isfile(system) else ""
    bundle.write_text(text + "\n" + ca.bundle.read_text())
    return bundle


@pytest.fixture
def served(remote_sandbox: Sandbox, tmp_path: Path):
    """The remote root of ``remote_sandbox`` served over HTTPS with basic auth, and a farm
    machine's environment reaching it: (sandbox, site, environment of a farm job)."""
    box = remote_sandbox
    ca = ScratchCA(tmp_path / "ca")
    box.remote_root.mkdir(parents=True, exist_ok=True)
    netrc = box.home / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n")
    netrc.chmod(0o600)
    with StaticSite(box.remote_root, tmp_path / "web", ca=ca, auth=(USER, PASSWORD)) as site:
        farm = {
            "REZUP_ROOT_REMOTE": site.url,
            "SSL_CERT_FILE": str(trusted_bundle(ca, tmp_path)),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        yield box, site, farm


def publish(box: Sandbox, *args: str) -> Path:
    """``rezup add farm --remote`` to the folder the server serves; the new revision."""
    before = set(box.ready_revisions("farm", remote=True))
    box.rezup("add", "farm", "--remote", "--skip-use", *args, check=True)
    [new] = set(box.ready_revisions("farm", remote=True)) - before
    return new


def job(box: Sandbox, env: dict[str, str], *command: str) -> subprocess.CompletedProcess:
    return box.rezup("use", "farm", "--", *command, env=env)


def warnings_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("rezup: warning:")]


def test_a_burst_of_jobs_pulls_over_https_once_and_takes_a_newer_revision(served):
    box, site, farm = served
    box.write_recipe(REZ_RECIPE, name="farm")
    first = publish(box)
    index = json.loads((box.remote_root / "farm" / "index.json").read_text())
    assert index["format"] == "rezup-remote-index"
    assert [r["name"] for r in index["revisions"]] == [first.name]

    # 16 jobs at once on a machine that has nothing: one fetch of the index, one build
    env = {**box.env, **farm, "REZUP_REMOTE_INDEX_MAX_AGE": "120"}
    script = 'echo "$REZUP_REVISION"; rez --version'
    jobs = [
        subprocess.Popen(
            [sys.executable, "-m", "rezup", "use", "farm", "--", "sh", "-c", script],
            env=env,
            cwd=str(box.base),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(16)
    ]
    outputs = [process.communicate(timeout=600) for process in jobs]
    for process, (out, err) in zip(jobs, outputs):
        assert process.returncode == 0, err
        assert out.splitlines()[0] == first.name and "Rez 3.4.0" in out
        assert not warnings_of(err), err
    [local] = box.ready_revisions("farm")
    assert local.name == first.name
    metadata = json.loads((local / "revision.json").read_text())
    assert metadata["pulled_from"] == f"{site.url}/farm/revisions/{first.name}"
    assert site.served("/farm/index.json") == 1  # the burst asked the server once
    assert site.served("/farm/index.json", 401) == 1  # once without credentials, as uv does
    assert site.served(f"/{first.name}/plan.lock") == 1  # and pulled once
    # its standard lock fetched with it (not made again), as published
    assert site.served(f"/{first.name}/pylock.rez.toml") == 1
    assert (local / "pylock.rez.toml").read_text() == (first / "pylock.rez.toml").read_text()
    # while the copy of the index is fresh, a job takes the lean path: nothing fetched
    imported = lean_use_imports(env, "farm")
    assert "rezup.ground.remote_index" in imported
    # (REZUP_REMOTE_INDEX_MAX_AGE is set: read without typing or the error types)
    heavy = {"rezup.cli", "rezup.stages.http_remote", "urllib.request", "typing", "json"}
    assert not heavy & imported, heavy & imported
    assert "rezup.ground.errors" not in imported

    # a newer revision is published while a job runs: later jobs take it once the copy of
    # the index is old, the running job keeps its own
    running = subprocess.Popen(
        [sys.executable, "-m", "rezup", "use", "farm", "--", "sh", "-c", script + "; sleep 3"],
        env=env,
        cwd=str(box.base),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert running.stdout is not None
    assert running.stdout.readline().strip() == first.name  # it runs: now publish
    second = publish(box)
    kept = job(box, env, "sh", "-c", 'echo "$REZUP_REVISION"')
    assert kept.returncode == 0 and kept.stdout.strip() == first.name  # within its max age
    fresh = job(box, {**env, "REZUP_REMOTE_INDEX_MAX_AGE": "0"}, "sh", "-c", script)
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.splitlines()[0] == second.name and "Rez 3.4.0" in fresh.stdout
    assert [p.name for p in box.ready_revisions("farm")] == [first.name, second.name]
    out, err = running.communicate(timeout=120)
    assert running.returncode == 0, err
    assert "Rez 3.4.0" in out  # it ran to its end in its own revision

    # status and inspect show the remote served over HTTPS
    status = box.rezup("status", "farm", "--json", env=env, check=True)
    info = json.loads(status.stdout)["containers"][0]
    assert info["remote_root"] == site.url
    assert {row["revision"]: row["remote"] for row in info["revisions"]} == {
        first.name: "ready",
        second.name: "ready",
    }
    inspected = box.rezup("inspect", "farm", second.name, "--json", env=env, check=True)
    assert json.loads(inspected.stdout)["pins"]["rez"]["rez"] == "3.4.0"


def test_a_server_down_failing_or_talking_nonsense_falls_back_with_one_warning(served):
    box, site, farm = served
    box.write_recipe(REZ_RECIPE, name="farm")
    first = publish(box)
    env = {**box.env, **farm, "REZUP_REMOTE_INDEX_MAX_AGE": "0"}
    assert job(box, env, "true").returncode == 0  # pulled: the revision to fall back to
    second = publish(box)  # a newer one, never pulled: every failure below keeps the first

    record = box.local_root / "farm" / ".remote-unanswered"
    for breakage, said in (
        ("500", "answered HTTP 500"),
        ("nonsense", "answered nonsense"),
        ("stopped", "cannot be reached"),
    ):
        if breakage == "500":
            site.fail_with(500)
        elif breakage == "nonsense":
            site.fail_with(None)
            (box.remote_root / "farm" / "index.json").write_text("<html>maintenance</html>")
        else:
            site.stop()
        result = job(box, env, "sh", "-c", 'echo "$REZUP_REVISION"')
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == first.name
        [warning] = warnings_of(result.stderr)
        assert said in warning and first.name in warning, warning
        assert record.is_file()  # recorded: the jobs that follow do not ask again
        asked = site.requests()
        later = job(box, env, "sh", "-c", 'echo "$REZUP_REVISION"')
        assert later.returncode == 0 and later.stdout.strip() == first.name
        [warning] = warnings_of(later.stderr)
        assert "not asked again yet" in warning, warning
        assert site.requests() == asked
        if breakage == "500":  # the jobs that follow fall back on the lean path
            assert "rezup.cli" not in lean_use_imports(env, "farm")
        record.unlink()  # as REZUP_PULL_RETRY seconds later

    site.start()
    third = publish(box)  # writes the index again
    back = job(box, env, "sh", "-c", 'echo "$REZUP_REVISION"')
    assert back.returncode == 0 and not warnings_of(back.stderr), back.stderr
    assert back.stdout.strip() == third.name != second.name


def test_a_wheelhouse_is_pulled_over_https_with_the_index_unreachable(served, tmp_path):
    box, site, farm = served
    box.write_recipe(REZ_RECIPE, name="farm")
    published = publish(box, "--wheels")
    page = (published / "wheels" / "index.html").read_text()
    [wheel] = [p.name for p in (published / "wheels").glob("rez-3.4.0-*.whl")]
    assert f'href="{wheel}#sha256=' in page
    index = json.loads((box.remote_root / "farm" / "index.json").read_text())
    assert index["revisions"] == [{"name": published.name, "plan": True, "wheels": True}]

    env = {**box.env, **offline_env(tmp_path), **farm}  # no index, an empty uv cache
    result = job(box, env, "rez", "--version")
    assert result.returncode == 0, result.stderr
    assert "Rez 3.4.0" in result.stdout
    assert site.served(f"/wheels/{wheel}") == 1  # uv fetched it from the server


def test_publishing_to_a_url_is_a_clear_error(remote_sandbox: Sandbox):
    box = remote_sandbox
    box.write_recipe(REZ_RECIPE, name="farm")
    env = {**box.env, "REZUP_ROOT_REMOTE": "https://rezup.example.com/roots"}
    result = box.rezup("add", "farm", "--remote", "--skip-use", env=env)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "served over HTTP" in line and "folder the server serves" in line
    assert not (box.local_root / "farm").exists()
