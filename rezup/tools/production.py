"""Production install: console scripts in ``<venv>/bin/rez/`` with interpreter flags.

Rez counts as production-installed when ``<venv>/bin/rez/.rez_production_install`` exists, where
``<venv>`` is the prefix above the ``lib`` folder holding the ``rez`` package; its scripts also
warn unless that marker sits next to the script being run. So the console scripts that the
installer wrote into ``<venv>/bin`` are removed (uv writes a ``bin/rez`` *file*, which collides
with the ``bin/rez/`` folder) and regenerated into ``bin/rez/`` with ``-E`` (or the recipe's
flags), and the marker is written holding the rez version.
"""

from __future__ import annotations

import configparser
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.parse import unquote, urlparse

from packaging.utils import canonicalize_name

from rezup.ground import locations, paths
from rezup.ground.errors import BuildError

IS_WINDOWS = os.name == "nt"

# Prepended to an editable rez's scripts: rez finds its bin folder from where its package
# lives, which for an editable install is the source tree, not the venv. With
# REZUP_EDIT_IN_PRODUCTION set, the script tells rez where its production bin folder is.
_EDIT_PREAMBLE = """\
import os
if os.getenv("REZUP_EDIT_IN_PRODUCTION"):
    from rez.system import system
    system.rez_bin_path = {bin_path!r}
"""


def pyvenv_cfg(venv: Path) -> dict[str, str]:
    """The settings of a venv's ``pyvenv.cfg`` (keys in lower case); empty if unreadable."""
    found: dict[str, str] = {}
    try:
        with open(venv / "pyvenv.cfg", encoding="utf-8") as stream:
            for line in stream:
                key, sep, value = line.partition("=")
                if sep:
                    found[key.strip().lower()] = value.strip()
    except (OSError, UnicodeDecodeError):
        return {}
    return found


def pyvenv_version(venv: Path) -> Optional[str]:
    """The Python version ``pyvenv.cfg`` says the venv was made for (``version_info`` of uv
    and virtualenv, ``version`` of ``python -m venv``)."""
    found = pyvenv_cfg(venv)
    return found.get("version_info") or found.get("version") or None


def venv_python_tag(venv: Path) -> Optional[tuple[str, str]]:
    """(implementation in lower case, "major.minor") of a venv, from its ``pyvenv.cfg``: what
    its bytecode is valid for. None if unknown."""
    parts = (pyvenv_version(venv) or "").split(".")
    if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    implementation = pyvenv_cfg(venv).get("implementation", "CPython")
    return implementation.lower(), f"{parts[0]}.{parts[1]}"


def site_packages(venv: Path) -> Path:
    if IS_WINDOWS:
        return venv / "Lib" / "site-packages"
    libs = sorted((venv / "lib").glob("python*/site-packages"))
    if not libs:
        raise BuildError(f"no site-packages folder in venv {venv}")
    return libs[0]


@dataclass(frozen=True)
class Distribution:
    """What rezup needs to know of one installed distribution."""

    name: str
    version: str
    dist_info: Path

    def console_scripts(self) -> dict[str, str]:
        """``{script name: "module:function"}`` from entry_points.txt (console and gui)."""
        path = self.dist_info / "entry_points.txt"
        if not path.is_file():
            return {}
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # names as written
        parser.read(path, encoding="utf-8")
        scripts: dict[str, str] = {}
        for section in ("console_scripts", "gui_scripts"):
            if parser.has_section(section):
                scripts.update({k.strip(): v.strip() for k, v in parser.items(section)})
        return scripts

    def editable_source(self) -> Optional[Path]:
        """The source folder of an editable install, from PEP 610 ``direct_url.json``.

        uv writes no ``.egg-link`` file, so this is the one place the source is recorded.
        """
        path = self.dist_info / "direct_url.json"
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if not data.get("dir_info", {}).get("editable"):
            return None
        parsed = urlparse(data["url"])
        if parsed.scheme != "file":
            return None
        location = unquote(parsed.path)
        if IS_WINDOWS and re.match(r"^/[A-Za-z]:", location):
            location = location[1:]
        return Path(location)


def find_distribution(venv: Path, name: str) -> Distribution:
    """The installed distribution ``name`` in ``venv`` (by its dist-info folder)."""
    wanted = canonicalize_name(name)
    root = site_packages(venv)
    for dist_info in root.glob("*.dist-info"):
        stem = dist_info.name[: -len(".dist-info")]
        dist_name, _, version = stem.rpartition("-")
        if canonicalize_name(dist_name) == wanted:
            return Distribution(dist_name, version, dist_info)
    raise BuildError(
        f"package {name!r} is not installed in venv {venv.name} "
        "(is 'name' in the recipe the package's real name?)"
    )


def write_production_scripts(
    venv: Path,
    package: str,
    flags: Sequence[str],
    *,
    editable: bool = False,
) -> list[str]:
    """Move ``package``'s console scripts into ``bin/rez/`` with ``flags``. Returns their names."""
    dist = find_distribution(venv, package)
    scripts = dist.console_scripts()
    bin_dir = venv / paths.BIN_DIRNAME
    target = locations.production_bin_dir(venv)
    _remove_installer_scripts(bin_dir, scripts)
    target.mkdir(parents=True, exist_ok=True)
    if not scripts:
        return []

    preamble = ""
    if editable and canonicalize_name(package) == "rez":
        source = dist.editable_source()
        if source is None:
            raise BuildError(f"cannot find the source of editable {package} (no direct_url.json)")
        preamble = _EDIT_PREAMBLE.format(bin_path=str(target))

    _make_scripts(locations.venv_python(venv), target, scripts, list(flags), preamble)
    return sorted(scripts)


def remove_installer_scripts(venv: Path, package: str) -> None:
    """Delete the console scripts the installer wrote into ``<venv>/bin`` for ``package``.

    rez's own ``bin/rez`` file would otherwise block the ``bin/rez/`` production folder, also in
    an isolated extension's venv, where rez is only a library.
    """
    scripts = find_distribution(venv, package).console_scripts()
    _remove_installer_scripts(venv / paths.BIN_DIRNAME, scripts)


def _remove_installer_scripts(bin_dir: Path, scripts: dict[str, str]) -> None:
    for name in scripts:
        for candidate in (name, f"{name}.exe", f"{name}-script.py", f"{name}.cmd"):
            path = bin_dir / candidate
            if path.is_file() or path.is_symlink():
                path.unlink()


def _make_scripts(
    python: Path, target: Path, scripts: dict[str, str], flags: list[str], preamble: str
) -> None:
    """Write the scripts: plain text on POSIX, distlib's ``.exe`` launchers on Windows."""
    if IS_WINDOWS:
        _make_windows_launchers(python, target, scripts, flags, preamble)
        return
    header = posix_shebang(str(python), flags)
    for name, entry in scripts.items():
        path = target / name
        path.write_text(header + preamble + _entry_point_body(entry), encoding="utf-8")
        path.chmod(0o755)


# A POSIX kernel reads at most 127 bytes of a "#!" line and splits no arguments out of it
# beyond the first; longer or spaced interpreter paths start through /bin/sh instead (the
# same trick distlib and pip use). The line is a no-op string expression to Python.
_SHEBANG_LIMIT = 127


def posix_shebang(python: str, flags: Sequence[str]) -> str:
    """The first line(s) of a production script that runs ``python`` with ``flags``."""
    args = " ".join(flags)
    line = f"#!{python} {args}".rstrip()
    if len(line) <= _SHEBANG_LIMIT and " " not in python and len(flags) <= 1:
        return line + "\n"
    quoted = f'"{python}"' if " " in python else python
    command = f"{quoted} {args}".rstrip()
    return "#!/bin/sh\n" + f"'''exec' {command} " + '"$0" "$@"\n' + "' '''\n"


def _entry_point_body(entry: str) -> str:
    """Python that calls ``module:attr.sub`` and exits with what it returns."""
    module, _, qualname = entry.partition(":")
    attr = qualname.split(".", 1)[0].strip()
    return (
        "import sys\n"
        f"from {module.strip()} import {attr}\n"
        'if __name__ == "__main__":\n'
        f"    sys.exit({qualname.strip()}())\n"
    )


def _make_windows_launchers(
    python: Path, target: Path, scripts: dict[str, str], flags: list[str], preamble: str
) -> None:
    from distlib.scripts import ScriptMaker

    maker = ScriptMaker(source_dir=None, target_dir=str(target), add_launchers=True)
    maker.executable = str(python)
    maker.clobber = True
    maker.variants = {""}
    if preamble:
        maker.script_template = preamble + ScriptMaker.script_template
    options = {"interpreter_args": flags} if flags else None
    for name, entry in scripts.items():
        maker.make(f"{name} = {entry}", options=options)


def write_production_marker(venv: Path, rez_version: str) -> Path:
    """Write ``bin/rez/.rez_production_install`` (holding the rez version) in ``venv``."""
    target = locations.production_bin_dir(venv)
    target.mkdir(parents=True, exist_ok=True)
    marker = target / paths.PRODUCTION_MARKER
    marker.write_text(f"{rez_version}\n", encoding="utf-8")
    return marker
