"""Cloning a revision whose plan is identical to a ready one's (rezup.stages.clone).

End to end: a real revision built with real uv and rez is cloned, its source deleted, and rez
runs in the clone (production scripts, a nested rez-env, compiled bytecode). The doubt cases
and the choice of the donor run on small real venvs (``uv venv``, nothing asked of any index).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from rezup.ground import paths
from rezup.stages.clone_donors import identical_revision
from rezup.stages.plan import Plan
from tests.helpers import (
    REZ_RECIPE,
    UV_CACHE,
    Sandbox,
    clone_revision,
    files_naming,
    make_rez_repository,
    make_sandbox,
    site_of,
    wait_for_seed_bytecode,
)


def interpreter_line(script: Path) -> str:
    """The interpreter and flags of a script: a plain ``#!`` line, or the ``/bin/sh`` form
    production.posix_shebang writes for paths too long for the kernel."""
    lines = script.read_text().splitlines()
    if lines[0] == "#!/bin/sh":
        return lines[1].removeprefix("'''exec' ").replace(' "$0" "$@"', "")
    return lines[0].removeprefix("#!")


# -- end to end ----------------------------------------------------------------------------------


@dataclass
class Cloned:
    box: Sandbox
    source: Path  # deleted once cloned
    target: Path
    inodes: dict[str, int]  # of the source's files that are hard links (into uv's cache)


@pytest.fixture(scope="module")
def cloned(tmp_path_factory) -> Cloned:
    """A revision of .main cloned from a real build, whose source is deleted afterwards."""
    box = make_sandbox(tmp_path_factory.mktemp("clone"))
    box.write_recipe(REZ_RECIPE)
    box.rezup("add", "--skip-use", check=True)
    source = box.ready_revisions()[0]
    wait_for_seed_bytecode(source)  # its compiler done: rmtree below races nothing
    revisions = source.parent
    target = revisions / paths.new_revision_name(str(revisions))
    plan = Plan.read(source / paths.PLAN_FILENAME)
    assert identical_revision(revisions, plan.digest, plan=plan, target=target) == source
    site = site_of(source / "venv" / "rez")
    inodes = {
        str(path.relative_to(source)): path.stat().st_ino
        for path in (site / "rez").glob("*.py")
        if path.stat().st_nlink > 1
    }
    clone_revision(source, target)
    shutil.rmtree(source)
    return Cloned(box, source, target, inodes)


def test_clone_runs_rez_after_its_source_is_deleted(cloned):
    box, source, target = cloned.box, cloned.source, cloned.target
    assert not source.exists()
    rez = target / "venv" / "rez" / "bin" / "rez" / "rez"
    result = subprocess.run(
        [str(rez), "--version"], env=box.env, capture_output=True, text=True, check=True
    )
    assert "Rez 3.4.0" in result.stdout
    assert str(target) in result.stdout.replace("\n", "")  # rez wraps long lines
    assert "Pip-based rez installation" not in result.stderr

    result = box.rezup("use", "--", "sh", "-c", "echo $REZUP_REVISION; rez --version", check=True)
    assert result.stdout.split()[:3] == [target.name, "Rez", "3.4.0"]


def test_clone_nests_rez_env_with_a_real_resolve(cloned, tmp_path):
    box, target = cloned.box, cloned.target
    repo = make_rez_repository(tmp_path / "packages")
    env = {"REZ_PACKAGES_PATH": str(repo), "REZ_LOCAL_PACKAGES_PATH": str(repo)}
    inner = "echo inner=$REZ_BAR_VERSION"
    probe = (
        f"echo foo=$REZ_FOO_VERSION loaded=$FOO_LOADED; command -v rez-env; "
        f"rez-env bar -- sh -c '{inner}'"
    )
    result = box.rezup("use", "--", "rez-env", "foo", "--", "sh", "-c", probe, env=env, check=True)
    assert "foo=1.0 loaded=yes" in result.stdout
    assert str(target / "venv" / "rez" / "bin" / "rez" / "rez-env") in result.stdout
    assert "inner=2.1" in result.stdout
    assert "Pip-based" not in result.stderr


def test_clone_imports_rez_from_itself_with_the_linked_bytecode(cloned):
    box, source, target = cloned.box, cloned.source, cloned.target
    python = target / "venv" / "rez" / "bin" / "python"
    site = next((target / "venv" / "rez" / "lib").glob("python*/site-packages"))
    result = subprocess.run(
        [str(python), "-c", "import rez; print(rez.__file__)"],
        env=box.env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == str(site / "rez" / "__init__.py")

    # the .pyc, hard-linked from the deleted source, is used as is (no recompile: -B writes
    # none and -v says it matched), and its code names the clone in a traceback
    code = "from rez.version import Version\nVersion('1..x!')\n"
    result = subprocess.run(
        [str(python), "-v", "-B", "-c", code], env=box.env, capture_output=True, text=True
    )
    assert result.returncode == 1
    module = site / "rez" / "version" / "_version.py"
    bytecode = (
        site
        / "rez"
        / "version"
        / "__pycache__"
        / f"_version.cpython-{sys.version_info[0]}{sys.version_info[1]}.pyc"
    )
    assert f"# {bytecode} matches {module}" in result.stderr
    assert f'File "{module}", line' in result.stderr
    assert str(source) not in result.stderr


def test_clone_names_no_file_of_its_source(cloned):
    source, target = cloned.source, cloned.target
    assert files_naming(target, source) == []
    if os.stat(UV_CACHE).st_dev == os.stat(target).st_dev:
        assert cloned.inodes, "uv hard-links package files from its cache"
    for path, inode in cloned.inodes.items():  # still the inode uv's cache holds
        assert (target / path).stat().st_ino == inode, path
        assert (target / path).stat().st_nlink >= 2, path
    assert (
        target / "venv" / "rez" / "bin" / "rez" / ".rez_production_install"
    ).read_text().strip() == "3.4.0"
    activate = (target / "venv" / "rez" / "bin" / "activate").read_text()
    assert str(target / "venv" / "rez") in activate


def test_clone_production_scripts_run_its_own_python_with_E(cloned):
    target = cloned.target
    venv = target / "venv" / "rez"
    scripts = [p for p in (venv / "bin" / "rez").iterdir() if not p.name.startswith(".")]
    assert len(scripts) > 20
    for script in scripts:
        assert interpreter_line(script) == f"{venv / 'bin' / 'python'} -E", script
        assert os.access(script, os.X_OK)
        assert script.stat().st_nlink == 1, "written anew, not linked to the source's"
    assert interpreter_line(venv / "bin" / "pip") == str(venv / "bin" / "python")
