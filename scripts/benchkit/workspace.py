"""The benchmark's temporary folder, the commands it measures and the environment of a run."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional

from .util import IS_WINDOWS, REPO, quiet_run, venv_rezup

# Variables that would make a run depend on the user's own setup rather than on the fresh
# HOME and caches each run gets.
# what else could name an index, dropped under ``--index pypi-like``
_INDEX_SETTINGS = (
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_NO_INDEX",
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
)
_DROPPED_ENV = {
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "UV_CACHE_DIR",
    "UV_PROJECT_ENVIRONMENT",
    "PIP_CACHE_DIR",
    "PIP_REQUIRE_VIRTUALENV",
    "VIRTUALENV_OVERRIDE_APP_DATA",
    "VIRTUALENV_APP_DATA",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    # Without cached bytecode every start of rezup (and of the original tool, and of pip in
    # it) would compile its modules again: not what an installed tool does.
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPYCACHEPREFIX",
}


def find_rezup(explicit: Optional[str]) -> Path:
    """``--rezup PATH``, else the repository's ``.venv``, else ``rezup`` on PATH."""
    candidates = [Path(explicit)] if explicit else [venv_rezup(REPO / ".venv")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.absolute()
    found = shutil.which("rezup")
    if found and not explicit:
        return Path(found)
    raise SystemExit(
        f"bench: cannot find the rezup command (tried {candidates[0]}); "
        "run `uv sync` in the repository or pass --rezup PATH"
    )


def rezup_venv_python(rezup: Path) -> Path:
    """The python of the venv ``rezup`` is installed in (next to it, or its shebang)."""
    python = rezup.parent / ("python.exe" if IS_WINDOWS else "python")
    if python.exists():
        return python
    first = rezup.read_text(encoding="utf-8", errors="replace").splitlines()[:1]
    if first and first[0].startswith("#!"):
        return Path(first[0][2:].strip().split()[0])
    return Path(sys.executable)


class Workspace:
    """One temporary folder holding all the benchmark writes (removed at the end unless
    ``keep``), the commands it measures, and the environment every run starts from: a
    fresh HOME, none of the user's REZUP_*/VIRTUAL_ENV/XDG_*/PYTHON* variables."""

    def __init__(
        self, rezup: Optional[str], keep: bool, rusage: bool, baseline: Optional[str] = None
    ) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="rezup-bench-"))
        self.keep = keep
        self.rezup = find_rezup(rezup)
        # another rezup (an older checkout's) measured beside this one, in the same rounds
        self.baseline = find_rezup(baseline) if baseline else None
        self.rezup_python = rezup_venv_python(self.rezup)
        self.misc_home = self.dir("home-misc")
        self.uv = self._find_uv()
        self.shared_uv_cache = self.dir("cache/uv")
        self.shared_pip_cache = self.dir("cache/pip")
        self.shared_venv_data = self.dir("cache/virtualenv")
        # set by ``--index pypi-like``: every tool resolves against this index alone
        self.index_url: Optional[str] = None
        self.gnu_time = None if rusage else self._find_gnu_time()

    def dir(self, relative: str) -> Path:
        """The folder ``relative`` in the temporary folder, made if missing."""
        path = self.tmp / relative
        path.mkdir(parents=True, exist_ok=True)
        return path

    def short(self, text: str) -> str:
        """``text`` with the temporary folder, run folders and revision names made generic,
        so that one failure reads the same in every run."""
        text = text.replace(str(self.tmp), "$TMP")
        text = re.sub(r"\$TMP/runs/[^/\s'\"]+", "$RUN", text)
        return re.sub(r"(revisions[/\\])\d{9,}\.\d+", r"\1<stamp>", text)

    # -- environment -------------------------------------------------------------------------

    def base_env(self, home: Path) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in _DROPPED_ENV and not k.startswith("REZUP_")
        }
        env["HOME"] = str(home)
        if IS_WINDOWS:
            env["USERPROFILE"] = str(home)
        env["REZUP_NO_UPGRADE"] = "1"
        if self.index_url:
            for name in _INDEX_SETTINGS:
                env.pop(name, None)
            env["PIP_INDEX_URL"] = env["UV_DEFAULT_INDEX"] = self.index_url
        return env

    def cache_env(self, env: dict[str, str], warm: bool, run_dir: Path) -> dict[str, str]:
        """Point uv, pip and virtualenv at the shared caches (warm) or at empty ones in
        ``run_dir`` (cold)."""
        if warm:
            env["UV_CACHE_DIR"] = str(self.shared_uv_cache)
            env["PIP_CACHE_DIR"] = str(self.shared_pip_cache)
            env["VIRTUALENV_OVERRIDE_APP_DATA"] = str(self.shared_venv_data)
        else:
            env["UV_CACHE_DIR"] = str(run_dir / "cache" / "uv")
            env["PIP_CACHE_DIR"] = str(run_dir / "cache" / "pip")
            env["VIRTUALENV_OVERRIDE_APP_DATA"] = str(run_dir / "cache" / "virtualenv")
        return env

    def use_env(self, home: Path, root: Path) -> dict[str, str]:
        """The environment of a command entering the local root ``root`` (nothing built).

        Auto-upgrade stays on, with a fresh check recorded: what `use` pays on a normal day
        (a ``stat`` of the state file), never a check itself."""
        env = self.base_env(home)
        env.pop("REZUP_NO_UPGRADE")
        env["REZUP_ROOT_LOCAL"] = str(root)
        state = self.dir("state")
        env["XDG_STATE_HOME"] = str(state)
        (state / "rezup").mkdir(exist_ok=True)
        (state / "rezup" / "upgrade.json").write_text("{}", encoding="utf-8")
        env["REZUP_UPGRADE_PAUSE"] = str(10 * 365 * 86400)
        return env

    def add_env(
        self, home: Path, root: Path, warm: bool = True, run_dir: Optional[Path] = None
    ) -> dict[str, str]:
        """The environment of a command building into the local root ``root``, with the
        caches of ``cache_env`` (cold ones in ``run_dir``)."""
        env = self.cache_env(self.base_env(home), warm, run_dir or home)
        env["REZUP_ROOT_LOCAL"] = str(root)
        return env

    @staticmethod
    def make_home(home: Path, recipe: str) -> Path:
        home.mkdir(parents=True, exist_ok=True)
        (home / "rezup.toml").write_text(recipe, encoding="utf-8")
        return home

    # -- tools -------------------------------------------------------------------------------

    def _find_gnu_time(self) -> Optional[str]:
        """GNU time, to read each command's max RSS (a Python wrapper's own size at fork would
        otherwise count towards it: ~10 MB, as much as ``python -c pass`` itself)."""
        if IS_WINDOWS or not os.path.isfile("/usr/bin/time"):
            return None
        done = quiet_run(["/usr/bin/time", "--version"], self.base_env(self.misc_home), self.tmp)
        return "/usr/bin/time" if "GNU" in done.stdout + done.stderr else None

    def _find_uv(self) -> str:
        if os.environ.get("UV"):
            return os.environ["UV"]
        done = quiet_run(
            [str(self.rezup_python), "-c", "import uv; print(uv.find_uv_bin())"],
            self.base_env(self.misc_home),
            self.tmp,
        )
        found = done.stdout.strip()
        if done.returncode == 0 and found and Path(found).exists():
            return found
        found = shutil.which("uv") or ""
        if not found:
            raise SystemExit("bench: cannot find uv (not in rezup's venv nor on PATH)")
        return found
