"""rezup.stages.bytecode: a new venv takes an earlier revision's .pyc where it is valid, and
compiles the rest. Real venvs (``uv venv``), real interpreters (3.7 to 3.13 where pyenv has
them), real files; Python itself (``python -v``) says whether it loads each module from its .pyc."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from rezup.ground import paths
from rezup.ground.errors import BuildError
from rezup.stages import bytecode, bytecode_later
from rezup.tools import uv_commands
from rezup.tools.production import site_packages
from tests.helpers import find_pyenv_python, make_wheel

MODULES = {
    "alpha.py": "VALUE = 'alpha'\n",
    "pkg/__init__.py": "",
    "pkg/beta.py": "from pkg import gamma\nVALUE = 'beta' + gamma.VALUE\n",
    "pkg/gamma.py": "VALUE = 'gamma'\n",
}
IMPORTS = ["alpha", "pkg", "pkg.beta", "pkg.gamma"]


def make_revision(
    container: Path, stamp: str, *, ready: bool = True, python: Optional[str] = None
) -> Path:
    """A revision folder with an empty venv 'rez' made by ``uv venv`` (no index needed)."""
    revision = container / "revisions" / stamp
    uv_commands.create_venv(revision / "venv" / "rez", python or sys.executable, seed=False)
    if ready:
        (revision / "revision.json").write_text("{}", encoding="utf-8")
    return revision


def venv(revision: Path) -> Path:
    return revision / "venv" / "rez"


def install(revision: Path, cache: Path, how: str = "link", files: Optional[dict] = None) -> Path:
    """Put the modules into the venv as uv does: hard links to a cache, or copies (with a
    later mtime, as a copy made now has)."""
    site = site_packages(venv(revision))
    for relative, text in (files or MODULES).items():
        cached = cache / relative
        if not cached.exists():
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(text, encoding="utf-8")
            os.utime(cached, (1_600_000_000, 1_600_000_000))
        target = site / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if how == "link":
            os.link(cached, target)
        else:
            shutil.copyfile(cached, target)
            stamp = 1_700_000_000 + int(float(revision.name) * 1000)  # one per revision
            os.utime(target, (stamp, stamp))
    return site


def pyc(site: Path, relative: str) -> Path:
    return Path(importlib.util.cache_from_source(str(site / relative)))


def loaded_from_pyc(revision: Path, modules: list[str] = IMPORTS) -> dict[str, str]:
    """How the venv's own interpreter loads each module: 'pyc' (its .pyc is valid and used),
    'stale', or 'source', as ``python -v`` tells. Nothing is written (``-B``)."""
    python = venv(revision) / "bin" / "python"
    program = (
        f"import importlib.util, {', '.join(modules)}\n"
        f"for name in {modules!r}:\n"
        "    print(importlib.util.cache_from_source(__import__('sys').modules[name]"
        ".__file__))\n"
    )
    result = subprocess.run(
        [str(python), "-I", "-B", "-v", "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(revision),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found: dict[str, str] = {}
    for module, cached in zip(modules, result.stdout.split()):
        if f"bytecode is stale for '{module}'" in result.stderr:
            found[module] = "stale"
        elif (
            f"code object from '{cached}'" in result.stderr
            or f"code object from {cached}\n" in result.stderr
        ):  # Python 3.7
            found[module] = "pyc"
        else:
            found[module] = "source"
    return found


def header(path: Path) -> bytes:
    return path.read_bytes()[:16]


@pytest.fixture
def container(tmp_path: Path) -> Path:
    return tmp_path / "root" / "box"


# -- the first revision: no donor -------------------------------------------------------------


def test_without_donor_everything_is_compiled(container: Path, tmp_path: Path):
    revision = make_revision(container, "1.0")
    site = install(revision, tmp_path / "cache")
    (site / "py2only.py").write_text("print 'old code'\n", encoding="utf-8")

    assert bytecode.donor_venv(revision, "rez") is None
    result = bytecode.compile_venv(venv(revision), None, {})

    assert (result.linked, result.copied, result.compiled, result.failed) == (0, 0, 4, 1)
    assert not pyc(site, "py2only.py").exists()  # ignored, as uv and pip do
    assert loaded_from_pyc(revision) == dict.fromkeys(IMPORTS, "pyc")


# -- a second revision: reuse -----------------------------------------------------------------


def test_unchanged_sources_get_hard_links_of_the_donors_pyc(container: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    first = make_revision(container, "1.0")
    first_site = install(first, cache)
    bytecode.compile_venv(venv(first), None, {})
    second = make_revision(container, "2.0", ready=False)  # the one being built
    second_site = install(second, cache)

    donor = bytecode.donor_venv(second, "rez")
    assert donor == venv(first)
    result = bytecode.compile_venv(venv(second), donor, {})

    assert (result.linked, result.copied, result.compiled) == (4, 0, 0)
    assert result.summary() == "bytecode: 4 files reused, 0 compiled (reused from revision 1.0)"
    for relative in MODULES:
        assert pyc(second_site, relative).stat().st_ino == pyc(first_site, relative).stat().st_ino
    assert loaded_from_pyc(second) == dict.fromkeys(IMPORTS, "pyc")

    # revisions stay independent: without the donor, the new one still loads its pycs
    shutil.rmtree(first)
    assert loaded_from_pyc(second) == dict.fromkeys(IMPORTS, "pyc")


def test_equal_copies_get_the_donors_pyc_with_their_own_mtime(container: Path, tmp_path: Path):
    """UV_LINK_MODE=copy: every revision has its own copy of each source, with its own mtime;
    the donor's pyc is copied and its header set to the new file's mtime and size."""
    cache = tmp_path / "cache"
    first = make_revision(container, "1.0")
    first_site = install(first, cache, how="copy")
    bytecode.compile_venv(venv(first), None, {})
    second = make_revision(container, "2.0", ready=False)
    second_site = install(second, cache, how="copy")
    assert os.stat(second_site / "alpha.py").st_mtime != os.stat(first_site / "alpha.py").st_mtime

    result = bytecode.compile_venv(venv(second), bytecode.donor_venv(second, "rez"), {})

    assert (result.linked, result.copied, result.compiled) == (0, 4, 0)
    for relative in MODULES:
        new, old = pyc(second_site, relative), pyc(first_site, relative)
        assert new.stat().st_ino != old.stat().st_ino
        assert new.read_bytes()[16:] == old.read_bytes()[16:]  # the same code
        stat = (second_site / relative).stat()
        assert header(new)[8:16] == (
            (int(stat.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
            + stat.st_size.to_bytes(4, "little")
        )
    assert loaded_from_pyc(second) == dict.fromkeys(IMPORTS, "pyc")


def test_a_changed_source_is_compiled_fresh(container: Path, tmp_path: Path):
    first = make_revision(container, "1.0")
    install(first, tmp_path / "cache-1")
    bytecode.compile_venv(venv(first), None, {})
    second = make_revision(container, "2.0", ready=False)
    changed = {**MODULES, "pkg/gamma.py": "VALUE = 'GAMMA'\n"}
    second_site = install(second, tmp_path / "cache-2", files=changed)
    # the same mtime and size as the old file: only the bytes tell them apart
    os.utime(second_site / "pkg" / "gamma.py", (1_600_000_000, 1_600_000_000))

    result = bytecode.compile_venv(venv(second), bytecode.donor_venv(second, "rez"), {})

    # the other files are equal copies (another cache), so their pycs are reused
    assert (result.reused, result.compiled) == (3, 1)
    assert loaded_from_pyc(second) == dict.fromkeys(IMPORTS, "pyc")
    out = subprocess.run(
        [
            str(venv(second) / "bin" / "python"),
            "-I",
            "-B",
            "-c",
            "import pkg.beta; print(pkg.beta.VALUE)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "betaGAMMA"


def test_a_stale_or_foreign_donor_pyc_is_never_used(container: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    first = make_revision(container, "1.0")
    first_site = install(first, cache)
    bytecode.compile_venv(venv(first), None, {})
    # alpha's pyc no longer matches its source (its mtime moved); gamma's is garbage
    os.utime(first_site / "alpha.py", (1_650_000_000, 1_650_000_000))
    pyc(first_site, "pkg/gamma.py").write_bytes(b"\x00" * 40)
    second = make_revision(container, "2.0", ready=False)
    second_site = install(second, tmp_path / "cache-2")  # equal bytes, other inodes

    result = bytecode.compile_venv(venv(second), bytecode.donor_venv(second, "rez"), {})

    assert (result.reused, result.compiled) == (2, 2)
    assert pyc(second_site, "pkg/gamma.py").read_bytes() != b"\x00" * 40
    assert loaded_from_pyc(second) == dict.fromkeys(IMPORTS, "pyc")


def test_a_pyc_the_wheel_shipped_is_left_to_the_compiler(container: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    first = make_revision(container, "1.0")
    install(first, cache)
    bytecode.compile_venv(venv(first), None, {})
    second = make_revision(container, "2.0", ready=False)
    second_site = install(second, cache)
    shipped = pyc(second_site, "alpha.py")
    shipped.parent.mkdir()
    shipped.write_bytes(b"not bytecode at all")

    result = bytecode.compile_venv(venv(second), bytecode.donor_venv(second, "rez"), {})

    assert (result.linked, result.compiled) == (3, 1)
    assert loaded_from_pyc(second) == dict.fromkeys(IMPORTS, "pyc")


# -- invalidation modes -----------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "flags"), [("CHECKED_HASH", 3), ("UNCHECKED_HASH", 1)])
def test_hash_based_pycs_are_reused_for_equal_bytes(
    container: Path, tmp_path: Path, mode: str, flags: int
):
    env = {"PYC_INVALIDATION_MODE": mode}
    first = make_revision(container, "1.0")
    install(first, tmp_path / "cache", how="copy")
    bytecode.compile_venv(venv(first), None, env)
    second = make_revision(container, "2.0", ready=False)
    second_site = install(second, tmp_path / "cache", how="copy")

    result = bytecode.compile_venv(venv(second), bytecode.donor_venv(second, "rez"), env)

    # a hash-based pyc does not depend on the file's mtime: the same pyc serves both copies
    assert (result.linked, result.compiled) == (4, 0)
    assert int.from_bytes(header(pyc(second_site, "alpha.py"))[4:8], "little") == flags
    assert loaded_from_pyc(second) == dict.fromkeys(IMPORTS, "pyc")


def test_a_donor_of_another_mode_is_not_used(container: Path, tmp_path: Path):
    first = make_revision(container, "1.0")
    install(first, tmp_path / "cache")
    bytecode.compile_venv(venv(first), None, {})  # timestamps
    second = make_revision(container, "2.0", ready=False)
    second_site = install(second, tmp_path / "cache")

    result = bytecode.compile_venv(
        venv(second), bytecode.donor_venv(second, "rez"), {"SOURCE_DATE_EPOCH": "1600000000"}
    )

    assert (result.reused, result.compiled) == (0, 4)  # checked hashes, as py_compile does
    assert int.from_bytes(header(pyc(second_site, "alpha.py"))[4:8], "little") == 3


def test_invalidation_mode_is_read_as_uv_reads_it():
    assert bytecode.invalidation_mode({}) == "TIMESTAMP"
    assert bytecode.invalidation_mode({"SOURCE_DATE_EPOCH": "1"}) == "CHECKED_HASH"
    assert (
        bytecode.invalidation_mode(
            {"PYC_INVALIDATION_MODE": "UNCHECKED_HASH", "SOURCE_DATE_EPOCH": "1"}
        )
        == "UNCHECKED_HASH"
    )
    with pytest.raises(BuildError, match="PYC_INVALIDATION_MODE='timestamp' is not one of"):
        bytecode.invalidation_mode({"PYC_INVALIDATION_MODE": "timestamp"})


# -- which revision gives its bytecode --------------------------------------------------------


def test_the_donor_is_the_newest_ready_revision_with_the_same_python(container: Path):
    other = find_pyenv_python("3.12") or find_pyenv_python("3.10")
    if other is None:
        pytest.skip("no second CPython (3.12 or 3.10) installed")
    make_revision(container, "1.0")
    make_revision(container, "2.0")
    make_revision(container, "3.0", python=other)  # newer, another Python
    make_revision(container, "4.0", ready=False)  # newer, not ready (killed, or building)
    (container / "revisions" / "5.0" / "venv").mkdir(parents=True)  # ready, without venv rez
    (container / "revisions" / "5.0" / "revision.json").write_text("{}")
    building = make_revision(container, "6.0", ready=False)

    assert bytecode.donor_venv(building, "rez") == venv(container / "revisions" / "2.0")
    assert bytecode.donor_venv(building, "other") is None
    # the revision being built is never its own donor, even once marked ready
    (building / "revision.json").write_text("{}")
    assert bytecode.donor_venv(building, "rez") == venv(container / "revisions" / "2.0")


def test_a_venv_of_another_python_minor_is_no_donor(container: Path):
    other = find_pyenv_python("3.12") or find_pyenv_python("3.10")
    if other is None:
        pytest.skip("no second CPython (3.12 or 3.10) installed")
    make_revision(container, "1.0", python=other)
    building = make_revision(container, "2.0", ready=False)
    assert bytecode.donor_venv(building, "rez") is None


# -- every Python a venv may have ---------------------------------------------------------------


@pytest.mark.parametrize("version", ["3.7", "3.8", "3.9", "3.10", "3.12", "3.13"])
def test_the_worker_runs_on_every_python(container: Path, tmp_path: Path, version: str):
    python = find_pyenv_python(version)
    if python is None:
        pytest.skip(f"no CPython {version} installed")
    cache = tmp_path / "cache"
    first = make_revision(container, "1.0", python=python)
    # before Python 3.10, uv venv writes a _virtualenv.py of its own into every venv: an equal
    # file, never the same one, so its pyc is copied
    own = len(bytecode.python_sources(install(first, cache))) - len(MODULES)
    assert bytecode.compile_venv(venv(first), None, {}).compiled == len(MODULES) + own
    second = make_revision(container, "2.0", ready=False, python=python)
    install(second, cache)
    copied = make_revision(container, "3.0", ready=False, python=python)
    install(copied, cache, how="copy")

    linked = bytecode.compile_venv(venv(second), bytecode.donor_venv(second, "rez"), {})
    patched = bytecode.compile_venv(venv(copied), bytecode.donor_venv(copied, "rez"), {})

    # (made in the same second, the two _virtualenv.py share an mtime: then it is linked)
    assert (linked.linked >= 4, linked.reused, linked.compiled) == (True, 4 + own, 0)
    assert (patched.copied >= 4, patched.reused, patched.compiled) == (True, 4 + own, 0)
    assert loaded_from_pyc(second) == dict.fromkeys(IMPORTS, "pyc")
    assert loaded_from_pyc(copied) == dict.fromkeys(IMPORTS, "pyc")


def test_a_broken_interpreter_is_a_clear_error(container: Path, tmp_path: Path):
    revision = make_revision(container, "1.0")
    install(revision, tmp_path / "cache")
    python = venv(revision) / "bin" / "python"
    python.unlink()
    python.write_text("#!/bin/sh\necho 'this python is broken' >&2\nexit 3\n")
    python.chmod(0o755)
    with pytest.raises(
        BuildError,
        match=r"compiling bytecode with .*python failed: this "
        r"python is broken",
    ):
        bytecode.compile_venv(venv(revision), None, {})


def test_sources_are_listed_relative_and_without_pycache(tmp_path: Path):
    site = tmp_path / "site"
    for relative in ("a.py", "pkg/b.py", "pkg/__pycache__/c.py", "pkg/data.txt", "z/y/x.py"):
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_text("")
    assert bytecode.python_sources(site) == ["a.py", "pkg/b.py", "z/y/x.py"]


def test_layout_names_the_donor_venv_as_rezup_builds_it(container: Path):
    revision = make_revision(container, "1.0")
    assert venv(revision) == Path(paths.venv_dir(str(revision), "rez"))


@pytest.mark.parametrize("setting", ["variable", "uv.toml"])
def test_uv_compiles_nothing_itself_whatever_the_users_settings(tmp_path: Path, setting: str):
    """rezup compiles; uv must not do it first because UV_COMPILE_BYTECODE or a uv.toml ask
    for it (its --no-compile-bytecode refuses the variable beside it: rezup unsets it)."""
    links = tmp_path / "links"
    make_wheel(links, "tinypkg", "1.0")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("tinypkg==1.0\n")
    target = tmp_path / "venv"
    uv_commands.create_venv(target, sys.executable, seed=False)
    if setting == "variable":
        env = {"UV_COMPILE_BYTECODE": "1"}
    else:
        config = tmp_path / "uv.toml"
        config.write_text("[pip]\ncompile-bytecode = true\n")
        env = {"UV_CONFIG_FILE": str(config)}
    uv_commands.pip_install(
        target / "bin" / "python",
        requirements,
        env=env,
        compile_bytecode=False,
        options=["--no-index", "--find-links", str(links)],
    )
    site = site_packages(target)
    assert (site / "tinypkg.py").is_file()
    assert not pyc(site, "tinypkg.py").exists()


def _compiler_holding(lock: Path, names: str) -> subprocess.Popen:
    """A process that holds ``lock`` as a compiler of ``compile_later`` does, the file naming
    ``names`` (a "host:pid" with {pid} for its own)."""
    import fcntl

    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], pass_fds=(fd,)
    )
    os.ftruncate(fd, 0)
    os.write(fd, names.format(pid=process.pid).encode())
    os.close(fd)
    return process


@pytest.mark.skipif(os.name == "nt", reason="no background compilers on Windows")
def test_a_removal_stops_the_compiler_of_this_host_only(tmp_path: Path):
    import socket

    revision = tmp_path / "1700000000.000001"
    revision.mkdir()
    lock = revision / f"{paths.COMPILING_PREFIX}rez"
    elsewhere = _compiler_holding(lock, "another-host:{pid}\n")
    try:
        bytecode_later.stop_compiling(revision, timeout=0.3)  # gives up waiting, signals nothing
        assert elsewhere.poll() is None
    finally:
        elsewhere.kill()
        elsewhere.wait()

    here = _compiler_holding(lock, f"{socket.gethostname()}:{{pid}}\n")
    try:
        bytecode_later.stop_compiling(revision, timeout=10)
        assert here.wait(timeout=5) == -15  # SIGTERM, and stop_compiling waited for it
    finally:
        if here.poll() is None:
            here.kill()
            here.wait()
