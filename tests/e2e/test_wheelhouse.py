"""End to end: a wheelhouse holding a wheel built from an sdist, pulled offline.

The index has only an sdist of hello-ext; ``rezup add --remote --wheels`` builds a wheel of it,
and the plan it publishes must accept that wheel (its hash), or the offline pull fails with a
hash mismatch. Real uv, real rez, real processes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

from rezup.stages.plan import PLAN_FILENAME, Plan, VenvPlan
from rezup.stages.wheelhouse import with_extra_hashes
from rezup.tools.uv_process import find_uv
from tests.helpers import (
    PACKAGES_DIR,
    Sandbox,
    installed_version,
    make_wheel,
    offline_env,
    rez_recipe,
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hashes(line: str) -> set[str]:
    return {
        part[len("--hash=sha256:") :] for part in line.split() if part.startswith("--hash=sha256:")
    }


def test_wheel_built_from_sdist_is_accepted_by_the_plan(remote_sandbox: Sandbox, tmp_path: Path):
    box = remote_sandbox
    links = tmp_path / "links"
    source = shutil.copytree(PACKAGES_DIR / "hello_ext", tmp_path / "hello_ext")
    subprocess.run(
        [find_uv(), "build", "--sdist", "--out-dir", str(links), str(source)],
        env=box.env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    [sdist] = links.glob("*.tar.gz")
    assert sdist.name == "hello_ext-1.0.tar.gz"
    box.write_recipe(
        rez_recipe(f'lib = ["hello-ext"]\n\n[pip]\noptions = ["--find-links", "{links}"]\n')
    )
    box.rezup("add", "--remote", "--wheels", "--skip-use", check=True)

    [remote] = box.ready_revisions(remote=True)
    [built] = (remote / "wheels").glob("hello_ext-1.0-*.whl")
    plan = Plan.read(remote / PLAN_FILENAME)
    [line] = [line for line in plan.venvs[0].requirements if line.startswith("hello-ext==")]
    assert _sha256(built) in _hashes(line)
    assert _sha256(sdist) in _hashes(line)  # the sdist's hash stays: a build may still use it
    metadata = json.loads((remote / "revision.json").read_text(encoding="utf-8"))
    assert metadata["plan_digest"] == plan.digest

    shutil.rmtree(links)  # the only "index" that had hello-ext is gone ...
    offline = offline_env(tmp_path)  # ... and so is every other index
    result = box.rezup("use", "--", "rez", "--version", env=offline, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Rez 3.4.0" in result.stdout
    [pulled] = box.ready_revisions()
    assert installed_version(pulled, "hello_ext") == "1.0"  # dist-info: hello_ext-1.0
    imported = subprocess.run(
        [str(pulled / "venv" / "rez" / "bin" / "python"), "-c", "import hello_ext"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.returncode == 0, imported.stderr
    local_metadata = json.loads((pulled / "revision.json").read_text(encoding="utf-8"))
    assert local_metadata["plan_digest"] == plan.digest


# -- unit: adding hashes to requirement lines ------------------------------------------------


def _venv(name: str, *requirements: str) -> VenvPlan:
    return VenvPlan(
        name=name,
        python="/usr/bin/python3",
        python_request="",
        python_version="3.11.7",
        requirements=requirements,
    )


def test_with_extra_hashes_adds_to_matching_lines_in_every_venv():
    plan = Plan(
        container="main",
        venvs=(
            _venv(
                "rez",
                "rez==3.4.0 --hash=sha256:aa",
                "Hello_Ext==1.0 ; python_version >= '3.8' --hash=sha256:bb --hash=sha256:cc",
                "hello-extra==1.0 --hash=sha256:dd",
            ),
            _venv("tool", "hello.ext==1.0 --hash=sha256:bb", "other @ file:///src/other"),
        ),
    )
    updated = with_extra_hashes(plan, {("hello-ext", "1.0"): {"ff", "ee"}})

    assert updated.venvs[0].requirements == (
        "rez==3.4.0 --hash=sha256:aa",
        "Hello_Ext==1.0 ; python_version >= '3.8' --hash=sha256:bb --hash=sha256:cc"
        " --hash=sha256:ee --hash=sha256:ff",
        "hello-extra==1.0 --hash=sha256:dd",
    )
    assert updated.venvs[1].requirements == (
        "hello.ext==1.0 --hash=sha256:bb --hash=sha256:ee --hash=sha256:ff",
        "other @ file:///src/other",
    )
    assert updated.venvs[0].name == "rez" and updated.container == "main"
    assert plan.digest != updated.digest
    assert Plan.from_text(updated.to_text()) == updated


def test_with_extra_hashes_leaves_other_versions_and_known_hashes_alone():
    plan = Plan(
        container="main",
        venvs=(_venv("rez", "hello-ext==2.0 --hash=sha256:bb", "pip==24.0 --hash=sha256:11"),),
    )
    assert with_extra_hashes(plan, {("hello-ext", "1.0"): {"ff"}}) == plan
    assert with_extra_hashes(plan, {("pip", "24.0"): {"11"}}) == plan
    assert with_extra_hashes(plan, {}) is plan


def test_shared_packages_are_in_the_wheelhouse_too(remote_sandbox: Sandbox, tmp_path: Path):
    """A [shared] recipe pulls offline as well: its packages are stored with the venvs'."""
    box = remote_sandbox
    links = tmp_path / "links"
    make_wheel(links, "sharedpkg", "2.0")
    box.write_recipe(
        rez_recipe(
            f'\n[shared]\nname = "prod"\nrequires = ["sharedpkg"]\n\n'
            f'[pip]\noptions = ["--find-links", "{links}"]\n'
        )
    )
    box.rezup("add", "--remote", "--wheels", "--skip-use", check=True)
    [remote] = box.ready_revisions(remote=True)
    assert (remote / "wheels" / "sharedpkg-2.0-py3-none-any.whl").is_file()
    shutil.rmtree(links)
    offline = offline_env(tmp_path)
    result = box.rezup("use", "--", "rez", "--version", env=offline, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (box.local_root / ".main" / "libs" / "prod" / "sharedpkg.py").is_file()
