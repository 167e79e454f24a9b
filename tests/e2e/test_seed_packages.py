"""Seed packages in the plan: pip (and setuptools and wheel before Python 3.12) are pinned with
every other requirement, venvs are made with a plain ``uv venv`` (no index asked), and plans
written by earlier rezup versions (no seeds pinned) still build as they did, with ``--seed``.
Real uv, real rez, real indexes or none at all."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from rezup.stages.plan import PLAN_FILENAME, Plan, pinned, seed_packages
from rezup.tools import uv_process
from rezup.tools.pythons import python_version_of
from tests.helpers import (
    REZ_RECIPE,
    Sandbox,
    find_pyenv_python,
    installed_version,
    make_wheel,
    offline_env,
    rez_recipe,
    wait_for_seed_bytecode,
)

SEEDS_AND_THEIR_DEPENDENCIES = {"pip", "setuptools", "wheel", "packaging"}


def pins(plan: Plan, venv: int = 0) -> dict[str, str]:
    found = (pinned(line) for line in plan.venvs[venv].requirements)
    return dict(pin for pin in found if pin)


def dry_run_plan(box: Sandbox, *args: str) -> Plan:
    result = box.rezup("add", "--dry-run", *args, check=True)
    return Plan.from_text(result.stdout[result.stdout.index("# rezup plan:") :])


@pytest.mark.parametrize("version", ["3.11", "3.12"])
def test_the_seeds_are_what_uv_seeds(tmp_path: Path, version: str):
    """``uv venv --seed`` itself, for each Python: the same top-level packages."""
    python = find_pyenv_python(version)
    if python is None:
        pytest.skip(f"no CPython {version} installed")
    seeded = tmp_path / "seeded"
    uv_process.run(["venv", "--quiet", "--seed", "--python", python, str(seeded)])
    names = {
        path.name.split("-")[0] for path in seeded.glob("lib/python*/site-packages/*.dist-info")
    }
    full_version = python_version_of(python)
    assert set(seed_packages(full_version)) == names - {"packaging"}  # wheel's dependency


# -- rezup add ----------------------------------------------------------------------------------


def test_add_pins_the_seeds_and_installs_them_compiled(sandbox: Sandbox, tmp_path: Path):
    sandbox.write_recipe(REZ_RECIPE)
    sandbox.rezup("add", "--skip-use", check=True)
    [revision] = sandbox.ready_revisions()
    plan = Plan.read(revision / PLAN_FILENAME)
    assert plan.pinned_seeds
    versions = pins(plan)
    assert {"rez", *seed_packages(plan.venvs[0].python_version)} <= set(versions)
    for line in plan.venvs[0].requirements:  # hashed like every pin
        assert "--hash=sha256:" in line, line
    for name in seed_packages(plan.venvs[0].python_version):
        assert installed_version(revision, name) == versions[name]

    venv = revision / "venv" / "rez"
    # compiled once the revision is ready, by a process of its own, and valid
    wait_for_seed_bytecode(revision)
    python = venv / "bin" / "python"
    imported = subprocess.run(
        [str(python), "-B", "-v", "-c", "import pip._internal.cli.main"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(revision),
    )
    assert imported.returncode == 0, imported.stderr[-2000:]
    loaded = [
        line
        for line in imported.stderr.splitlines()
        if line.startswith("# code object from") and "/pip/" in line
    ]
    assert loaded and all(line.rstrip("'").endswith(".pyc") for line in loaded), loaded[:5]
    python = venv / "bin" / "python"
    result = subprocess.run(
        [str(python), "-m", "pip", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.startswith(f"pip {versions['pip']} ")

    # rez-pip installs with that pip (a local wheel, no index)
    links = tmp_path / "links"
    make_wheel(links, "tinypkg", "1.0")
    packages = tmp_path / "rez-packages"
    packages.mkdir()
    env = {
        "REZ_PACKAGES_PATH": str(packages),
        "REZ_LOCAL_PACKAGES_PATH": str(packages),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(links),
    }
    sandbox.rezup("use", "--", "rez-pip", "--install", "tinypkg", env=env, check=True)
    assert (packages / "tinypkg" / "1.0" / "package.py").is_file()


def test_a_recipe_that_pins_pip_wins(sandbox: Sandbox):
    sandbox.write_recipe(rez_recipe('lib = ["pip==24.0"]\n'))
    plan = dry_run_plan(sandbox)
    assert pins(plan)["pip"] == "24.0"
    assert plan.pinned_seeds


def test_python_3_12_venvs_are_seeded_with_pip_only(sandbox: Sandbox):
    python = find_pyenv_python("3.12") or find_pyenv_python("3.13")
    if python is None:
        pytest.skip("no CPython 3.12 or 3.13 installed")
    sandbox.write_recipe(REZ_RECIPE)
    versions = pins(dry_run_plan(sandbox, "--python", python))
    assert "pip" in versions
    assert not {"setuptools", "wheel"} & set(versions)


# -- plans of earlier rezup versions ------------------------------------------------------------


def test_an_earlier_plan_pulls_as_before_with_seed_even_offline(
    remote_sandbox: Sandbox, tmp_path: Path
):
    """A remote revision published by an earlier rezup: its plan pins no seeds and its
    wheelhouse holds them beside the pins. A pull seeds the venvs from the wheelhouse with no
    index at all, as it always did."""
    from rezup.operations.add import add
    from rezup.stages.remote_publish import publish

    box = remote_sandbox
    recipe = box.write_recipe(REZ_RECIPE)
    current = add(".main", recipe_file=recipe, dry_run=True)
    assert isinstance(current, Plan)
    venv = current.venvs[0]
    earlier = replace(
        current,
        pinned_seeds=False,
        venvs=(
            replace(
                venv,
                requirements=tuple(
                    line
                    for line in venv.requirements
                    if pinned(line) is None or pinned(line)[0] not in SEEDS_AND_THEIR_DEPENDENCIES
                ),
            ),
        ),
    )
    assert set(pins(earlier)) == {"rez"}
    stamp = "1700000000.000001"
    published = publish(
        earlier.with_wheels(True),
        recipe.read_text(),
        box.remote_root / ".main" / "revisions" / stamp,
    )
    remote = box.remote_root / ".main" / "revisions" / stamp
    assert "pinned_seeds" not in (remote / PLAN_FILENAME).read_text()
    assert list((remote / "wheels").glob("pip-*.whl")), "the seeds are in the wheelhouse"

    result = box.rezup("use", "--", "rez", "--version", env=offline_env(tmp_path), timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Rez 3.4.0" in result.stdout
    [pulled] = box.ready_revisions()
    assert pulled.name == stamp
    assert Plan.read(pulled / PLAN_FILENAME) == published
    assert installed_version(pulled, "pip"), "seeded by uv venv --seed"
    metadata = json.loads((pulled / "revision.json").read_text(encoding="utf-8"))
    assert metadata["plan_digest"] == published.digest
    pip = subprocess.run(
        [str(pulled / "venv" / "rez" / "bin" / "python"), "-m", "pip", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert pip.returncode == 0, pip.stderr
