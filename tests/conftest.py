"""Shared fixtures. Every test runs with a throw-away HOME and rezup roots; the user's uv cache
is shared for speed. Nothing here mocks uv or the filesystem."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

REAL_HOME = Path(os.path.expanduser("~"))
TESTS_DIR = Path(__file__).parent
PACKAGES_DIR = TESTS_DIR / "packages"
REZ_PIN = "rez==3.4.0"

_SCRUBBED = (
    "REZUP_CONTAINER", "REZUP_USING_REMOTE", "REZUP_REVISION", "REZUP_DEFAULT_SHELL",
    "REZUP_PROMPT", "REZUP_LOCK", "REZUP_LOCK_TIMEOUT", "REZUP_EDIT_IN_PRODUCTION",
    "VIRTUAL_ENV", "REZ_CONFIG_FILE", "REZ_PACKAGES_PATH", "UV_PROJECT_ENVIRONMENT",
    "REZUP_UPGRADE_SOURCE", "REZUP_UPGRADE_PAUSE", "REZUP_UPGRADED", "REZUP_CLEAN_AFTER",
    "XDG_STATE_HOME", "XDG_CONFIG_HOME",
    # this machine's pip and uv settings (PIP_INDEX_URL, UV_INDEX_URL, ...): rezup reads pip's
    # as studio settings and uv reads its own; the user's uv cache is put back explicitly
    *(name for name in os.environ if name.startswith(("PIP_", "UV_"))),
)


def hermetic_settings(base: Path) -> dict[str, str]:
    """Variables that hide this machine's pip and uv configuration files (a global
    ``/etc/xdg/pip/pip.conf`` naming a constraint, ``/etc/uv/uv.toml``, the user's files):
    global and user folders point into ``base``, which is empty unless a test writes there."""
    config_dirs = base / ".machine-config"
    config_dirs.mkdir(parents=True, exist_ok=True)
    return {
        "XDG_CONFIG_DIRS": str(config_dirs),  # pip's global pip.conf and uv's uv.toml
        "XDG_CONFIG_HOME": str(base / ".config"),
        "UV_NO_CONFIG": "1",  # no uv.toml of this machine (uv also reads /etc/uv)
        "UV_CACHE_DIR": UV_CACHE,
    }


def _shared_uv_cache() -> str:
    """The user's uv cache, found before HOME is swapped, so tests reuse downloaded wheels."""
    explicit = os.environ.get("UV_CACHE_DIR")
    if explicit:
        return explicit
    xdg = os.environ.get("XDG_CACHE_HOME")
    return str(Path(xdg) / "uv" if xdg else REAL_HOME / ".cache" / "uv")


UV_CACHE = _shared_uv_cache()


def find_pyenv_python(version_prefix: str) -> Optional[str]:
    """An interpreter of another CPython version (pyenv installs them off PATH), or None."""
    roots = [os.environ.get("PYENV_ROOT"), str(REAL_HOME / ".pyenv")]
    for root in filter(None, roots):
        for candidate in sorted(Path(root, "versions").glob(f"{version_prefix}*/bin/python")):
            if candidate.is_file():
                return str(candidate)
    return None


@dataclass
class Sandbox:
    """A fake user: a home folder, local and remote roots, and an environment to run rezup in."""

    base: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.base / "home"

    @property
    def local_root(self) -> Path:
        return self.base / "local"

    @property
    def remote_root(self) -> Path:
        return self.base / "remote"

    def write_recipe(self, text: str, name: Optional[str] = None) -> Path:
        path = self.home / ("rezup.toml" if not name or name == ".main" else f"rezup.{name}.toml")
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def rezup(self, *args: str, check: bool = False, timeout: float = 600,
              env: Optional[dict[str, str]] = None, **kwargs) -> subprocess.CompletedProcess:
        full_env = {**self.env, **(env or {})}
        result = subprocess.run(
            [sys.executable, "-m", "rezup", *args], env=full_env, capture_output=True,
            text=True, timeout=timeout, cwd=str(self.base), **kwargs,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"rezup {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def revisions(self, name: str = ".main", remote: bool = False) -> list[Path]:
        root = self.remote_root if remote else self.local_root
        folder = root / name / "revisions"
        if not folder.is_dir():
            return []
        return sorted((p for p in folder.iterdir() if not p.name.startswith(".")),
                      key=lambda p: float(p.name))

    def ready_revisions(self, name: str = ".main", remote: bool = False) -> list[Path]:
        return [p for p in self.revisions(name, remote) if (p / "revision.json").is_file()]


def make_sandbox(base: Path, remote: bool = False) -> Sandbox:
    box = Sandbox(base)
    box.home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env.update({
        "HOME": str(box.home),
        "USERPROFILE": str(box.home),
        "REZUP_ROOT_LOCAL": str(box.local_root),
        **hermetic_settings(box.base),
        "UV_PYTHON_DOWNLOADS": "never",
        "PYTHONDONTWRITEBYTECODE": "1",
        "REZUP_NO_UPGRADE": "1",  # only the auto-upgrade tests look for a newer rezup
        "PIP_CONFIG_FILE": os.devnull,  # no pip.conf of this machine, unless a test sets one
    })
    if remote:
        env["REZUP_ROOT_REMOTE"] = str(box.remote_root)
    else:
        env.pop("REZUP_ROOT_REMOTE", None)
    box.env = env
    return box


def pytest_collection_modifyitems(items: list) -> None:
    """The multi-host tests first: they are the longest (leases, builds over sshfs) and partly
    wait rather than compute, so they run beside the rest of the suite, not after it."""
    items.sort(key=lambda item: 0 if "test_e2e_hosts" in item.nodeid else 1)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test, unit or end-to-end, runs with a temporary HOME and rezup roots."""
    base = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(base))
    monkeypatch.setenv("USERPROFILE", str(base))
    monkeypatch.setenv("REZUP_ROOT_LOCAL", str(base / ".rezup"))
    monkeypatch.delenv("REZUP_ROOT_REMOTE", raising=False)
    monkeypatch.setenv("REZUP_NO_UPGRADE", "1")
    for name in _SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    for name, value in hermetic_settings(base).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no pip.conf of this machine


@pytest.fixture
def restore_logger():
    """main() points the 'rezup' logger at the (captured) stderr; put it back afterwards."""
    logger = logging.getLogger("rezup")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """For unit tests: a throw-away home folder, with local and remote roots beside it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    monkeypatch.setenv("REZUP_ROOT_LOCAL", str(tmp_path / "local"))
    monkeypatch.setenv("REZUP_ROOT_REMOTE", str(tmp_path / "remote"))
    (tmp_path / "remote").mkdir()
    return home


@pytest.fixture
def sandbox(tmp_path) -> Sandbox:
    return make_sandbox(tmp_path)


@pytest.fixture
def remote_sandbox(tmp_path) -> Sandbox:
    return make_sandbox(tmp_path, remote=True)


def copy_package(name: str, dest: Path) -> Path:
    """A copy of the fixture project ``tests/packages/NAME`` (so tests may edit it)."""
    target = dest / name
    shutil.copytree(PACKAGES_DIR / name, target)
    return target


def make_rez_repository(root: Path) -> Path:
    """A tiny Rez package repository: foo-1.0 (requires bar) and bar-2.1."""
    packages = {
        ("foo", "1.0"): 'name = "foo"\nversion = "1.0"\nrequires = ["bar"]\n'
                        'def commands():\n    env.FOO_LOADED = "yes"\n',
        ("bar", "2.1"): 'name = "bar"\nversion = "2.1"\n',
    }
    for (name, version), text in packages.items():
        folder = root / name / version
        folder.mkdir(parents=True)
        (folder / "package.py").write_text(text, encoding="utf-8")
    return root


def make_wheel(folder: Path, name: str, version: str, body: str = "") -> Path:
    """Write a tiny pure-Python wheel ``name-version`` (module ``name``) into ``folder``."""
    import base64
    import hashlib
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": body or f'VERSION = "{version}"\n',
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: rezup-tests\n"
                              "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def installed_version(revision: Path, package: str, venv: str = "rez") -> Optional[str]:
    """Version of ``package`` installed in a revision's venv, read from its dist-info."""
    for dist_info in (revision / "venv" / venv).glob(f"lib/python*/site-packages/{package}-*"
                                                     ".dist-info"):
        return dist_info.name[len(package) + 1 : -len(".dist-info")]
    return None


def offline_env(tmp_path: Path) -> dict[str, str]:
    """An environment in which uv can reach no index and has an empty cache: what a pull from
    a wheelhouse must cope with. (Port 9 on loopback: nothing listens there.)"""
    unreachable = "http://127.0.0.1:9"
    return {
        "UV_CACHE_DIR": str(tmp_path / "empty-cache"),
        "UV_INDEX_URL": f"{unreachable}/simple",
        "UV_DEFAULT_INDEX": f"{unreachable}/simple",
        "HTTP_PROXY": unreachable,
        "HTTPS_PROXY": unreachable,
        "ALL_PROXY": unreachable,
    }


def wait_for_seed_bytecode(revision: Path, timeout: float = 120.0) -> None:
    """Wait until the seed packages (pip, setuptools, wheel) of each venv of ``revision`` are
    compiled: where no earlier revision had their bytecode, a process of their own compiles
    them once the revision is ready (``bytecode.compile_later``)."""
    import time

    from rezup.stages import bytecode
    from rezup.stages.plan import seed_packages

    deadline = time.monotonic() + timeout
    for venv in sorted((revision / "venv").iterdir()):
        [site] = venv.glob("lib/python*/site-packages")
        version = site.parent.name[len("python"):]
        seeds = bytecode.sources_of(site, seed_packages(version))
        while bytecode.missing_bytecode(venv, seeds):
            assert time.monotonic() < deadline, f"{venv}: seeds not compiled after {timeout}s"
            time.sleep(0.05)
