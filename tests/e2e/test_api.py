"""End to end: the rezup 2.x Python API on real revisions (real uv, real rez 3.4.0), as the
original's docs and tests use it; and a root built by rezup 2.6 itself, used by this rezup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rezup import ContainerRecipe, util
from rezup.container import Container
from rezup.ground import root_settings
from tests.helpers import (
    REZ_PIN,
    REZ_RECIPE,
    Sandbox,
    make_rez_repository,
    make_sandbox,
    rez_recipe,
)


@pytest.fixture
def recipes(home, tmp_path, monkeypatch):
    """A provisional recipes folder, no remote root (each test sets one if it needs it)."""
    monkeypatch.delenv("REZUP_ROOT_REMOTE")
    saved = root_settings._recipe_dir_override
    folder = tmp_path / "recipes"
    with ContainerRecipe.provisional_recipes(folder):
        yield folder
    root_settings._recipe_dir_override = saved


def write_recipe(name: str, description: str, **extra) -> None:
    ContainerRecipe(name).create(
        {"description": description, "rez": {"name": "rez", "url": REZ_PIN}, **extra}
    )


def test_create_a_container_and_a_revision(recipes):
    write_recipe("foo", "apple", env={"bar": "bee"})
    container = Container.create("foo")
    assert not container.is_exists() and container.is_empty()
    revision = container.new_revision()
    assert container.is_exists() and not container.is_empty()
    assert revision.is_valid() and revision.is_ready() and not revision.is_remote()
    assert revision.recipe()["description"] == "apple"
    assert revision.recipe_env()["bar"] == "bee"  # the recipe's [env], key case kept
    assert revision.get_rez_version() == "3.4.0"
    rez_lib = revision.locate_rez_lib()
    assert (rez_lib / "rez" / "__init__.py").is_file() and rez_lib.name == "site-packages"
    assert revision.use(["sh", "-c", 'test "$bar" = bee && exit 3']) == 3
    process = revision.spawn_shell(["sh", "-c", "rez --version"])
    assert process.wait() == 0


def test_a_pulled_remote_revision_keeps_its_recipe(recipes, tmp_path, monkeypatch):
    monkeypatch.setenv("REZUP_ROOT_REMOTE", str(tmp_path / "remote"))
    write_recipe("foo", "apple")
    container = Container.create("foo")
    assert container.is_remote()
    remote_revision = container.new_revision()
    assert remote_revision.is_remote() and remote_revision.is_ready()
    assert remote_revision.recipe()["description"] == "apple"
    local = Container.create("foo", force_local=True)
    assert local.get_latest_revision() is None and local.is_empty()

    write_recipe("foo", "orange")  # the recipe changes after the revision was published
    container = Container.create("foo")  # in a new session, as the original's test does
    revision = container.get_latest_revision()
    pulled = revision.pull()
    assert revision.is_remote() and not pulled.is_remote() and pulled.is_ready()
    assert container.recipe()["description"] == "orange"
    assert revision.recipe()["description"] == "apple"
    assert pulled.recipe()["description"] == "apple"
    local = Container.create("foo", force_local=True)
    assert [r.timestamp() for r in local.iter_revision()] == [remote_revision.timestamp()]
    assert local.recipe()["description"] == "orange"
    assert local.get_latest_revision().recipe()["description"] == "apple"
    assert pulled.recipe_env()["REZUP_USING_REMOTE"] == "yes"


RXT_PACKAGES = ("foo",)


def test_get_revision_and_resolve_environ(recipes, tmp_path):
    repo = make_rez_repository(tmp_path / "packages")
    write_recipe(".main", "resolving", env={"REZ_PACKAGES_PATH": str(repo), "STUDIO": "north"})
    with pytest.raises(Exception, match="no ready revision"):
        util.get_revision()
    revision = util.get_revision(create=True)  # made on first use
    assert util.get_revision() == revision
    env = util.resolve_environ(revision, ["foo"])
    assert env["FOO_LOADED"] == "yes"  # set by foo's commands()
    assert env["REZ_FOO_VERSION"] == "1.0" and env["REZ_BAR_VERSION"] == "2.1"
    assert str(revision.production_bin_dir()) in env["PATH"]
    assert util.resolve_environ(revision, "foo bar-2")["REZ_BAR_VERSION"] == "2.1"
    # an .rxt file written by the revision's own rez-env
    rxt = tmp_path / "context.rxt"
    done = subprocess.run(
        [sys.executable, "-m", "rezup", "use", "--", "rez-env", "foo", "--output", str(rxt)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert util.resolve_environ(revision, str(rxt))["FOO_LOADED"] == "yes"
    with pytest.raises(util.ResolveError, match="nosuchpackage") as info:
        util.resolve_environ(revision, ["nosuchpackage"])
    assert isinstance(info.value, subprocess.CalledProcessError)  # as rezup 2.x raised
    assert util.locate_rez_lib() == revision.locate_rez_lib()


def test_util_env_applies_a_containers_env(recipes):
    write_recipe("dev", "env", env={"FROM_DEV": "${HOME}/dev"})
    Container.create("dev").new_revision()
    code = (
        "import os\nfrom rezup import ContainerRecipe\n"
        f"ContainerRecipe.RECIPES_DIR = {str(recipes)!r}\n"
        "from rezup.util_env import dev\n"
        "print(os.environ['FROM_DEV'], dev['REZUP_CONTAINER'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [f"{os.environ['HOME']}/dev", "dev"]


# --------------------------------------------------------------------------------------------
# A root built by rezup 2.6 itself


@pytest.fixture(scope="module")
def rezup26(tmp_path_factory) -> Path:
    """The original rezup (rezup-api 2.6.0 + rezup 2.1.1) in a throwaway venv."""
    from rezup.tools.uv_process import find_uv

    venv = tmp_path_factory.mktemp("rezup26") / "venv"
    made = subprocess.run(
        [find_uv(), "venv", "-q", "--python", sys.executable, str(venv)],
        capture_output=True,
        text=True,
    )
    if made.returncode == 0:
        made = subprocess.run(
            [
                find_uv(),
                "pip",
                "install",
                "-q",
                "--python",
                str(venv / "bin" / "python"),
                "rezup-api==2.6.0",
                "rezup==2.1.1",
            ],
            capture_output=True,
            text=True,
        )
    if made.returncode != 0:
        pytest.skip(f"cannot install rezup 2.6 from the index: {made.stderr.strip()[-300:]}")
    return venv / "bin" / "rezup"


def test_a_root_built_by_rezup_2_6_is_used_as_it_is(rezup26: Path, tmp_path: Path):
    box = make_sandbox(tmp_path / "box", remote=True)
    box.write_recipe(rez_recipe('\n[env]\nFROM_2X = "yes"\n'))
    old = {**box.env, "PATH": f"{rezup26.parent}{os.pathsep}{box.env['PATH']}"}
    local_env = {k: v for k, v in old.items() if k != "REZUP_ROOT_REMOTE"}
    built = subprocess.run(
        [str(rezup26), "add", "--skip-use"],
        env=local_env,
        capture_output=True,
        text=True,
        cwd=str(box.base),
        timeout=600,
    )
    if built.returncode != 0 and "pypi" in built.stderr.lower():
        pytest.skip(f"rezup 2.6 could not reach the index: {built.stderr[-300:]}")
    assert built.returncode == 0, built.stderr
    [revision] = box.ready_revisions()
    assert "session" not in json.loads((revision / "revision.json").read_text())

    local_only = {"REZUP_ROOT_REMOTE": ""}
    used = box.rezup(
        "use",
        "--",
        "sh",
        "-c",
        'echo "from-2x=$FROM_2X"; rez --version',
        env=local_only,
        check=True,
    )
    assert "from-2x=yes" in used.stdout and "Rez 3.4.0" in used.stdout
    assert "Pip-based" not in used.stderr
    status = json.loads(box.rezup("status", ".main", "--json", env=local_only, check=True).stdout)
    [row] = status["containers"][0]["revisions"]
    assert row["rez_version"] == "3.4.0" and row["python"]
    assert "3.4.0" in box.rezup("status", ".main", env=local_only, check=True).stdout

    # a remote revision rezup 2.6 published (a recipe, no plan) is pulled the 2.x way
    published = subprocess.run(
        [str(rezup26), "add", "--remote", "--skip-use"],
        env=old,
        capture_output=True,
        text=True,
        cwd=str(box.base),
        timeout=600,
    )
    assert published.returncode == 0, published.stderr
    [remote] = box.ready_revisions(remote=True)
    assert not (remote / "plan.lock").exists()
    pulled = box.rezup(
        "use", "--", "sh", "-c", 'echo "$FROM_2X $REZUP_USING_REMOTE"; rez --version', check=True
    )
    assert "yes yes" in pulled.stdout and "Rez 3.4.0" in pulled.stdout
    assert "published by rezup 2.x" in pulled.stderr
    assert (box.local_root / ".main" / "revisions" / remote.name / "revision.json").is_file()


def test_the_lean_use_path_loads_none_of_the_api(sandbox: Sandbox):
    sandbox.write_recipe(REZ_RECIPE)
    sandbox.rezup("add", "--skip-use", check=True)
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            "import sys; sys.argv = ['rezup', 'use', '--', 'true']; "
            "from rezup.entry import main; main()",
        ],
        env=sandbox.env,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    for api in (
        "rezup.container",
        "rezup.util",
        "rezup.util_env",
        "rezup.recipe",
        "rezup.exceptions",
        "rezup.stages.disk_state",
        "rezup.operations",
    ):
        assert api not in imported, api
