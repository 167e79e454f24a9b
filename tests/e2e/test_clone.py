"""End to end: a revision whose plan a ready revision has already is made as its clone (real
uv, real rez 3.4.0), runs rez after its donor is gone, and anything the clone cannot vouch
for is built normally instead."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.helpers import (
    REZ_RECIPE,
    Sandbox,
    installed_version,
    make_rez_repository,
    make_wheel,
)


def metadata(revision: Path) -> dict:
    return json.loads((revision / "revision.json").read_text(encoding="utf-8"))


def files_naming(folder: Path, text: str) -> list[str]:
    """Regular files under ``folder`` (compiled bytecode aside) whose bytes hold ``text``."""
    needle = text.encode()
    found = []
    for path in folder.rglob("*"):
        if (
            path.is_file()
            and not path.is_symlink()
            and path.suffix != ".pyc"
            and needle in path.read_bytes()
        ):
            found.append(str(path.relative_to(folder)))
    return found


def test_an_unchanged_recipe_is_cloned_and_outlives_its_donor(sandbox: Sandbox, tmp_path: Path):
    sandbox.write_recipe(REZ_RECIPE)
    sandbox.rezup("add", "--skip-use", check=True)
    result = sandbox.rezup("add", "--skip-use", check=True)
    first, second = sandbox.ready_revisions()
    assert f"cloned from revision {first.name}" in result.stderr
    assert metadata(second)["cloned_from"] == first.name
    assert metadata(second)["plan_digest"] == metadata(first)["plan_digest"]
    assert metadata(second)["rez_version"] == "3.4.0"

    # every file is the donor's, linked, except those that name a revision's path
    [site] = (second / "venv" / "rez").glob("lib/python*/site-packages")
    source = site.relative_to(second) / "rez" / "resolved_context.py"
    assert (second / source).stat().st_ino == (first / source).stat().st_ino
    assert files_naming(second / "venv", str(first)) == []
    rez_script = second / "venv" / "rez" / "bin" / "rez" / "rez"
    header = "\n".join(rez_script.read_text().splitlines()[:2])  # a "#!" line, or sh's
    assert f"{second}/venv/rez/bin/python -E" in header, header
    assert (second / "venv" / "rez" / "bin" / "rez" / ".rez_production_install").is_file()

    sandbox.rezup("drop", ".main", "--revision", first.name, check=True)
    assert not first.exists()
    result = sandbox.rezup("use", "--", "rez", "--version", check=True)
    assert "Rez 3.4.0" in result.stdout
    assert str(second) in result.stdout.replace("\n", "")
    repo = make_rez_repository(tmp_path / "packages")
    env = {"REZ_PACKAGES_PATH": str(repo), "REZ_LOCAL_PACKAGES_PATH": str(repo)}
    probe = (
        "echo foo=$REZ_FOO_VERSION loaded=$FOO_LOADED; "
        "rez-env bar -- sh -c 'echo bar=$REZ_BAR_VERSION; rez --version'"
    )
    result = sandbox.rezup(
        "use", "--", "rez-env", "foo", "--", "sh", "-c", probe, env=env, check=True
    )
    assert "foo=1.0 loaded=yes" in result.stdout
    assert "bar=2.1" in result.stdout
    assert "Rez 3.4.0" in result.stdout
    pip = subprocess.run(
        [str(second / "venv" / "rez" / "bin" / "pip"), "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert pip.returncode == 0, pip.stderr
    assert str(second) in pip.stdout


def test_a_pull_of_a_plan_this_node_has_is_a_clone(remote_sandbox: Sandbox):
    box = remote_sandbox
    box.write_recipe(REZ_RECIPE)
    box.rezup("add", "--remote", "--skip-use", check=True)
    box.rezup("use", "--", "rez", "--version", check=True)  # pulls the first remote revision
    [pulled] = box.ready_revisions()
    box.rezup("add", "--remote", "--skip-use", check=True)  # republished: the same plan
    first_remote, second_remote = box.ready_revisions(remote=True)
    assert metadata(first_remote)["plan_digest"] == metadata(second_remote)["plan_digest"]

    result = box.rezup("use", "--", "rez", "--version", check=True)
    assert "Rez 3.4.0" in result.stdout
    assert f"cloned from revision {pulled.name}" in result.stderr
    clone = box.ready_revisions()[-1]
    assert clone.name == second_remote.name
    assert metadata(clone)["cloned_from"] == pulled.name
    assert metadata(clone)["pulled_from"] == str(second_remote)
    assert str(clone) in result.stdout.replace("\n", "")


def test_a_donor_that_cannot_be_cloned_is_built_from_scratch(sandbox: Sandbox):
    """A file the clone cannot vouch for (here a named pipe) makes it give up, leave nothing
    behind, and build the revision as usual."""
    sandbox.write_recipe(REZ_RECIPE)
    sandbox.rezup("add", "--skip-use", check=True)
    [first] = sandbox.ready_revisions()
    os.mkfifo(first / "venv" / "rez" / "odd-pipe")
    result = sandbox.rezup("add", "--skip-use", check=True)
    assert f"revision {first.name} cannot be cloned" in result.stderr
    assert "building the revision" in result.stderr
    second = sandbox.ready_revisions()[-1]
    assert "cloned_from" not in metadata(second)
    assert not (second / "venv" / "rez" / "odd-pipe").exists()
    result = sandbox.rezup("use", "--", "rez", "--version", check=True)
    assert "Rez 3.4.0" in result.stdout


def test_a_recipe_that_resolves_to_new_versions_is_built_not_cloned(
    sandbox: Sandbox, tmp_path: Path
):
    """The same recipe text, but the index has a newer version of what it leaves unpinned:
    the clone made beside the resolve is thrown away and the new plan is built."""
    links = tmp_path / "links"
    make_wheel(links, "tinypkg", "1.0")
    sandbox.write_recipe(
        REZ_RECIPE + f'lib = ["tinypkg"]\n\n[pip]\noptions = ["--find-links", "{links}"]\n'
    )
    sandbox.rezup("add", "--skip-use", check=True)
    [first] = sandbox.ready_revisions()
    assert installed_version(first, "tinypkg") == "1.0"

    make_wheel(links, "tinypkg", "2.0")
    result = sandbox.rezup("add", "--skip-use", check=True)
    assert "resolves to another plan" in result.stderr
    second = sandbox.ready_revisions()[-1]
    assert "cloned_from" not in metadata(second)
    assert installed_version(second, "tinypkg") == "2.0"
    assert installed_version(first, "tinypkg") == "1.0"
    check = subprocess.run(
        [
            str(second / "venv" / "rez" / "bin" / "python"),
            "-c",
            "import tinypkg, rez; print(tinypkg.VERSION)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.stdout.strip() == "2.0", check.stderr
