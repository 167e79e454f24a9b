"""Unit tests for the rezup 2.x Python API on revisions written by hand (no venv is built):
the public names, recipes as dicts, RECIPES_DIR, Container/Revision, util and util_env, and
revisions made by rezup 2.x used as they are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import rezup
from rezup import ContainerRecipe, util
from rezup.container import Container, Revision, get_container_root
from rezup.ground import root_settings
from rezup.ground.errors import ContainerError
from tests.helpers import fake_revision


def make_revision(
    root: Path,
    name: str,
    stamp: str,
    *,
    env: dict | None = None,
    ready: bool = True,
    rezup2: bool = False,
    pulled_from: str = "",
) -> Path:
    """A revision folder: as this rezup writes it, or (``rezup2``) as rezup 2.x did, with a
    merged recipe, no session in revision.json and the version only in the marker."""
    env = env or {}
    recipe = "".join(f'{key} = "{value}"\n' for key, value in env.items())
    metadata: dict = {"revision_path": str(root / name / "revisions" / stamp)}
    if rezup2:
        metadata["rezup_version"] = "2.6.0"
    else:
        metadata.update({"rez_version": "3.4.0", "python": "3.11.7"})
    if pulled_from:
        metadata["pulled_from"] = pulled_from
    return fake_revision(
        root,
        name,
        stamp,
        ready=ready,
        env=env,
        production=True,
        session=not rezup2,
        recipe=(
            'description = "x"\nschema = "rezup-recipe:2.0"\n[[extension]]\n\n' if rezup2 else ""
        )
        + f"[env]\n{recipe}",
        **metadata,
    )


@pytest.fixture
def local(home, tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("REZUP_ROOT_REMOTE")
    return tmp_path / "local"


@pytest.fixture(autouse=True)
def _recipes_dir_restored():
    saved = root_settings._recipe_dir_override
    yield
    root_settings._recipe_dir_override = saved


# --------------------------------------------------------------------------------------------
# The public names


def test_the_public_names_of_rezup_2():
    import rezup.exceptions
    import rezup.recipe
    import rezup.util_env

    for name in (
        "Container",
        "Revision",
        "ContainerRecipe",
        "ContainerError",
        "iter_containers",
        "get_rezup_version",
        "__version__",
    ):
        assert name in rezup.__all__ and getattr(rezup, name) is not None
    assert rezup.exceptions.ContainerError is rezup.ContainerError is ContainerError
    assert issubclass(ContainerError, Exception)
    for name in ("BaseRecipe", "ContainerRecipe", "RevisionRecipe", "deep_update"):
        assert callable(getattr(rezup.recipe, name))
    for name in ("get_revision", "resolve_environ", "locate_rez_lib"):
        assert callable(getattr(util, name))
    version = rezup.get_rezup_version()
    assert version.startswith(f"rezup {rezup.__version__} from {Path(rezup.__file__).parent}")
    assert f"(python {sys.version_info[0]}.{sys.version_info[1]})" in version


def test_python_dash_m_rezup_is_rezup(home):
    done = subprocess.run(
        [sys.executable, "-m", "rezup", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"rezup {rezup.__version__}"


# --------------------------------------------------------------------------------------------
# Recipes


def test_recipes_dir_is_honoured_everywhere(local, tmp_path):
    other = tmp_path / "recipes"
    other.mkdir()
    (other / "rezup.dev.toml").write_text(f'[root]\nlocal = "{tmp_path / "elsewhere"}"\n')
    assert ContainerRecipe("dev").path() == Path.home() / "rezup.dev.toml"
    with ContainerRecipe.provisional_recipes(other):
        assert other == ContainerRecipe.RECIPES_DIR
        assert ContainerRecipe("dev").path() == other / "rezup.dev.toml"
        assert Container("dev").root() == tmp_path / "elsewhere"  # the recipe's [root]
        assert [r.name() for r in ContainerRecipe.iter_recipes()] == ["dev"]
    assert Path.home() == ContainerRecipe.RECIPES_DIR
    assert Container("dev").root() == local
    ContainerRecipe.RECIPES_DIR = other  # assigning it works too (2.x scripts do)
    assert Container("dev").root() == tmp_path / "elsewhere"
    assert other == ContainerRecipe("dev").RECIPES_DIR


def test_recipes_are_dicts_and_create_writes_them(local, tmp_path):
    with ContainerRecipe.provisional_recipes(tmp_path / "recipes"):
        recipe = ContainerRecipe("foo")
        assert not recipe.is_file()
        assert recipe["rez"]["name"] == "rez" and "description" in recipe  # the default
        path = recipe.create({"description": "apple", "env": {"FRUIT": "apple"}})
        assert path == tmp_path / "recipes" / "rezup.foo.toml" and path.is_file()
        again = ContainerRecipe("foo")
        assert again["description"] == "apple" and again["env"] == {"FRUIT": "apple"}
        assert again["rez"]["name"] == "rez", "merged over the default"
        assert again.load().env == (("FRUIT", "apple"),)  # and valid for the builder
        data = again.data()
        data["description"] = "changed"
        assert again["description"] == "apple", "data() is a copy"
        again["description"] = "in memory"
        assert again["description"] == "in memory" and len(again) == len(data)
        assert ContainerRecipe("foo")["description"] == "apple", "only that object changed"
        recipe.create()  # without data: never replaces a recipe with the default
        assert ContainerRecipe("foo")["description"] == "apple"


def test_deep_update_merges_tables_in_place():
    from rezup.recipe import deep_update

    base = {"rez": {"name": "rez", "url": "rez"}, "extension": [{}], "env": {}}
    assert (
        deep_update(
            base, {"rez": {"url": "rez==3.4.0"}, "extension": [{"name": "x"}], "env": {"A": "1"}}
        )
        is None
    )
    assert base == {
        "rez": {"name": "rez", "url": "rez==3.4.0"},
        "extension": [{"name": "x"}],
        "env": {"A": "1"},
    }


# --------------------------------------------------------------------------------------------
# Container and Revision


def test_container_create_writes_the_recipe_and_no_folder(local, tmp_path):
    with ContainerRecipe.provisional_recipes(tmp_path / "recipes"):
        container = Container.create("foo")
        assert (tmp_path / "recipes" / "rezup.foo.toml").is_file()
        assert not container.is_exists() and container.is_empty()
        assert container.path() == local / "foo" and not container.is_remote()
        assert container.revisions() == local / "foo" / "revisions"
        assert container.libs() == local / "foo" / "libs"
        assert get_container_root(container.recipe()) == local
        assert get_container_root(container.recipe(), remote=True) is None


def test_revisions_of_a_container(local):
    container = Container("dev")
    make_revision(local, "dev", "100.0", env={"A": "old"})
    make_revision(local, "dev", "200.0", env={"A": "new"})
    make_revision(local, "dev", "300.0", ready=False)
    assert [r.dirname() for r in container.iter_revision()] == ["300.0", "200.0", "100.0"]
    assert [r.dirname() for r in container.iter_revision(latest_first=False)] == [
        "100.0",
        "200.0",
        "300.0",
    ]
    latest = container.get_latest_revision()
    assert latest.dirname() == "200.0" and isinstance(latest, Revision)
    assert container.get_latest_revision(only_ready=False).dirname() == "300.0"
    assert [r.dirname() for r in latest.iter_backward()] == ["100.0"]
    assert [r.dirname() for r in latest.iter_forward()] == ["300.0"]
    assert latest.recipe()["env"] == {"A": "new"}
    assert latest.metadata()["venvs"] == ["rez"]
    building = Revision(container, "300.0")
    assert building.is_valid() and building.validate() and not building.is_ready()
    assert building.metadata() is None and building.production_bin_dirs() == []
    assert Revision.compose_path(container, "1.5") == container.revisions() / "1.5"
    assert float(Revision(container).dirname()) > 1e9, "a new revision is named by the time"


def test_recipe_env_is_what_the_revision_adds(local, tmp_path, monkeypatch):
    dotenv = tmp_path / "site.env"
    dotenv.write_text("FROM_DOTENV=dot\n")
    path = make_revision(local, "dev", "100.0", env={"STUDIO": "${HOME}/studio"})
    metadata = json.loads((path / "revision.json").read_text())
    metadata["session"]["dotenv"] = [str(dotenv)]
    (path / "revision.json").write_text(json.dumps(metadata))
    env = Container("dev").get_latest_revision().recipe_env()
    assert env == {
        "FROM_DOTENV": "dot",
        "STUDIO": f"{os.environ['HOME']}/studio",
        "REZUP_CONTAINER": "dev",
        "REZUP_USING_REMOTE": "",
        "REZUP_REVISION": "100.0",
    }
    assert "PATH" not in env


def test_purge_never_removes_what_is_in_use(local):
    from rezup.runtime import session

    kept = make_revision(local, "dev", "100.0")
    make_revision(local, "dev", "200.0")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from rezup.runtime import session; "
            "session.claim(sys.argv[1]); print('claimed', flush=True); time.sleep(60)",
            str(kept),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "claimed"
        Container("dev").purge()
        assert kept.is_dir() and not (local / "dev" / "revisions" / "200.0").exists()
        with pytest.raises(ContainerError):
            session.claim(str(kept))  # hidden: nobody new enters it
    finally:
        holder.kill()
        holder.communicate()  # waits, and closes its stdout
        holder.stdout.close()
    Container("dev").purge()
    assert not (local / "dev").exists()


# --------------------------------------------------------------------------------------------
# util.get_revision


def test_get_revision_of_a_local_container(local):
    with pytest.raises(ContainerError, match=r"no ready revision in container '\.main'"):
        util.get_revision()
    make_revision(local, ".main", "100.0")
    make_revision(local, ".main", "200.0", ready=False)
    assert util.get_revision().dirname() == "100.0"
    with pytest.raises(ContainerError, match="'nosuch'"):
        util.get_revision("nosuch")


def test_get_revision_of_a_remote_container(home, tmp_path, caplog):
    local, remote = tmp_path / "local", tmp_path / "remote"
    make_revision(remote, "dev", "100.0")
    make_revision(remote, "dev", "200.0")
    make_revision(local, "dev", "100.0", pulled_from=str(remote / "dev/revisions/100.0"))
    # the newest remote revision is not pulled here: fall back to the one before, and say so
    revision = util.get_revision("dev")
    assert revision.dirname() == "100.0" and not revision.is_remote()
    assert "not pulled here; using 100.0" in caplog.text
    assert revision.recipe_env()["REZUP_USING_REMOTE"] == "yes"
    with pytest.raises(ContainerError, match="not pulled here"):
        util.get_revision("dev", fallback=False)
    make_revision(local, "dev", "200.0")  # now it is
    assert util.get_revision("dev", fallback=False).dirname() == "200.0"


# --------------------------------------------------------------------------------------------
# util_env


def test_util_env_applies_a_containers_environment(local, tmp_path):
    make_revision(local, ".main", "100.0", env={"FROM_MAIN": "main"})
    make_revision(local, "dev", "100.0", env={"FROM_DEV": "dev"})
    (Path.home() / "rezup.toml").write_text("")
    (Path.home() / "rezup.dev.toml").write_text("")
    code = (
        "import os\n"
        "from rezup.util_env import dot_main\n"
        "from rezup import util_env\n"
        "print(os.environ['FROM_MAIN'], dot_main['REZUP_CONTAINER'], sorted(dir(util_env)))\n"
        "util_env.dev\n"
        "print(os.environ['FROM_DEV'], os.environ['REZUP_CONTAINER'])\n"
        "try:\n    util_env.nosuch\nexcept Exception as exc:\n"
        "    print(type(exc).__name__)\n"
        "print(hasattr(util_env, '__wrapped__'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "main .main ['dev', 'dot_main']",
        "dev dev",
        "ContainerError",
        "False",
    ]


# --------------------------------------------------------------------------------------------
# Roots made by rezup 2.x


def test_a_rezup_2_revision_is_used_as_it_was(local, capfd, tmp_path):
    path = make_revision(local, "old", "1619780350.588625", env={"FROM_2X": "yes"}, rezup2=True)
    from rezup.cli import main

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rezup",
            "use",
            "old",
            "--",
            "sh",
            "-c",
            'echo "$FROM_2X $REZUP_CONTAINER $PATH"',
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    value, container, path_var = done.stdout.split(" ", 2)
    assert (value, container) == ("yes", "old")
    assert path_var.split(os.pathsep)[0] == str(path / "venv" / "rez" / "bin" / "rez")
    revision = Container("old").get_latest_revision()
    assert revision.get_rez_version() == "3.4.0"
    assert revision.python_version() == "3.11.7.final.0"
    assert revision.recipe_env()["FROM_2X"] == "yes"
    capfd.readouterr()
    assert main(["status", "old", "--json"]) == 0
    [row] = json.loads(capfd.readouterr().out)["containers"][0]["revisions"]
    assert row["rez_version"] == "3.4.0" and row["python"].startswith("3.11.7")
