"""End to end: the standard lock (PEP 751 ``pylock.<venv>.toml``) of real revisions, built,
cloned, published and pulled with real uv and rez 3.4.0 from the index; what ``rezup export``
prints installed by uv into fresh venvs, its hashes checked."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from rezup.ground.compat import tomllib
from rezup.stages.plan import Plan, pinned
from rezup.tools.uv_process import find_uv
from tests.helpers import REZ_RECIPE, Sandbox, make_wheel, offline_env, rez_recipe

COPIED = "copied the standard lock of venv 'rez'"
MADE_NOW = "making it now; it is not saved"


def uv(box: Sandbox, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [find_uv(), *args], env=box.env, capture_output=True, text=True, timeout=300
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def fresh_venv(box: Sandbox, folder: Path, python: str) -> Path:
    """A new venv of the interpreter ``python``, with nothing in it (no pip either)."""
    uv(box, "venv", "--quiet", "--no-project", "--python", python, str(folder))
    return folder / "bin" / "python"


def freeze(box: Sandbox, python: Path) -> list[str]:
    return uv(box, "pip", "freeze", "--python", str(python)).stdout.splitlines()


def pins_of(plan: Plan) -> dict[str, tuple[str, set[str]]]:
    """``{package: (version, allowed sha256 digests)}`` of the rez venv's plan."""
    found = {}
    for line in plan.venvs[0].requirements:
        pin = pinned(line)
        assert pin is not None, line
        digests = {word.split(":", 1)[1] for word in line.split() if word.startswith("--hash=")}
        found[pin[0]] = (pin[1], digests)
    return found


def check_lock(revision: Path, container: str = ".main") -> dict:
    """The revision's ``pylock.rez.toml``, parsed, once checked against its ``plan.lock``:
    exactly its pins, and only files whose hash the plan allows."""
    lock = tomllib.loads((revision / "pylock.rez.toml").read_text(encoding="utf-8"))
    plan = Plan.read(revision / "plan.lock")
    pins = pins_of(plan)
    assert lock["lock-version"] == "1.0"
    assert {p["name"]: p["version"] for p in lock["packages"]} == {
        name: version for name, (version, _) in pins.items()
    }
    for package in lock["packages"]:
        files = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
        assert files, package
        assert {f["hashes"]["sha256"] for f in files} <= pins[package["name"]][1], package
    table = lock["tool"]["rezup"]
    assert (table["container"], table["revision"], table["venv"]) == (
        container,
        revision.name,
        "rez",
    )
    assert table["plan-digest"] == plan.digest
    assert table["python"] == plan.venvs[0].python_version
    return lock


def without_revision(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("revision = "))


def test_the_exported_lock_installs_the_exact_pins_of_the_revision(sandbox: Sandbox, tmp_path):
    box = sandbox
    box.write_recipe(REZ_RECIPE)
    box.rezup("add", "--skip-use", check=True)
    [revision] = box.ready_revisions()
    check_lock(revision)
    plan = Plan.read(revision / "plan.lock")

    exported = tmp_path / "exported" / "pylock.rez.toml"  # uv knows a lock by its name
    exported.parent.mkdir()
    result = box.rezup("export", check=True)
    assert result.stdout == (revision / "pylock.rez.toml").read_text(encoding="utf-8")
    exported.write_text(result.stdout, encoding="utf-8")

    # the same interpreter, a fresh venv, the lock: the revision's packages, no more, no less
    # (the revision's venv holds its pins only: uv venv seeds nothing, rezup installs the plan)
    revision_freeze = freeze(box, revision / "venv" / "rez" / "bin" / "python")
    assert "rez==3.4.0" in revision_freeze
    python = fresh_venv(box, tmp_path / "from-lock", plan.venvs[0].python)
    uv(box, "pip", "install", "--preview-features", "pylock", "--python", str(python),
       "-r", str(exported))  # fmt: skip
    assert freeze(box, python) == revision_freeze

    # hashes are checked: one digest changed, and the install fails
    lock = tomllib.loads(result.stdout)
    rez = next(p for p in lock["packages"] if p["name"] == "rez")
    digest = rez["wheels"][0]["hashes"]["sha256"]
    forged = "0" * 64 if digest != "0" * 64 else "1" * 64
    tampered = tmp_path / "tampered" / "pylock.rez.toml"
    tampered.parent.mkdir()
    tampered.write_text(result.stdout.replace(digest, forged), encoding="utf-8")
    python = fresh_venv(box, tmp_path / "from-tampered", plan.venvs[0].python)
    failed = uv(box, "pip", "install", "--preview-features", "pylock", "--python", str(python),
                "-r", str(tampered), check=False)  # fmt: skip
    assert failed.returncode != 0
    assert "hash mismatch" in failed.stderr.lower(), failed.stderr
    assert freeze(box, python) == []

    # the requirements export installs the same, every hash required
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        box.rezup("export", ".main", revision.name, "--format", "requirements", check=True).stdout,
        encoding="utf-8",
    )
    python = fresh_venv(box, tmp_path / "from-requirements", plan.venvs[0].python)
    uv(box, "pip", "install", "--require-hashes", "--python", str(python), "-r", str(requirements))
    assert freeze(box, python) == revision_freeze

    # a clone of the revision copies its lock: the same bytes, but for its own name
    result = box.rezup("-vv", "add", "--skip-use", check=True)
    first, second = box.ready_revisions()
    assert f"cloned from revision {first.name}" in result.stderr
    assert COPIED in result.stderr
    assert without_revision((second / "pylock.rez.toml").read_text()) == without_revision(
        (first / "pylock.rez.toml").read_text()
    )
    check_lock(second)

    # a donor made before rezup wrote standard locks: the clone makes its own
    saved = (second / "pylock.rez.toml").read_text()
    for donor in (first, second):
        (donor / "pylock.rez.toml").unlink()
    result = box.rezup("-vv", "add", "--skip-use", check=True)
    third = box.ready_revisions()[-1]
    assert "cloned from revision" in result.stderr
    assert COPIED not in result.stderr
    check_lock(third)

    # and export makes the lock such a revision lacks (the same file), saving nothing
    result = box.rezup("export", ".main", second.name, check=True)
    assert MADE_NOW in result.stderr
    assert result.stdout == saved
    assert not (second / "pylock.rez.toml").exists()


def test_a_pull_copies_the_remote_lock_or_makes_it(remote_sandbox: Sandbox, tmp_path):
    box = remote_sandbox
    box.write_recipe(REZ_RECIPE)
    box.rezup("add", "--remote", "--skip-use", check=True)
    [published] = box.ready_revisions(remote=True)
    check_lock(published)

    result = box.rezup("-vv", "use", "--", "true", check=True)
    [pulled] = box.ready_revisions()
    assert pulled.name == published.name
    assert COPIED in result.stderr
    assert (pulled / "pylock.rez.toml").read_bytes() == (published / "pylock.rez.toml").read_bytes()

    # a remote revision published before rezup wrote standard locks: the pull makes it (here
    # on a node with no revision to copy it from either)
    (published / "pylock.rez.toml").unlink()
    other_node = {"REZUP_ROOT_LOCAL": str(tmp_path / "other-node")}
    result = box.rezup("-vv", "use", "--", "true", env=other_node, check=True)
    assert COPIED not in result.stderr
    elsewhere = tmp_path / "other-node" / ".main" / "revisions" / published.name
    assert (elsewhere / "pylock.rez.toml").read_bytes() == (pulled / "pylock.rez.toml").read_bytes()

    # export of a remote revision that lacks it: made now, from the remote's plan
    result = box.rezup("export", ".main", published.name, env=other_node | {
        "REZUP_ROOT_LOCAL": str(tmp_path / "third-node")}, check=True)  # fmt: skip
    assert MADE_NOW in result.stderr
    assert result.stdout == (pulled / "pylock.rez.toml").read_text()


def test_a_wheelhouse_pull_with_no_index_locks_against_the_wheelhouse(
    remote_sandbox: Sandbox, tmp_path
):
    box = remote_sandbox
    links = tmp_path / "links"
    make_wheel(links, "tinypkg", "1.0")
    box.write_recipe(
        rez_recipe(f'lib = ["tinypkg"]\n\n[pip]\noptions = ["--find-links", "{links}"]\n')
    )
    box.rezup("add", "--remote", "--wheels", "--skip-use", check=True)
    [published] = box.ready_revisions(remote=True)
    lock = check_lock(published)
    tinypkg = next(p for p in lock["packages"] if p["name"] == "tinypkg")
    assert tinypkg["wheels"][0]["url"] == (links / "tinypkg-1.0-py3-none-any.whl").as_uri()

    # published by an earlier rezup (no lock), no index, no find-links, an empty uv cache
    (published / "pylock.rez.toml").unlink()
    shutil.rmtree(links)
    result = box.rezup("use", "--", "true", env=offline_env(tmp_path), timeout=300)
    assert result.returncode == 0, result.stderr
    [pulled] = box.ready_revisions()
    lock = check_lock(pulled)
    wheels = published / "wheels"
    for package in lock["packages"]:
        assert package["wheels"][0]["url"].startswith(wheels.as_uri() + "/"), package
