"""Wheelhouse: a wheel of every pinned requirement, stored in a remote revision.

A pull from such a revision installs with ``--no-index --find-links <wheels>``, so farm
machines need no index. uv has no ``pip download``; instead the pins are compiled once more to
a PEP 751 ``pylock.toml`` (which lists each file's URL and hash), the wheel that fits each
venv's interpreter is fetched and checked against its hash, and a package with no fitting
wheel is built from its sdist with ``uv build``.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import Any, Optional
from urllib.parse import unquote, urlparse

from rezup.errors import BuildError
from rezup.plan import Plan, VenvPlan

log = logging.getLogger("rezup")


def collect_wheels(plan: Plan, target: Path) -> list[Path]:
    """Fill ``target`` with wheels for the index requirements of every venv of ``plan``."""
    target.mkdir(parents=True, exist_ok=True)
    stored: list[Path] = []
    for venv in plan.venvs:
        for package in _locked_packages(plan, venv, target.parent):
            stored.append(_store_package(package, venv, target, plan))
    log.info("stored %d wheels in the remote revision", len(set(stored)))
    return stored


def _locked_packages(plan: Plan, venv: VenvPlan, cwd: Path) -> list[dict[str, Any]]:
    from rezup import uv
    from rezup._compat import tomllib

    pins = [_without_hashes(line) for line in venv.requirements if " @ " not in line]
    pins.extend(seed_packages(venv.python_version))
    text = uv.run(
        ["pip", "compile", "-", "--quiet", "--no-header", "--format", "pylock.toml",
         "--python", venv.python, "--no-python-downloads", *plan.uv_options],
        env=dict(plan.uv_env), cwd=cwd, input_text="\n".join(pins) + "\n",
        what=f"locating wheels of venv {venv.name!r}",
    )
    return tomllib.loads(text).get("packages", [])


def seed_packages(python_version: str) -> list[str]:
    """What ``uv venv --seed`` installs: pip, plus setuptools and wheel before Python 3.12."""
    major, minor = (int(part) for part in python_version.split(".")[:2])
    return ["pip"] if (major, minor) >= (3, 12) else ["pip", "setuptools", "wheel"]


def _without_hashes(line: str) -> str:
    return " ".join(part for part in line.split() if not part.startswith("--hash="))


def supported_tags(python_version: str) -> dict[Any, int]:
    """Wheel tags a CPython of ``python_version`` on this platform accepts, best first."""
    from packaging import tags

    major, minor = (int(part) for part in python_version.split(".")[:2])
    platforms = list(tags.platform_tags())
    ordered = [
        *tags.cpython_tags((major, minor), platforms=platforms),
        *tags.compatible_tags((major, minor), f"cp{major}{minor}", platforms),
    ]
    return {tag: rank for rank, tag in reversed(list(enumerate(ordered)))}


def pick_wheel(wheels: list[dict[str, Any]], python_version: str) -> Optional[dict[str, Any]]:
    """The best wheel entry of a pylock package for this interpreter, or None."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    ranks = supported_tags(python_version)
    best, best_rank = None, None
    for wheel in wheels:
        try:
            _, _, _, wheel_tags = parse_wheel_filename(_file_name(wheel))
        except InvalidWheelFilename:
            continue
        rank = min((ranks[tag] for tag in wheel_tags if tag in ranks), default=None)
        if rank is not None and (best_rank is None or rank < best_rank):
            best, best_rank = wheel, rank
    return best


def _file_name(entry: dict[str, Any]) -> str:
    if entry.get("name"):
        return entry["name"]
    location = entry.get("url") or entry.get("path") or ""
    return unquote(urlparse(location).path).rsplit("/", 1)[-1]


def _store_package(package: dict[str, Any], venv: VenvPlan, target: Path, plan: Plan) -> Path:
    name = f"{package.get('name')}=={package.get('version')}"
    wheel = pick_wheel(package.get("wheels", []), venv.python_version)
    if wheel is not None:
        destination = target / _file_name(wheel)
        if not destination.exists():
            _fetch(wheel, destination, name)
        return destination
    sdist = package.get("sdist")
    if not sdist:
        raise BuildError(f"no wheel of {name} fits Python {venv.python_version} and it has no "
                         "sdist to build one from")
    return _build_from_sdist(sdist, venv, target, plan, name)


def _fetch(entry: dict[str, Any], destination: Path, name: str) -> None:
    """Copy or download one file of a pylock entry to ``destination``, checking its hash."""
    location = entry.get("url") or entry.get("path")
    if not location:
        raise BuildError(f"the lock names no location for {name}")
    partial = destination.with_name(destination.name + ".part")
    try:
        parsed = urlparse(location)
        if parsed.scheme in ("http", "https"):
            with urllib.request.urlopen(location, timeout=120) as response, \
                    open(partial, "wb") as stream:
                shutil.copyfileobj(response, stream)
        else:
            source = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(location)
            shutil.copyfile(source, partial)
        expected = (entry.get("hashes") or {}).get("sha256")
        if expected:
            actual = hashlib.sha256(partial.read_bytes()).hexdigest()
            if actual != expected:
                raise BuildError(f"{name}: hash mismatch for {location} "
                                 f"(expected {expected}, got {actual})")
        partial.replace(destination)
    except OSError as exc:
        raise BuildError(f"cannot fetch {name} from {location}: {exc}") from None
    finally:
        if partial.exists():
            partial.unlink()


def _build_from_sdist(sdist: dict[str, Any], venv: VenvPlan, target: Path, plan: Plan,
                      name: str) -> Path:
    from rezup import uv

    with tempfile.TemporaryDirectory(prefix="rezup-sdist-") as scratch:
        archive = Path(scratch) / _file_name(sdist)
        _fetch(sdist, archive, name)
        out = Path(scratch) / "dist"
        uv.run(["build", "--wheel", "--python", venv.python, "--no-python-downloads",
                "--out-dir", str(out), str(archive)],
               env=dict(plan.uv_env), cwd=Path(scratch), what=f"building a wheel of {name}")
        built = sorted(out.glob("*.whl"))
        if not built:
            raise BuildError(f"building {name} from its sdist gave no wheel")
        destination = target / built[0].name
        shutil.move(str(built[0]), destination)
        return destination
