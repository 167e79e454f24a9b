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
from pathlib import Path

import pytest

from rezup.ground import mark_ready, paths, revision_json
from rezup.stages.clone import clone_venvs
from rezup.stages.clone_donors import claimed, identical_revision
from rezup.stages.path_rewrite import CloneError
from rezup.stages.plan import Plan, ScriptTool, VenvPlan
from rezup.tools.pythons import default_python
from tests.helpers import files_naming, find_pyenv_python, site_of

# -- the clone, on small real venvs --------------------------------------------------------------


def make_venv(path: Path, python: str = "") -> Path:
    """A real venv made by uv (unseeded: nothing is asked of any index)."""
    subprocess.run(
        [
            "uv",
            "venv",
            "--no-project",
            "--quiet",
            "--no-python-downloads",
            "--python",
            python or default_python(),
            str(path),
        ],
        check=True,
    )
    return path


@pytest.fixture
def source(tmp_path) -> Path:
    """A revision folder with one real venv 'ext' (no rez: an isolated extension's venv)."""
    revision = tmp_path / "revisions" / "1700000000.000001"
    make_venv(revision / "venv" / "ext")
    return revision


def target_of(source: Path, name: str = "1700000001.000001") -> Path:
    target = source.parent / name
    target.mkdir()
    return target


def test_files_are_linked_and_paths_rewritten(source: Path):
    venv = source / "venv" / "ext"
    site = site_of(venv)
    (site / "plain.py").write_text("VALUE = 1\n")
    (site / "names.py").write_text(f"HOME = {str(venv)!r}\n")
    (site / "empty.txt").write_text("")
    (site / "tool.pth").write_text(f"{site / 'extra'}\n")
    (site / "extra").mkdir()
    for module in ("plain", "names"):
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "py_compile", str(site / f"{module}.py")],
            check=True,
        )
    script = venv / "bin" / "tool"
    script.write_text(f"#!{venv / 'bin' / 'python'}\nprint('tool')\n")
    script.chmod(0o750)

    target = target_of(source)
    clone_venvs(source, target, ["ext"])
    new_venv = target / "venv" / "ext"
    new_site = site_of(new_venv)
    tag = f"cpython-{sys.version_info[0]}{sys.version_info[1]}"
    assert os.path.samefile(new_site / "plain.py", site / "plain.py")
    assert os.path.samefile(
        new_site / "__pycache__" / f"plain.{tag}.pyc", site / "__pycache__" / f"plain.{tag}.pyc"
    )
    assert (new_site / "names.py").read_text() == f"HOME = {str(new_venv)!r}\n"
    assert not (new_site / "__pycache__" / f"names.{tag}.pyc").exists(), (
        "bytecode compiled from the old text is left out"
    )
    assert (new_site / "tool.pth").read_text() == f"{new_site / 'extra'}\n"
    assert (new_site / "empty.txt").stat().st_ino != (site / "empty.txt").stat().st_ino
    assert (new_venv / "bin" / "tool").read_text().startswith(f"#!{new_venv / 'bin' / 'python'}\n")
    assert (new_venv / "bin" / "tool").stat().st_mode & 0o777 == 0o750
    assert "VIRTUAL_ENV" in (new_venv / "bin" / "activate").read_text()
    assert files_naming(target, source) == []

    shutil.rmtree(source)
    result = subprocess.run(
        [str(new_venv / "bin" / "tool")], capture_output=True, text=True, check=True
    )
    assert result.stdout == "tool\n"
    result = subprocess.run(
        [
            str(new_venv / "bin" / "python"),
            "-c",
            "import sys, names; print(sys.prefix); print(names.HOME)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == [str(new_venv), str(new_venv)]


def test_a_file_with_too_many_links_is_copied(source: Path, tmp_path: Path):
    """link(2) fails with EMLINK at the filesystem's limit (65,000 on ext4): the file is
    copied, with its mode and times (so bytecode compiled from it stays valid)."""
    import errno

    module = site_of(source / "venv" / "ext") / "popular.py"
    module.write_text("VALUE = 1\n")
    module.chmod(0o640)
    links = tmp_path / "links"
    links.mkdir()
    for count in range(70_000):
        try:
            os.link(module, links / str(count))
        except OSError as exc:
            if exc.errno != errno.EMLINK:
                raise
            break
    else:
        pytest.skip("this filesystem allows more hard links than the test makes")
    target = target_of(source)
    try:
        clone_venvs(source, target, ["ext"])
    finally:
        shutil.rmtree(links)
    copy = site_of(target / "venv" / "ext") / "popular.py"
    assert copy.read_text() == "VALUE = 1\n"
    assert copy.stat().st_ino != module.stat().st_ino
    assert copy.stat().st_mode == module.stat().st_mode
    assert copy.stat().st_mtime_ns == module.stat().st_mtime_ns


def test_symlinks_into_the_source_are_repointed(source: Path):
    venv = source / "venv" / "ext"
    site = site_of(venv)
    (site / "data").mkdir()
    (site / "data" / "file.txt").write_text("data\n")
    (venv / "absolute").symlink_to(site / "data")
    (venv / "relative").symlink_to(os.path.relpath(site / "data" / "file.txt", venv))
    (venv / "outside").symlink_to("/usr")

    target = target_of(source)
    clone_venvs(source, target, ["ext"])
    new_venv = target / "venv" / "ext"
    assert os.readlink(new_venv / "absolute") == str(site_of(new_venv) / "data")
    assert os.readlink(new_venv / "relative") == os.readlink(venv / "relative")
    assert os.readlink(new_venv / "outside") == "/usr"
    assert os.readlink(new_venv / "bin" / "python") == os.readlink(venv / "bin" / "python")
    shutil.rmtree(source)
    assert (new_venv / "absolute" / "file.txt").read_text() == "data\n"
    assert (new_venv / "relative").read_text() == "data\n"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("binary", "binary file that names"),
        ("lookalike", "names a path that begins like"),
        ("escaping link", "points outside its revision"),
        ("long shebang", "#! line too long"),
    ],
)
def test_doubts_raise_and_leave_nothing(source: Path, case: str, message: str):
    venv = source / "venv" / "ext"
    target_name = "1700000001.000001"
    if case == "binary":
        (venv / "lib" / "native.so").write_bytes(b"\x7fELF\0\0" + str(venv).encode() + b"\0")
    elif case == "lookalike":  # another revision whose name begins like the source's
        (venv / "notes.txt").write_text(f"see {source}9/venv\n")
    elif case == "escaping link":
        (venv / "up").symlink_to("../../../elsewhere")
    else:  # a #! line exactly at the kernel's limit, which the longer new path outgrows
        target_name += "00000"
        line = f"#!{venv / 'bin' / 'python'} -"
        line += "x" * (127 - len(line))
        assert len(line) == 127, "the test folder's path is too long for this case"
        (venv / "bin" / "tool").write_text(line + "\nprint('tool')\n")
    target = target_of(source, target_name)
    with pytest.raises(CloneError, match=message):
        clone_venvs(source, target, ["ext"])
    assert list(target.iterdir()) == [], "the venvs made are removed again"
    assert venv.is_dir()


def test_a_missing_venv_or_an_existing_target_is_a_clone_error(source: Path):
    target = target_of(source)
    with pytest.raises(CloneError, match="no venv 'rez'"):
        clone_venvs(source, target, ["ext", "rez"])
    assert not (target / "venv").exists()
    make_venv(target / "venv" / "ext")
    with pytest.raises(CloneError, match="exists already"):
        clone_venvs(source, target, ["ext"])
    assert (target / "venv" / "ext" / "pyvenv.cfg").is_file(), "what was there is left alone"


def test_the_check_refuses_a_rez_venv_without_rez(tmp_path: Path):
    revision = tmp_path / "revisions" / "1700000000.000001"
    make_venv(revision / "venv" / "rez")
    target = target_of(revision)
    with pytest.raises(CloneError, match="rez does not import"):
        clone_venvs(revision, target, ["rez"])
    assert not (target / "venv").exists()


def test_paths_with_characters_files_may_escape_are_refused(tmp_path: Path):
    revision = tmp_path / "my revisions" / "1700000000.000001"
    make_venv(revision / "venv" / "ext")
    with pytest.raises(CloneError, match="characters"):
        clone_venvs(revision, target_of(revision), ["ext"])


# -- choosing the donor --------------------------------------------------------------------------


def make_plan(python: str, *, editable: bool = False, version: str = "") -> Plan:
    version = version or ".".join(map(str, sys.version_info[:3]))
    venv = VenvPlan(
        name="rez",
        python=python,
        python_request="",
        python_version=version,
        requirements=("rez==3.4.0 --hash=sha256:" + "0" * 64,),
        editables=("/src/rez",) if editable else (),
        tools=(ScriptTool("rez", ("-E",), editable),),
    )
    return Plan(container=".main", venvs=(venv,))


def make_revision(
    revisions: Path, name: str, plan: Plan, *, ready: bool = True, python: str = ""
) -> Path:
    """A revision folder as a build leaves it: plan, venv, claim file, revision.json."""
    revision = revisions / name
    revision.mkdir(parents=True)
    (revision / paths.RECIPE_FILENAME).write_text("")
    plan.write(revision / paths.PLAN_FILENAME)
    make_venv(revision / "venv" / "rez", python or plan.venvs[0].python)
    Path(paths.claim_file(str(revision))).touch()
    if ready:
        mark_ready.write_metadata(
            str(revision),
            revision_json.make_metadata(
                str(revision),
                plan_digest=plan.digest,
                venvs=["rez"],
                python=plan.venvs[0].python_version,
                rez_version="3.4.0",
                session={},
            ),
        )
    return revision


def test_identical_revision_is_the_newest_ready_one_of_the_same_plan(tmp_path: Path):
    revisions = tmp_path / ".main" / "revisions"
    plan = make_plan(default_python())
    other = make_plan(
        default_python(),
        version="3.11.0"
        if sys.version_info[:2] == (3, 11)
        else f"{sys.version_info[0]}.{sys.version_info[1]}.0",
    )
    make_revision(revisions, "1700000001.000001", plan)
    donor = make_revision(revisions, "1700000002.000001", plan)
    make_revision(revisions, "1700000003.000001", other)  # another plan
    make_revision(revisions, "1700000004.000001", plan, ready=False)  # being built
    retired = make_revision(revisions, "1700000005.000001", plan)
    os.replace(retired / paths.METADATA_FILENAME, retired / paths.RETIRED_METADATA_FILENAME)
    broken = make_revision(revisions, "1700000006.000001", plan)
    (broken / paths.METADATA_FILENAME).write_text("{")
    lying = make_revision(revisions, "1700000007.000001", plan)  # plan.lock not the digest's
    other.write(lying / paths.PLAN_FILENAME)
    target = revisions / "1700000008.000001"

    assert identical_revision(revisions, plan.digest, plan=plan, target=target) == donor
    # only the `limit` newest ready revisions are looked at (7, 6 and 3 before the donor)
    assert identical_revision(revisions, plan.digest, plan=plan, limit=3) is None
    assert identical_revision(revisions, plan.digest, plan=plan, limit=4) == donor
    assert identical_revision(revisions, plan.digest, target=target) == donor  # plan.lock read
    assert identical_revision(revisions, "sha256:" + "1" * 64, plan=plan) is None
    assert (
        identical_revision(revisions, plan.digest, plan=plan, target=donor)
        == revisions / "1700000001.000001"
    ), "the target is never its own donor"

    (revisions.parent / paths.DROPPED_MARKER).write_text("dropped\n")
    assert identical_revision(revisions, plan.digest, plan=plan) is None


def test_identical_revision_needs_the_plan_interpreter(tmp_path: Path):
    other_python = find_pyenv_python("3.12" if sys.version_info[:2] != (3, 12) else "3.13")
    if other_python is None:
        pytest.skip("no second CPython on this machine")
    revisions = tmp_path / ".main" / "revisions"
    plan = make_plan(default_python())
    make_revision(revisions, "1700000001.000001", plan, python=other_python)
    assert identical_revision(revisions, plan.digest, plan=plan) is None
    missing = make_plan(str(tmp_path / "no-such-python"))
    make_revision(revisions, "1700000002.000001", missing, python=default_python())
    assert identical_revision(revisions, missing.digest, plan=missing) is None


def test_identical_revision_skips_editables_unless_allowed(tmp_path: Path):
    revisions = tmp_path / ".main" / "revisions"
    plan = make_plan(default_python(), editable=True)
    donor = make_revision(revisions, "1700000001.000001", plan)
    assert identical_revision(revisions, plan.digest, plan=plan) is None
    assert identical_revision(revisions, plan.digest, plan=plan, allow_editables=True) == donor


def test_identical_revision_needs_the_same_filesystem(tmp_path: Path):
    other = Path("/dev/shm")
    if not other.is_dir() or os.stat(other).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem to try")
    revisions = tmp_path / ".main" / "revisions"
    plan = make_plan(default_python())
    make_revision(revisions, "1700000001.000001", plan)
    assert (
        identical_revision(
            revisions,
            plan.digest,
            plan=plan,
            target=other / "rezup-test-target" / "1700000002.000001",
        )
        is None
    )


def test_claimed_keeps_prune_away_and_refuses_a_revision_that_is_not_ready(tmp_path: Path):
    from rezup.stages.cleanup import remove_revision
    from rezup.stages.disk_state import ContainerDir

    revisions = tmp_path / ".main" / "revisions"
    plan = make_plan(default_python())
    donor = make_revision(revisions, "1700000001.000001", plan)
    revision = ContainerDir(tmp_path, ".main").revision(donor.name)
    with claimed(donor):
        removal = remove_revision(revision)
        assert not removal.removed and removal.why_not == "in use"
    building = make_revision(revisions, "1700000002.000001", plan, ready=False)
    with pytest.raises(CloneError), claimed(building):
        pass
    assert remove_revision(revision).removed
