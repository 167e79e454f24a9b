"""End to end (real uv, real rez 3.4.0): a new container reuses what the revisions of every
other container of the root hold (``stages/donor_index``): the same build is cloned, the same
files take the other container's bytecode, which Python loads; dropping the donor's container
changes nothing. And ``add --no-background`` leaves nothing running behind it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.helpers import REZ_RECIPE, Sandbox, rez_recipe, site_of, wait_for_seed_bytecode

RESOLVED_CONTEXT = Path("rez") / "resolved_context.py"


def metadata(revision: Path) -> dict:
    return json.loads((revision / "revision.json").read_text(encoding="utf-8"))


def pyc_of(site: Path, source: Path) -> Path:
    [pyc] = (site / source.parent / "__pycache__").glob(f"{source.stem}.*.pyc")
    return pyc


def loaded_from_bytecode(revision: Path, module: str) -> list[str]:
    """The pyc files Python reports it loaded code from when it imports ``module`` in the rez
    venv of ``revision`` (``python -v``: "code object from ...")."""
    python = revision / "venv" / "rez" / "bin" / "python"
    done = subprocess.run(
        [str(python), "-v", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [
        line.split("code object from ", 1)[1].strip(" '")
        for line in done.stderr.splitlines()
        if "code object from " in line
    ]


def test_a_new_container_is_cloned_from_another_container_and_outlives_it(sandbox: Sandbox):
    sandbox.write_recipe(REZ_RECIPE)
    sandbox.rezup("add", "--skip-use", check=True)
    [donor] = sandbox.ready_revisions()
    sandbox.write_recipe(REZ_RECIPE, name="show")
    result = sandbox.rezup("add", "show", "--skip-use", check=True)
    [clone] = sandbox.ready_revisions("show")
    assert f"cloned from revision {donor.name} of .main" in result.stderr, result.stderr
    assert metadata(clone)["cloned_from"] == donor.name
    assert metadata(clone)["cloned_from_container"] == ".main"
    assert metadata(clone)["plan_digest"] != metadata(donor)["plan_digest"]  # container named
    site, donor_site = site_of(clone / "venv" / "rez"), site_of(donor / "venv" / "rez")
    assert (site / RESOLVED_CONTEXT).stat().st_ino == (donor_site / RESOLVED_CONTEXT).stat().st_ino

    sandbox.rezup("drop", ".main", check=True)
    assert not (sandbox.local_root / ".main").exists()
    version = sandbox.rezup("use", "show", "--", "rez", "--version", check=True)
    assert "3.4.0" in version.stdout
    assert str(clone) in version.stdout.replace("\n", "")  # rez runs from its own venv


def test_a_new_container_takes_the_bytecode_of_another_and_python_loads_it(sandbox: Sandbox):
    sandbox.write_recipe(REZ_RECIPE)
    sandbox.rezup("add", "--skip-use", check=True)
    [donor] = sandbox.ready_revisions()
    wait_for_seed_bytecode(donor)
    sandbox.write_recipe(rez_recipe('lib = ["six==1.16.0"]\n'), name="show")  # another plan
    result = sandbox.rezup("-v", "add", "show", "--skip-use", check=True)
    [revision] = sandbox.ready_revisions("show")
    assert "cloned" not in result.stderr
    assert f"(reused from revision {donor.name})" in result.stderr, result.stderr
    site, donor_site = site_of(revision / "venv" / "rez"), site_of(donor / "venv" / "rez")
    pyc = pyc_of(site, RESOLVED_CONTEXT)
    assert pyc.stat().st_ino == pyc_of(donor_site, RESOLVED_CONTEXT).stat().st_ino
    # the seeds' bytecode too: no compiler was needed for this revision
    pip_pyc = pyc_of(site, Path("pip") / "__init__.py")
    assert pip_pyc.stat().st_ino == pyc_of(donor_site, Path("pip") / "__init__.py").stat().st_ino
    assert not list(revision.glob(".compiling-*"))

    sandbox.rezup("drop", ".main", check=True)
    assert not (sandbox.local_root / ".main").exists()
    loaded = loaded_from_bytecode(revision, "rez.resolved_context")
    assert str(pyc) in loaded, loaded[:5]
    assert pyc.stat().st_nlink >= 1 and pyc.is_file()
    version = sandbox.rezup("use", "show", "--", "rez", "--version", check=True)
    assert "3.4.0" in version.stdout


def _processes_naming(text: str) -> list[str]:
    """Command lines of the processes alive now that name ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in command:
            found.append(f"{entry.name}: {command}")
    return found


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(path.relative_to(folder)): path.lstat().st_size for path in folder.rglob("*")}


def test_no_background_leaves_nothing_running_and_a_copy_is_complete(
    sandbox: Sandbox, tmp_path: Path
):
    sandbox.write_recipe(REZ_RECIPE)
    sandbox.rezup("add", "--skip-use", "--no-background", check=True)
    assert _processes_naming(str(sandbox.local_root)) == []
    [revision] = sandbox.ready_revisions()
    before = _snapshot(sandbox.local_root)
    copy = tmp_path / "copy"
    shutil.copytree(sandbox.local_root, copy, symlinks=True)
    wait_for_seed_bytecode(copy / ".main" / "revisions" / revision.name, timeout=0.5)
    time.sleep(0.5)
    assert _snapshot(sandbox.local_root) == before  # nothing written after the command
    shutil.rmtree(sandbox.local_root)  # no "Directory not empty": nobody writes there

    # the same through the setting, for pulls and scripts
    status = sandbox.rezup("status", env={"REZUP_NO_BACKGROUND": "perhaps"})
    assert status.returncode == 0  # status builds nothing: the setting is not read
    bad = sandbox.rezup("add", "--skip-use", env={"REZUP_NO_BACKGROUND": "perhaps"})
    assert bad.returncode != 0
    assert "REZUP_NO_BACKGROUND must be 1 or 0" in bad.stderr
    assert sandbox.revisions() == []  # nothing half-built left
    sandbox.rezup("add", "--skip-use", env={"REZUP_NO_BACKGROUND": "1"}, check=True)
    assert _processes_naming(str(sandbox.local_root)) == []
    [revision] = sandbox.ready_revisions()
    wait_for_seed_bytecode(revision, timeout=0.5)
