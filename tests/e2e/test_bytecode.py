"""End to end: a second revision takes the first one's bytecode (real uv, real rez 3.4.0, real
revisions), Python uses it, and the second revision keeps working once the first is gone."""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rezup.stages import bytecode
from tests.helpers import (
    REZ_PIN,
    Sandbox,
    copy_package,
    make_rez_repository,
    make_wheel,
    rez_recipe,
    wait_for_seed_bytecode,
)

# modules of rez (and pip) that rez's tools import
IMPORTS = "import rez.cli._main, rez.resolved_context, rez.packages, pip._internal.cli.main"
RECIPE = """
[rez]
name = "rez"
url = "{rez}"
lib = ["tinypkg=={tiny}"]

[pip]
options = ["--find-links", "{links}"]
"""


def site(revision: Path) -> Path:
    [found] = (revision / "venv" / "rez").glob("lib/python*/site-packages")
    return found


def pyc(source: Path) -> Path:
    return Path(importlib.util.cache_from_source(str(source)))


def add(box: Sandbox, tiny: str, links: Path, **env: str) -> tuple[Path, str]:
    """Build a revision whose recipe pins tinypkg==``tiny``; return it and rezup's -v output."""
    box.write_recipe(RECIPE.format(rez=REZ_PIN, tiny=tiny, links=links))
    result = box.rezup("-v", "add", "--skip-use", env=env, check=True)
    return box.ready_revisions()[-1], result.stderr


def reuse_counts(output: str) -> tuple[int, int]:
    """(reused, compiled) of the rez venv, as ``add -v`` reports them."""
    [match] = re.findall(r"bytecode: (\d+) files reused, (\d+) compiled", output)
    return int(match[0]), int(match[1])


def stale_pycs(site_dir: Path) -> list[str]:
    """Sources under ``site_dir`` whose pyc is missing or would not be used as it is (the
    venv's Python is the one running the tests: same magic number)."""
    assert site_dir.parent.name == f"python{sys.version_info[0]}.{sys.version_info[1]}"
    bad = []
    for relative in bytecode.python_sources(site_dir):
        source = site_dir / relative
        try:
            head = pyc(source).read_bytes()[:16]
        except FileNotFoundError:
            bad.append(f"{relative}: no pyc")
            continue
        stat = source.stat()
        if head != importlib.util.MAGIC_NUMBER + bytes(4) + (
            (int(stat.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
            + (stat.st_size & 0xFFFFFFFF).to_bytes(4, "little")
        ):
            bad.append(f"{relative}: stale")
    return bad


def import_report(revision: Path, *flags: str) -> subprocess.CompletedProcess:
    python = revision / "venv" / "rez" / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    result = subprocess.run(
        [str(python), *flags, "-v", "-c", IMPORTS],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=str(revision),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def from_source(report: str, site_dir: Path) -> list[str]:
    """Modules of ``site_dir`` that Python compiled from source instead of loading a pyc."""
    return [
        line
        for line in report.splitlines()
        if line.startswith("# code object from")
        and str(site_dir) in line
        and not line.rstrip("'").endswith(".pyc")
    ]


@pytest.fixture
def links(tmp_path: Path) -> Path:
    folder = tmp_path / "links"
    make_wheel(folder, "tinypkg", "1.0")
    make_wheel(folder, "tinypkg", "2.0", body='VERSION = "2.0"\nNEW = True\n')
    return folder


def test_a_second_revision_reuses_the_bytecode_and_outlives_its_donor(
    sandbox: Sandbox, links: Path, tmp_path: Path
):
    first, output = add(sandbox, "1.0", links)
    first_reused, first_compiled = reuse_counts(output)
    assert first_reused == 0 and first_compiled > 400  # rez and tinypkg
    # pip, setuptools and wheel: compiled once the revision is ready, by a process of its own
    [later] = re.findall(r"(\d+) to compile once the revision is ready", output)
    assert int(later) > 500
    wait_for_seed_bytecode(first)
    assert stale_pycs(site(first)) == []
    sources = len(bytecode.python_sources(site(first)))
    assert sources == first_compiled + int(later)

    second, output = add(sandbox, "2.0", links)  # one pin changed
    reused, compiled = reuse_counts(output)
    assert (reused, compiled) == (sources - 1, 1)  # all but tinypkg.py
    assert "to compile once" not in output
    assert f"reused from revision {first.name}" in output

    # unchanged sources: the same inode in both revisions, and so is their pyc
    for relative in ("rez/__init__.py", "rez/resolved_context.py", "pip/__init__.py"):
        assert (site(second) / relative).stat().st_ino == (site(first) / relative).stat().st_ino
        assert (
            pyc(site(second) / relative).stat().st_ino == pyc(site(first) / relative).stat().st_ino
        )
    # the changed one: a new file, compiled afresh
    new_tiny, old_tiny = pyc(site(second) / "tinypkg.py"), pyc(site(first) / "tinypkg.py")
    assert new_tiny.stat().st_ino != old_tiny.stat().st_ino
    assert new_tiny.read_bytes() != old_tiny.read_bytes()
    assert stale_pycs(site(second)) == []

    # Python loads the reused pycs: no module of the venv compiled from source, none stale
    report = import_report(second, "-B").stderr
    assert "bytecode is stale" not in report
    assert from_source(report, site(second)) == []
    assert f"code object from '{pyc(site(second) / 'rez' / 'resolved_context.py')}'" in report

    # the donor goes; the new revision keeps every file, and rez works
    sandbox.rezup("drop", ".main", "--revision", first.name, check=True)
    assert not first.exists()
    assert stale_pycs(site(second)) == []
    result = sandbox.rezup("use", "--", "rez", "--version", check=True)
    assert "Rez 3.4.0" in result.stdout
    repo = make_rez_repository(tmp_path / "packages")
    env = {"REZ_PACKAGES_PATH": str(repo), "REZ_LOCAL_PACKAGES_PATH": str(repo)}
    probe = "echo foo=$REZ_FOO_VERSION bar=$REZ_BAR_VERSION; rez-env bar -- rez --version"
    result = sandbox.rezup(
        "use", "--", "rez-env", "foo", "--", "sh", "-c", probe, env=env, check=True
    )
    assert "foo=1.0 bar=2.1" in result.stdout
    assert "Rez 3.4.0" in result.stdout
    tiny = subprocess.run(
        [
            str(second / "venv" / "rez" / "bin" / "python"),
            "-c",
            "import tinypkg; print(tinypkg.VERSION, tinypkg.NEW)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert tiny.stdout.split() == ["2.0", "True"]


def test_a_read_only_revision_has_every_pyc_it_needs(sandbox: Sandbox, links: Path):
    """Nothing can be written in a read-only revision, so its pycs must all be valid: Python
    imports rez and pip from them, with no recompile and no attempt to write one."""
    first, _ = add(sandbox, "1.0", links)
    wait_for_seed_bytecode(first)  # its seed packages compiled
    second, output = add(sandbox, "2.0", links)  # one pin changed: all else reused
    assert reuse_counts(output)[1] == 1
    subprocess.run(["chmod", "-R", "a-w", str(second)], check=True)
    try:
        report = import_report(second).stderr  # free to write bytecode, if it had to
        assert "bytecode is stale" not in report
        assert "could not create" not in report and "# created " not in report
        # (root may write anyway: what shows that nothing had to be is this)
        assert from_source(report, site(second)) == []
        result = sandbox.rezup("use", "--", "rez", "--version", check=True)
        assert "Rez 3.4.0" in result.stdout
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(second)], check=True)


def test_copy_link_mode_copies_the_pycs_with_their_new_headers(sandbox: Sandbox, links: Path):
    """UV_LINK_MODE=copy: each revision has its own copy of every source (a new inode, a new
    mtime); the earlier pycs are copied, their header set to the new sources."""
    first, _ = add(sandbox, "1.0", links, UV_LINK_MODE="copy")
    wait_for_seed_bytecode(first)
    second, output = add(sandbox, "2.0", links, UV_LINK_MODE="copy")
    reused, compiled = reuse_counts(output)
    assert reused > 1000 and compiled == 1
    source = site(second) / "rez" / "resolved_context.py"
    assert source.stat().st_ino != (site(first) / "rez" / "resolved_context.py").stat().st_ino
    assert (
        pyc(source).stat().st_ino != pyc(site(first) / "rez" / "resolved_context.py").stat().st_ino
    )
    assert stale_pycs(site(second)) == []
    report = import_report(second, "-B").stderr
    assert "bytecode is stale" not in report
    assert from_source(report, site(second)) == []


def test_an_editable_extension_works_in_a_revision_built_with_reuse(
    sandbox: Sandbox, tmp_path: Path
):
    """An editable's sources live outside the revision: nothing of them is reused or
    compiled, and the revision runs them after its donor is gone."""
    editable = copy_package("hello_ext", tmp_path / "editable")
    sandbox.write_recipe(
        rez_recipe(f"""
        [[extension]]
        name = "hello-ext"
        url = "{editable}"
        edit = true
        flags = []
    """)
    )
    sandbox.rezup("add", "--skip-use", check=True)
    result = sandbox.rezup("-v", "add", "--skip-use", check=True)
    assert reuse_counts(result.stderr)[1] == 0
    first, second = sandbox.ready_revisions()
    sandbox.rezup("drop", ".main", "--revision", first.name, check=True)
    (editable / "hello_ext" / "__init__.py").write_text(
        (editable / "hello_ext" / "__init__.py")
        .read_text()
        .replace('GREETING = "hello"', 'GREETING = "edited"')
    )
    result = sandbox.rezup("use", "--", "hello-ext", check=True)
    assert "edited from hello-ext" in result.stdout
    wait_for_seed_bytecode(second)  # its seeds had no donor either: compiled once it is ready
    assert stale_pycs(site(second)) == []


def test_the_seeds_are_compiled_after_the_first_revision_is_ready(sandbox: Sandbox, links: Path):
    """No earlier revision to take pip's bytecode from: the revision is ready first, and its
    seed packages are compiled just after, valid pycs that Python loads."""
    first, output = add(sandbox, "1.0", links)
    assert re.search(r"\d+ to compile once the revision is ready", output)
    wait_for_seed_bytecode(first)
    assert stale_pycs(site(first)) == []
    python = first / "venv" / "rez" / "bin" / "python"
    result = subprocess.run(
        [str(python), "-B", "-v", "-c", "import pip._internal.cli.main"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(first),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pip/_internal/cli/__pycache__/main." in result.stderr
    assert from_source(result.stderr, site(first)) == []


def test_a_revision_dropped_while_its_seeds_are_compiled_goes_whole(sandbox: Sandbox, links: Path):
    """drop stops the compiler working in a revision (just after it was built) before it
    removes the revision: it does not wait for it, and nothing is left behind."""
    first, _ = add(sandbox, "1.0", links)
    host, _, pid = (first / ".compiling-rez").read_text().strip().rpartition(":")
    assert host == socket.gethostname() and pid.isdigit()  # who compiles, for drop to stop
    sandbox.rezup("drop", ".main", "--revision", first.name, check=True)
    assert not first.exists()
    assert compilers_in(first) == [], "drop returns once the compiler is gone"
    time.sleep(1)
    leftovers = [
        path.name
        for path in sandbox.local_root.rglob("*")
        if "__pycache__" in path.parts and ".main" in path.parts and "revisions" in path.parts
    ]
    assert leftovers == []
    assert sandbox.revisions() == []


def compilers_in(revision: Path) -> list[int]:
    """PIDs of the processes whose command line names ``revision`` (its compilers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(revision).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
