"""Unit tests for rezup.stages.standard_locks and ``rezup export``: the name rule, the
``[tool.rezup]`` table, a lock checked against the plan, copies, the pending locks of a build,
and export's errors. No network: the locks are written by hand as uv writes them; the only uv
run is one that fails at once (an interpreter that does not exist)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from rezup.cli import main
from rezup.ground import locations, paths
from rezup.ground.compat import tomllib
from rezup.ground.errors import BuildError
from rezup.stages import standard_locks
from rezup.stages.plan import Plan, VenvPlan
from tests.helpers import fake_revision, one_error_line

pytestmark = pytest.mark.usefixtures("restore_logger")

A, B, C = "a" * 64, "b" * 64, "c" * 64
PEP_751_NAME = re.compile(r"^pylock\.([^.]+)\.toml$")
NO_PYTHON = "/nonexistent/python3"  # uv fails at once: a lock not copied would show


def venv_plan(**changes) -> VenvPlan:
    venv = VenvPlan(
        "rez",
        NO_PYTHON,
        "",
        "3.11.7",
        (f"rez==3.4.0 --hash=sha256:{A} --hash=sha256:{B}", f"pip==24.0 --hash=sha256:{C}"),
    )
    return replace(venv, **changes)


def a_plan(*venvs: VenvPlan, container: str = ".main") -> Plan:
    return Plan(container=container, venvs=venvs or (venv_plan(),), pinned_seeds=True)


def entry(file: str, digest: str) -> str:
    """A file of a lock: ``{ url = ..., hashes = { sha256 = ... } }``."""
    url = f"https://files.example/{file}"
    when = "upload-time = 2024-02-03T09:53:18Z"  # a TOML datetime, as uv writes it
    return f'{{ url = "{url}", {when}, hashes = {{ sha256 = "{digest}" }} }}'


def uv_lock(*packages: tuple[str, str, list[str]], sdist: dict[str, str] | None = None) -> str:
    """A lock as ``uv pip compile --format pylock.toml`` writes it: (name, version, wheel
    hashes) a package; ``sdist`` gives a package its sdist's hash."""
    text = 'lock-version = "1.0"\ncreated-by = "uv"\nrequires-python = ">=3.11.7"\n'
    for name, version, digests in packages:
        text += f'\n[[packages]]\nname = "{name}"\nversion = "{version}"\n'
        if sdist and name in sdist:
            text += f"sdist = {entry(f'{name}-{version}.tar.gz', sdist[name])}\n"
        if digests:
            wheels = [entry(f"{name}-{version}-py3-none-any.whl", d) for d in digests]
            text += f"wheels = [{', '.join(wheels)}]\n"
    return text


GOOD = uv_lock(("pip", "24.0", [C]), ("rez", "3.4.0", [A]))


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("venv", "name"),
    [("rez", "pylock.rez.toml"), ("zope.interface", "pylock.zope-interface.toml")],
)
def test_the_lock_of_a_venv_is_named_as_the_standard_asks(venv, name):
    assert paths.pylock_filename(venv) == name
    assert PEP_751_NAME.match(name)
    assert locations.pylock_file("/r/1.5", venv) == Path("/r/1.5", name)


def test_two_venvs_of_one_lock_name_fail_before_anything_is_built():
    plan = a_plan(venv_plan(), venv_plan(name="a.b"), venv_plan(name="a-b"))
    with pytest.raises(BuildError, match=r"venvs 'a\.b' and 'a-b' would share .*pylock\.a-b\.toml"):
        standard_locks.lock_files(plan)
    with pytest.raises(BuildError, match="would share"):
        standard_locks.PendingLocks(plan)


# -- the [tool.rezup] table ----------------------------------------------------------------------


def test_the_table_follows_uv_s_lock_and_says_what_the_standard_cannot():
    import rezup

    plan = a_plan()
    text = standard_locks.lock_text(GOOD, standard_locks.tool_table(plan, plan.venvs[0], "1.5"))
    assert text.startswith(GOOD.rstrip("\n") + "\n\n[tool.rezup]\n")
    data = tomllib.loads(text)
    assert [p["name"] for p in data["packages"]] == ["pip", "rez"]
    assert data["tool"]["rezup"] == {
        "format": standard_locks.TOOL_FORMAT,
        "container": ".main",
        "revision": "1.5",
        "venv": "rez",
        "python": "3.11.7",
        "platform": standard_locks.platform_name(),
        "plan-digest": plan.digest,
        "inputs-digest": standard_locks.inputs_digest(plan.venvs[0], plan),
        "rezup-version": rezup.__version__,
    }
    body, table = standard_locks.split_lock(text)
    assert body == GOOD
    assert table == data["tool"]["rezup"]
    with pytest.raises(ValueError, match="no"):
        standard_locks.split_lock(GOOD)


def test_the_table_is_valid_toml_whatever_the_names_hold():
    plan = a_plan(container='odd"name\\\x7f')
    text = standard_locks.lock_text(GOOD, standard_locks.tool_table(plan, plan.venvs[0], "1.5"))
    assert tomllib.loads(text)["tool"]["rezup"]["container"] == 'odd"name\\\x7f'


def test_the_inputs_digest_changes_with_what_the_lock_is_made_from():
    plan = a_plan()
    digest = standard_locks.inputs_digest(plan.venvs[0], plan)
    assert digest.startswith("sha256:")
    # not the container, the interpreter's path or the venv's tools: the same lock
    other = replace(plan, container="show", venvs=(venv_plan(python="/elsewhere/python"),))
    assert standard_locks.inputs_digest(other.venvs[0], other) == digest
    for changed in (
        a_plan(venv_plan(requirements=("rez==3.4.0",))),
        a_plan(venv_plan(python_version="3.11.8")),
        a_plan(venv_plan(editables=("/src/tool",))),
        replace(plan, uv_options=("--index-url", "https://index.example/simple")),
        replace(plan, uv_env=(("UV_INDEX_URL", "https://index.example/simple"),)),
    ):
        assert standard_locks.inputs_digest(changed.venvs[0], changed) != digest


# -- a lock checked against the plan -------------------------------------------------------------


def test_a_lock_that_holds_the_pins_is_kept_as_uv_wrote_it():
    assert standard_locks.checked_body(GOOD, venv_plan()) == GOOD


def test_a_file_whose_hash_the_plan_does_not_allow_is_left_out():
    text = uv_lock(("pip", "24.0", [C, "d" * 64]), ("rez", "3.4.0", [A]), sdist={"rez": "e" * 64})
    checked = standard_locks.checked_body(text, venv_plan())
    data = tomllib.loads(checked)
    pip, rez = data["packages"]
    assert checked.startswith('lock-version = "1.0"\n')
    assert [w["hashes"]["sha256"] for w in pip["wheels"]] == [C]
    assert (
        pip["wheels"][0]["upload-time"]
        == tomllib.loads(text)["packages"][0]["wheels"][0]["upload-time"]
    )
    assert [w["hashes"]["sha256"] for w in rez["wheels"]] == [A]
    assert "sdist" not in rez


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            uv_lock(("pip", "24.0", [C]), ("rez", "3.3.0", [A])),
            "holds rez 3.3.0; the plan pins 3.4.0",
        ),
        (uv_lock(("pip", "24.0", [C])), "lacks rez"),
        (GOOD + '\n[[packages]]\nname = "six"\nversion = "1.0"\n', "holds six, which the plan"),
        (uv_lock(("pip", "24.0", [C]), ("rez", "3.4.0", ["d" * 64])), "no file the index lists"),
        ("lock-version = [", "not valid TOML"),
        ('lock-version = "1.0"\n', "no list of packages"),
        (GOOD + "\n[tool.rezup]\nformat = 1\n", r"has a \[tool.rezup\] table already"),
    ],
)
def test_a_lock_that_does_not_hold_the_pins_is_a_build_error(text, error):
    with pytest.raises(BuildError, match=error):
        standard_locks.checked_body(text, venv_plan())


def test_editables_and_direct_references_are_in_the_lock_unhashed():
    venv = venv_plan(
        requirements=(f"pip==24.0 --hash=sha256:{C}", "tiny @ file:///links/tiny-1.0.whl"),
        editables=("/src/hello_ext",),
    )
    text = uv_lock(("pip", "24.0", [C]))
    text += (
        '\n[[packages]]\nname = "hello-ext"\n'
        'directory = { path = "/src/hello_ext", editable = true }\n'
        '\n[[packages]]\nname = "tiny"\nversion = "1.0"\n'
        'archive = { path = "/links/tiny-1.0.whl" }\n'
    )
    assert standard_locks.checked_body(text, venv) == text
    assert standard_locks.compile_input(venv) == (
        "pip==24.0\ntiny @ file:///links/tiny-1.0.whl\n-e /src/hello_ext\n"
    )


# -- copies and the pending locks of a build -----------------------------------------------------


def written(plan: Plan, revision: str, body: str = GOOD) -> str:
    return standard_locks.lock_text(body, standard_locks.tool_table(plan, plan.venvs[0], revision))


def test_a_lock_of_the_same_inputs_is_copied_without_uv(tmp_path):
    donor_plan = a_plan(container="show")
    plan = a_plan()  # another container, the same venv: the same lock
    donor = tmp_path / "donor"
    donor.mkdir()
    standard_locks.write_locks(donor, donor_plan, "1.5", {"rez": GOOD})
    assert standard_locks.locks_of(donor, plan) == {"rez": written(donor_plan, "1.5")}
    assert standard_locks.locks_of(tmp_path / "none", plan) == {}

    pending = standard_locks.PendingLocks(plan, sources=[None, tmp_path / "none", donor])
    target = tmp_path / "new"
    target.mkdir()
    pending.write(target, "2.5")
    assert (target / "pylock.rez.toml").read_text() == written(plan, "2.5")
    # a folder named by a str; texts read elsewhere (a remote revision over HTTP)
    assert standard_locks.lock_bodies(plan, sources=[str(donor)]) == {"rez": GOOD}
    bodies = standard_locks.lock_bodies(plan, sources=[{"rez": written(donor_plan, "1.5")}])
    assert bodies == {"rez": GOOD}
    # read by a function (a remote revision served over HTTP: its text(name))
    read = {"pylock.rez.toml": written(donor_plan, "1.5")}.__getitem__
    assert standard_locks.lock_bodies(plan, sources=[read]) == {"rez": GOOD}
    # a place that is no folder here (a URL): nothing to copy, the lock is made (here by a
    # uv that finds no interpreter)
    with pytest.raises(BuildError, match="writing the standard lock"):
        standard_locks.lock_bodies(plan, sources=["https://farm.example/root/.main/revisions/1.5"])


def test_a_source_that_fails_to_read_is_not_copied_from(tmp_path):
    def failing(name: str) -> str:
        raise OSError(f"the server answered 500 for {name}")

    assert standard_locks.read_by(failing, a_plan()) == {}
    with pytest.raises(BuildError, match="writing the standard lock"):  # made: no python here
        standard_locks.lock_bodies(a_plan(), sources=[failing])


def test_a_lock_of_other_inputs_is_not_copied(tmp_path):
    plan = a_plan()
    newer = a_plan(
        venv_plan(requirements=(f"rez==3.4.0 --hash=sha256:{A}", f"pip==24.0 --hash=sha256:{C}"))
    )
    assert standard_locks.copied_body(written(plan, "1.5"), newer.venvs[0], newer) is None
    assert standard_locks.copied_body(GOOD, plan.venvs[0], plan) is None  # no table
    tampered = written(plan, "1.5").replace('version = "3.4.0"', 'version = "3.3.0"')
    assert standard_locks.copied_body(tampered, plan.venvs[0], plan) is None
    assert standard_locks.copied_body(written(plan, "1.5"), plan.venvs[0], plan) == GOOD


def test_a_lock_that_cannot_be_made_fails_the_build_when_it_is_written(tmp_path):
    """Nothing to copy and an interpreter uv cannot find: the error of uv's reaches the
    builder where the locks are written, before the revision could be made ready."""
    pending = standard_locks.PendingLocks(a_plan(), sources=[{"rez": GOOD}])  # no table: not copied
    with pytest.raises(BuildError, match="writing the standard lock of venv 'rez' failed"):
        pending.write(tmp_path, "1.5")
    assert not (tmp_path / "pylock.rez.toml").exists()


def test_a_publish_reuses_what_the_wheelhouse_had_uv_lock(tmp_path):
    plan = a_plan()
    venv = plan.venvs[0]
    standard_locks.write_published(
        tmp_path, plan, "1.5", {"rez": (standard_locks.compile_input(venv), GOOD)}
    )
    assert (tmp_path / "pylock.rez.toml").read_text() == written(plan, "1.5")
    # asked for something else (the seeds of an earlier plan): locked anew, here by a uv that
    # finds no interpreter
    with pytest.raises(BuildError, match="writing the standard lock"):
        standard_locks.write_published(tmp_path, plan, "1.5", {"rez": ("pip\n", GOOD)})


def test_the_requirements_export_installs_with_require_hashes():
    plan = a_plan(venv_plan(editables=("/src/tool",)))
    text = standard_locks.requirements_export(plan, plan.venvs[0], "1.5")
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert body == [
        "rez==3.4.0 \\",
        f"    --hash=sha256:{A} \\",
        f"    --hash=sha256:{B}",
        "pip==24.0 \\",
        f"    --hash=sha256:{C}",
        "-e /src/tool",
    ]
    assert "revision 1.5 of .main" in text


# -- rezup export: what it prints, its errors ----------------------------------------------------


def lock_revision(local: Path, name: str, stamp: str, *, lock: bool = True) -> Path:
    path = fake_revision(local, name, stamp, plan_pins=(f"rez==3.4.0 --hash=sha256:{A}",))
    plan = Plan.read(path / "plan.lock")
    if lock:
        body = uv_lock(("rez", "3.4.0", [A]))
        standard_locks.write_locks(path, plan, stamp, {"rez": body})
    return path


def export(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(["export", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_export_prints_the_lock_of_the_revision_use_enters(local, capsys):
    lock_revision(local, ".main", "1700000000.5")
    newest = lock_revision(local, ".main", "1700000100.5")
    code, out, err = export([], capsys)
    assert code == 0, err
    assert out == (newest / "pylock.rez.toml").read_text()
    code, out, _ = export([".main", "1700000000.5", "--venv", "rez"], capsys)
    assert tomllib.loads(out)["tool"]["rezup"]["revision"] == "1700000000.5"
    code, out, _ = export(["--format", "requirements"], capsys)
    assert code == 0
    assert f"rez==3.4.0 \\\n    --hash=sha256:{A}\n" in out


@pytest.mark.parametrize(
    ("argv", "status", "error"),
    [
        (["nope"], 1, "no ready revision of container 'nope'"),
        ([".main", "1600000000.5"], 1, "no revision 1600000000.5 of container '.main'"),
        (["--venv", "bar"], 1, "has no venv 'bar' (its venvs: 'rez')"),
        (["old"], 1, "has no plan.lock (made by rezup 2.x)"),
        ([".main", "1700000200.5"], 1, "is incomplete, not ready"),
        (["--format", "json"], 2, "'json' is not one of 'pylock', 'requirements'"),
        (["bad/name"], 2, "invalid container name"),
    ],
)
def test_export_errors_are_one_line(local, capsys, argv, status, error):
    lock_revision(local, ".main", "1700000000.5")
    fake_revision(local, ".main", "1700000200.5", ready=False)
    fake_revision(local, "old", "1619780350.588625")  # rezup 2.x: no plan
    code, out, err = export(argv, capsys)
    assert (code, out) == (status, "")
    assert error in one_error_line(err)
