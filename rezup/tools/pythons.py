"""Finding a Python interpreter: for a recipe's ``python`` (or ``add --python``), for no
request at all (the interpreter behind the running rezup), and for a plan made elsewhere.

A path is used as it is. A version (``3.12``, ``3``, ``>=3.10,<3.13``) is looked up by uv on
PATH and in uv's managed installs, then in the install folders of pyenv and asdf, which uv does
not search: a pyenv machine keeps its interpreters there and puts only *shims* on PATH, and a
shim for a version that is not selected fails when run, which makes uv give up altogether. So
uv looks with the shims taken off PATH, and the install folders are searched here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Optional

from rezup.ground.errors import BuildError, UvError
from rezup.tools import uv_process

_VERSION_FOLDER = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")  # CPython installs: 3.12.1


def install_roots() -> list[Path]:
    """Folders of per-version installs (``ROOT/3.12.1/bin/python``), in search order."""
    roots = []
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    roots.append(Path(pyenv) / "versions")
    asdf = os.environ.get("ASDF_DATA_DIR") or os.path.expanduser("~/.asdf")
    roots.append(Path(asdf) / "installs" / "python")
    return roots


def find_python(request: str) -> str:
    """The interpreter for ``request``: a path, or a version uv or the install folders know.

    Raises BuildError saying what was asked and where rezup looked.
    """
    if os.path.isabs(request) or os.sep in request or "/" in request:
        if os.path.isfile(request) and os.access(request, os.X_OK):
            return request
        raise BuildError(f"python = {request!r}: no such interpreter")
    try:
        return uv_find_python(request, env={"PATH": path_without_shims()})
    except UvError as exc:
        uv_said = exc.detail
    found = find_installed(request)
    if found is not None:
        return found
    searched = ", ".join(str(root) for root in install_roots())
    raise BuildError(
        f"no Python interpreter for python = {request!r}: uv says {uv_said!r}, "
        f"and there is none in {searched}; give the interpreter's path instead"
    )


def uv_find_python(request: str, *, env: Optional[Mapping[str, str]] = None) -> str:
    """Absolute path of the interpreter uv picks for ``request`` (version or path)."""
    out = uv_process.run(
        ["python", "find", "--no-project", "--no-python-downloads", request],
        env=env,
        what=f"finding Python {request}",
    )
    return out.strip()


def default_python() -> str:
    """The base interpreter behind the Python running rezup (not a venv's shim)."""
    if sys.prefix != sys.base_prefix:
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        candidates = (
            [Path(sys.base_prefix) / "python.exe"]
            if os.name == "nt"
            else [
                Path(sys.base_prefix) / "bin" / f"python{version}",
                Path(sys.base_prefix) / "bin" / "python3",
            ]
        )
        for candidate in candidates:
            if candidate.is_file():
                return str(candidate)
    return sys.executable


def find_pythons(requests: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Map each python request to (interpreter path, full version); the request ``""`` is
    the interpreter behind the running rezup (``default_python``)."""
    found: dict[str, tuple[str, str]] = {}
    for request in sorted(set(requests)):
        if request == "":
            found[request] = (default_python(), ".".join(map(str, sys.version_info[:3])))
            continue
        path = find_python(request)
        found[request] = (path, python_version_of(path))
    return found


def planned_python(python: str, request: str, version: str, venv_name: str) -> str:
    """The interpreter to build a planned venv with: the planned path ``python``, or the same
    ``request`` looked up here.

    A plan made on another machine names that machine's interpreter. If this machine has none
    there, the recipe's request is looked up again. Either way it must be the minor version
    the plan was resolved for (``version``): pins and wheels are only right for that one.
    """
    from packaging.version import Version

    if Path(python).exists():
        path = python
    elif request:
        path = find_python(request)
    else:
        raise BuildError(
            f"the plan's Python {python} does not exist on this machine; give the recipe "
            "an explicit 'python' that every machine has"
        )
    found = python_version_of(path)
    if Version(found).release[:2] != Version(version).release[:2]:
        raise BuildError(
            f"the plan needs Python {version} for venv {venv_name!r}; "
            f"this machine has {found} at {path}"
        )
    return path


def python_version_of(interpreter: str) -> str:
    """Full version (``3.11.7``) of an interpreter, by asking it."""
    try:
        out = subprocess.run(
            [interpreter, "-c", "import sys; print('.'.join(map(str, sys.version_info[:3])))"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise UvError(f"cannot run Python interpreter {interpreter}: {exc}") from None
    return out


def path_without_shims(path: Optional[str] = None) -> str:
    """PATH without the shim folders of pyenv and asdf."""
    entries = (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep)
    return os.pathsep.join(
        entry for entry in entries if os.path.basename(entry.rstrip("/\\")) != "shims"
    )


def find_installed(request: str) -> Optional[str]:
    """The newest interpreter in the install folders whose version ``request`` admits."""
    wanted = _admits(request)
    if wanted is None:
        return None
    candidates = []
    for root in install_roots():
        try:
            entries = list(os.scandir(root))
        except OSError:
            continue
        for entry in entries:
            match = _VERSION_FOLDER.match(entry.name)
            if not match or not wanted(entry.name):
                continue
            major, minor = match.group(1), match.group(2)
            for name in (f"python{major}.{minor}", f"python{major}", "python"):
                interpreter = Path(entry.path) / "bin" / name
                if interpreter.is_file() and os.access(interpreter, os.X_OK):
                    version = tuple(int(part or 0) for part in match.groups())
                    candidates.append((version, str(interpreter)))
                    break
    return max(candidates)[1] if candidates else None


def _admits(request: str):
    """A test of version strings for ``request``: a prefix (``3.12``) or specifiers."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    text = request.strip()
    if re.fullmatch(r"\d+(\.\d+){0,2}", text):
        return lambda version: version == text or version.startswith(text + ".")
    try:
        specifiers = SpecifierSet(text)
    except InvalidSpecifier:
        return None

    def admits(version: str) -> bool:
        try:
            return Version(version) in specifiers
        except InvalidVersion:
            return False

    return admits
