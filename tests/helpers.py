"""What the tests share, in one place: the rez recipe, revisions written by hand, fake users
(isolated homes, roots and pip/uv settings), tiny wheels and a local index. The fixtures that
use these live in ``tests/conftest.py``; tests import from here (``from tests.helpers import``).
"""

from __future__ import annotations

import base64
import errno
import hashlib
import html
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

REAL_HOME = Path(os.path.expanduser("~"))
TESTS_DIR = Path(__file__).parent
PACKAGES_DIR = TESTS_DIR / "packages"
REZ_PIN = "rez==3.4.0"

# Variables no test inherits from this machine (isolated_env): rezup's own, and this machine's
# pip and uv settings (PIP_INDEX_URL, UV_INDEX_URL, ...): rezup reads pip's as studio settings
# and uv reads its own; the user's uv cache is put back explicitly (UV_CACHE)
SCRUBBED = (
    "REZUP_CONTAINER",
    "REZUP_USING_REMOTE",
    "REZUP_REVISION",
    "REZUP_DEFAULT_SHELL",
    "REZUP_PROMPT",
    "REZUP_LOCK",
    "REZUP_LOCK_TIMEOUT",
    "REZUP_EDIT_IN_PRODUCTION",
    "VIRTUAL_ENV",
    "REZ_CONFIG_FILE",
    "REZ_PACKAGES_PATH",
    "UV_PROJECT_ENVIRONMENT",
    "REZUP_UPGRADE_SOURCE",
    "REZUP_UPGRADE_PAUSE",
    "REZUP_UPGRADED",
    "REZUP_CLEAN_AFTER",
    "REZUP_NO_BACKGROUND",
    "XDG_STATE_HOME",
    "XDG_CONFIG_HOME",
    "REZUP_ROOT_REMOTE",
    "REZUP_REMOTE_TIMEOUT",
    "REZUP_REMOTE_INDEX_MAX_AGE",
    "REZUP_PULL_RETRY",
    "NETRC",  # the tests' netrc files are their own
    *(name for name in os.environ if name.startswith(("PIP_", "UV_"))),
    # any other setting of rezup this machine has (not the harness's own REZUP_TEST_*)
    *(n for n in os.environ if n.startswith("REZUP_") and not n.startswith("REZUP_TEST_")),
)


# --------------------------------------------------------------------------------------------
# Recipes


def rez_recipe(more: str = "", *, url: str = REZ_PIN, name: bool = True) -> str:
    """A recipe whose ``[rez]`` venv installs ``url`` (rez from the index unless told),
    followed by ``more`` (dedented: more keys of ``[rez]``, then other tables)."""
    head = "[rez]\n" + ('name = "rez"\n' if name else "") + f'url = "{url}"\n'
    return head + textwrap.dedent(more)


REZ_RECIPE = rez_recipe()  # the smallest recipe: rez 3.4.0 from the index, nothing else


# --------------------------------------------------------------------------------------------
# Fake users: isolated homes, roots, and no pip or uv settings of this machine


def _shared_uv_cache() -> str:
    """The user's uv cache, found before HOME is swapped, so tests reuse downloaded wheels."""
    explicit = os.environ.get("UV_CACHE_DIR")
    if explicit:
        return explicit
    xdg = os.environ.get("XDG_CACHE_HOME")
    return str(Path(xdg) / "uv" if xdg else REAL_HOME / ".cache" / "uv")


UV_CACHE = _shared_uv_cache()


def hermetic_settings(base: Path) -> dict[str, str]:
    """Variables that hide this machine's pip and uv configuration files (a global
    ``/etc/xdg/pip/pip.conf`` naming a constraint, ``/etc/uv/uv.toml``, the user's files):
    global and user folders point into ``base``, which is empty unless a test writes there.
    Tests that want pip settings write them there, or set ``PIP_*`` variables, themselves."""
    config_dirs = base / ".machine-config"
    config_dirs.mkdir(parents=True, exist_ok=True)
    return {
        "XDG_CONFIG_DIRS": str(config_dirs),  # pip's global pip.conf and uv's uv.toml
        "XDG_CONFIG_HOME": str(base / ".config"),
        "UV_NO_CONFIG": "1",  # no uv.toml of this machine (uv also reads /etc/uv)
        "UV_CACHE_DIR": UV_CACHE,
        "PIP_CONFIG_FILE": os.devnull,  # no pip.conf of this machine, unless a test sets one
    }


def user_env(home: Path, local_root: Path, remote_root: Optional[Path] = None) -> dict[str, str]:
    """The variables naming a fake user's home and rezup roots."""
    env = {"HOME": str(home), "USERPROFILE": str(home), "REZUP_ROOT_LOCAL": str(local_root)}
    if remote_root is not None:
        env["REZUP_ROOT_REMOTE"] = str(remote_root)
    return env


def isolated_env(
    base: Path, home: Path, local_root: Path, remote_root: Optional[Path] = None
) -> dict[str, str]:
    """This process's environment as a fake user's: without the ``SCRUBBED`` variables, with
    ``home`` and the roots, the hermetic settings under ``base`` and no auto-upgrade (only the
    auto-upgrade tests look for a newer rezup)."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(user_env(home, local_root, remote_root))
    env.update(hermetic_settings(base))
    env["REZUP_NO_UPGRADE"] = "1"
    return env


def write_pip_conf(path: Path, text: str) -> Path:
    """A pip configuration file a test writes itself (this machine's are hidden)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


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

    def rezup(
        self,
        *args: str,
        check: bool = False,
        timeout: float = 600,
        env: Optional[dict[str, str]] = None,
        **kwargs,
    ) -> subprocess.CompletedProcess:
        full_env = {**self.env, **(env or {})}
        result = subprocess.run(
            [sys.executable, "-m", "rezup", *args],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(self.base),
            **kwargs,
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
        return sorted(
            (p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: float(p.name)
        )

    def ready_revisions(self, name: str = ".main", remote: bool = False) -> list[Path]:
        return [p for p in self.revisions(name, remote) if (p / "revision.json").is_file()]


def make_sandbox(base: Path, remote: bool = False) -> Sandbox:
    box = Sandbox(base)
    box.home.mkdir(parents=True, exist_ok=True)
    box.env = isolated_env(box.base, box.home, box.local_root, box.remote_root if remote else None)
    box.env.update({"UV_PYTHON_DOWNLOADS": "never", "PYTHONDONTWRITEBYTECODE": "1"})
    return box


# --------------------------------------------------------------------------------------------
# Revisions written by hand


def fake_revision(
    root: Path,
    name: str,
    stamp: str = "1700000000.5",
    *,
    ready: bool = True,
    recipe: str = "",
    claim: bool = False,
    env: Optional[dict] = None,
    plan_pins: Optional[tuple[str, ...]] = None,
    production: bool = False,
    session: bool = True,
    **metadata,
) -> Path:
    """A revision folder ``root/name/revisions/stamp`` written by hand, with no real venv:
    enough to be listed, entered by ``use -- CMD``, pruned. Its revision.json (unless not
    ``ready``) has the venv 'rez', a session of ``env`` and ``metadata``. ``claim``: the claim
    file; ``plan_pins``: a plan.lock pinning those (and the container's .locks folder);
    ``production``: rez's production marker and a pyvenv.cfg; not ``session``: no session in
    revision.json (as rezup 2.x wrote it)."""
    path = root / name / "revisions" / stamp
    bin_rez = path / "venv" / "rez" / "bin" / "rez"
    bin_rez.mkdir(parents=True)
    if production:
        (bin_rez / ".rez_production_install").write_text("3.4.0")
        (path / "venv" / "rez" / "pyvenv.cfg").write_text(
            "home = /usr/bin\nversion_info = 3.11.7.final.0\n"
        )
    (path / "rezup.toml").write_text(recipe, encoding="utf-8")
    if plan_pins is not None:
        from rezup.stages.plan import Plan, VenvPlan

        plan = Plan(
            container=name,
            venvs=(VenvPlan("rez", "/usr/bin/python3", "", "3.11.7", tuple(plan_pins)),),
            env=tuple((env or {}).items()),
        )
        plan.write(path / "plan.lock")
        (root / name / ".locks").mkdir(parents=True, exist_ok=True)
    if claim:
        (path / ".claim").touch()
    if ready:
        data: dict = {"venvs": ["rez"]}
        if session:
            data["session"] = {
                "bin_dirs": ["venv/rez/bin/rez"],
                "dotenv": [],
                "env": [list(i) for i in (env or {}).items()],
            }
        data.update(metadata)
        (path / "revision.json").write_text(json.dumps(data), encoding="utf-8")
    return path


def publish_by_hand(remote: Path, name: str, stamp: str) -> Path:
    """A remote revision as `add --remote` publishes it: recipe, plan, revision.json."""
    from rezup.stages.plan import Plan, VenvPlan

    path = remote / name / "revisions" / stamp
    path.mkdir(parents=True)
    (path / "rezup.toml").write_text(rez_recipe(name=False), encoding="utf-8")
    Plan(container=name, venvs=(VenvPlan("rez", sys.executable, "", "3.11.7", (REZ_PIN,)),)).write(
        path / "plan.lock"
    )
    (path / "revision.json").write_text(
        json.dumps({"remote": True, "venvs": ["rez"]}), encoding="utf-8"
    )
    return path


# --------------------------------------------------------------------------------------------
# Clones (rezup.stages.clone)


def clone_revision(source: Path, target: Path) -> None:
    """What the caller does: claim the donor, write recipe and plan, clone the venvs, then
    the claim file and revision.json last."""
    from rezup.ground import mark_ready, paths, revision_json
    from rezup.stages.clone import clone_venvs
    from rezup.stages.clone_donors import claimed
    from rezup.stages.plan import Plan

    plan = Plan.read(source / paths.PLAN_FILENAME)
    with claimed(source):
        target.mkdir()
        shutil.copy(source / paths.RECIPE_FILENAME, target / paths.RECIPE_FILENAME)
        plan.write(target / paths.PLAN_FILENAME)
        clone_venvs(source, target, [venv.name for venv in plan.venvs])
    donor = revision_json.read_metadata(str(source))
    assert donor is not None
    metadata = revision_json.make_metadata(
        str(target),
        plan_digest=plan.digest,
        venvs=donor["venvs"],
        python=donor["python"],
        rez_version=donor["rez_version"],
        session=donor["session"],
    )
    Path(paths.claim_file(str(target))).touch()
    mark_ready.write_metadata(str(target), metadata)


def files_naming(folder: Path, path: Path) -> list[str]:
    """Files under ``folder`` (but compiled bytecode) whose bytes name ``path``, and symbolic
    links that point there."""
    needle = str(path).encode()
    found = []
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            file = Path(dirpath, name)
            if file.is_symlink():
                if needle in os.fsencode(os.readlink(file)):
                    found.append(str(file))
            elif not name.endswith(".pyc") and needle in file.read_bytes():
                found.append(str(file))
    return found


def site_of(venv: Path) -> Path:
    return next((venv / "lib").glob("python*/site-packages"))


# --------------------------------------------------------------------------------------------
# Packages, wheels and indexes


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
    for dist_info in (revision / "venv" / venv).glob(
        f"lib/python*/site-packages/{package}-*.dist-info"
    ):
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
    them once the revision is ready (``bytecode_later.compile_later``)."""
    import time

    from rezup.stages import bytecode, bytecode_later
    from rezup.stages.plan import seed_packages

    deadline = time.monotonic() + timeout
    for venv in sorted((revision / "venv").iterdir()):
        [site] = venv.glob("lib/python*/site-packages")
        version = site.parent.name[len("python") :]
        seeds = bytecode.sources_of(site, seed_packages(version))
        while bytecode_later.missing_bytecode(venv, seeds):
            assert time.monotonic() < deadline, f"{venv}: seeds not compiled after {timeout}s"
            time.sleep(0.05)


# --------------------------------------------------------------------------------------------
# A local index on 127.0.0.1


class LocalIndex:
    """A folder served as a simple index on an ephemeral port of 127.0.0.1, in a thread.

    ``files/`` holds the wheels, ``simple/NAME/`` their pages (with sha256 fragments). With
    ``auth`` (user, password) every request without those Basic credentials gets a 401.
    ``requests`` records (path, whether it carried the right credentials).
    """

    def __init__(self, root: Path, auth: Optional[tuple[str, str]] = None) -> None:
        self.root = root
        self.auth = auth
        self.requests: list[tuple[str, bool]] = []
        (root / "files").mkdir(parents=True, exist_ok=True)
        (root / "simple").mkdir(exist_ok=True)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.base}/simple"

    def url_with(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self._server.server_address[1]}/simple"

    def add(self, name: str, version: str) -> Path:
        """A wheel of ``name`` ``version`` on the index (its page written anew)."""
        wheel = make_wheel(self.root / "files", name, version)
        page = self.root / "simple" / name
        page.mkdir(exist_ok=True)
        links = []
        for path in sorted((self.root / "files").glob(f"{name}-*.whl")):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            links.append(
                f'<a href="../../files/{path.name}#sha256={digest}">'
                f"{html.escape(path.name)}</a><br>"
            )
        (page / "index.html").write_text(
            "<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n",
            encoding="utf-8",
        )
        return wheel

    def saw(self, fragment: str, authorized: Optional[bool] = None) -> bool:
        return any(
            fragment in path and (authorized is None or ok == authorized)
            for path, ok in self.requests
        )

    def _handler(self) -> type[SimpleHTTPRequestHandler]:
        index = self
        expected = (
            None
            if self.auth is None
            else "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()
        )

        class Handler(SimpleHTTPRequestHandler):
            timeout = 30  # a stuck client cannot hold a thread for ever

            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, directory=str(index.root), **kwargs)

            def do_GET(self) -> None:
                ok = expected is not None and self.headers.get("Authorization") == expected
                index.requests.append((self.path, ok))
                if expected is not None and not ok:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="studio"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                super().do_GET()

            def log_message(self, *args) -> None:  # quiet
                pass

        return Handler

    def __enter__(self) -> LocalIndex:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


# -- the fault tests: running rezup as a module, its one error line, a full disk -----------------


def fill(path: Path) -> None:
    """Fill the filesystem of ``path`` to the last byte."""
    for name, chunk in (("filler", 65536), ("filler-tail", 1)):  # then the last partial block
        fd = os.open(path / name, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while True:
                os.write(fd, b"\0" * chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)


def rezup(
    env: dict[str, str], *args: str, timeout: float = 120, cwd: str | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rezup", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("rezup: error:")]
    assert len(errors) == 1, stderr
    assert len(errors[0]) <= 500, errors[0]
    return errors[0]


# `rezup use -- true` as the console script runs it, reporting the modules loaded when it
# execs the command (its own os.execve, wrapped): the modules the lean path loads, from
# `sys.modules`, which also holds those `entry._load_lean_modules` loads outside the import
# system (`python -X importtime` counts those within rezup.entry).
_USE_REPORTING_MODULES = """
import os, sys
execve = os.execve

def report(*args):
    sys.stderr.write("modules: " + " ".join(sorted(sys.modules)) + "\\n")
    sys.stderr.flush()
    execve(*args)

os.execve = report
sys.argv = ["rezup", "use", sys.argv[1], "--", "true"]
from rezup.entry import main
main()
"""


def lean_use_imports(env: dict[str, str], name: str = ".main") -> set[str]:
    """The modules ``rezup use NAME -- true`` has loaded when it execs the command, in
    ``env``."""
    done = subprocess.run(
        [sys.executable, "-c", _USE_REPORTING_MODULES, name],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    reports = [line for line in done.stderr.splitlines() if line.startswith("modules: ")]
    assert reports, done.stderr
    return set(reports[-1].split()[1:])
