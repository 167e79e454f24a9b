"""Wheelhouse: a wheel of every pinned requirement, stored in a remote revision.

A pull from such a revision installs with ``--no-index --find-links <wheels>``, so farm
machines need no index. uv has no ``pip download``; instead the pins are compiled once more to
a PEP 751 ``pylock.toml`` (which lists each file's URL and hash), the wheel that fits each
venv's interpreter is fetched and checked against its hash, and a package with no fitting
wheel is built from its sdist with ``uv build``.

A wheel built here is not a file the index published, so the plan's hashes do not cover it;
its hash is added to the plan (see ``collect_wheels``), which is why the remote revision's
plan is written only after its wheelhouse is filled.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import unquote, urlparse

from packaging.utils import canonicalize_name

from rezup.ground.errors import BuildError
from rezup.stages.plan import Plan, VenvPlan, major_minor, pinned, seed_packages

if TYPE_CHECKING:
    from rezup.tools.credentials import Downloader

log = logging.getLogger("rezup")


# (canonical package name, version) -> sha256 hex digests of wheels built from its sdist
BuiltHashes = dict[tuple[str, str], set[str]]


def collect_wheels(
    plan: Plan, target: Path, *, compiled: Optional[dict[str, tuple[str, str]]] = None
) -> Plan:
    """Fill ``target`` with wheels for the index requirements of every venv of ``plan``.

    Returns the plan to publish with them: ``plan`` itself, or, when a wheel had to be built
    from an sdist, ``plan`` with that wheel's hash added to the package's requirement lines. A
    pull installs from ``target`` with ``--no-index`` and uv checks every file against the
    line's hashes, which name only the files the index published; without the built wheel's
    hash the pull would fail with a hash mismatch.

    ``compiled`` receives, by venv, what uv was asked to lock and the lock it wrote, which
    the revision's standard lock reuses (``standard_locks.write_published``).
    """
    target.mkdir(parents=True, exist_ok=True)
    stored: set[Path] = set()
    built: BuiltHashes = {}
    downloader = downloader_for(plan)
    venvs = list(plan.venvs)
    if plan.shared:  # [shared] installs from the same wheelhouse, with the rez venv's Python
        venvs.append(
            VenvPlan(
                name="[shared]",
                python=plan.shared.python,
                python_request="",
                python_version=plan.venvs[0].python_version,
                requirements=plan.shared.requirements,
            )
        )
    for venv in venvs:
        for package in _locked_packages(plan, venv, compiled):
            path, was_built = _store_package(package, venv, target, plan, downloader)
            stored.add(path)
            if was_built:
                key = (canonicalize_name(str(package.get("name"))), str(package.get("version")))
                built.setdefault(key, set()).add(_sha256(path))
    log.info("stored %d wheels in the remote revision", len(stored))
    return with_extra_hashes(plan, built)


def with_extra_hashes(plan: Plan, hashes: Mapping[tuple[str, str], Iterable[str]]) -> Plan:
    """``plan`` with ``--hash=sha256:H`` added to each pinned line of a package in ``hashes``.

    ``hashes`` maps (canonical name, version) to sha256 hex digests. A line matches when it
    pins that package (PEP 503 names: ``Hello_Ext`` is ``hello-ext``) to that version with
    ``==``; direct references (``name @ url``) are left alone, and so are hashes a line has
    already. Every venv is updated, and ``[shared]``, which installs from the same wheelhouse.
    Returns ``plan`` itself when nothing changes.
    """
    wanted: dict[tuple[str, str], list[str]] = {
        (canonicalize_name(name), version): sorted(set(digests))
        for (name, version), digests in hashes.items()
    }
    if not wanted:
        return plan

    def update(lines: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_add_hashes(line, wanted) for line in lines)

    venvs = tuple(replace(venv, requirements=update(venv.requirements)) for venv in plan.venvs)
    shared = (
        replace(plan.shared, requirements=update(plan.shared.requirements)) if plan.shared else None
    )
    updated = replace(plan, venvs=venvs, shared=shared)
    return plan if updated == plan else updated


def _add_hashes(line: str, wanted: Mapping[tuple[str, str], list[str]]) -> str:
    pin = pinned(line)
    if pin is None:
        return line
    name, version = pin
    digests = [
        digest
        for (want_name, want_version), found in wanted.items()
        if want_name == name and _same_version(want_version, version)
        for digest in found
    ]
    present = set(line.split())
    extra = [
        f"--hash=sha256:{digest}" for digest in digests if f"--hash=sha256:{digest}" not in present
    ]
    return " ".join([line.rstrip(), *extra]) if extra else line


def _same_version(left: str, right: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(left) == Version(right)
    except InvalidVersion:
        return left == right


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _locked_packages(
    plan: Plan, venv: VenvPlan, compiled: Optional[dict[str, tuple[str, str]]] = None
) -> list[dict[str, Any]]:
    from rezup.ground.compat import tomllib
    from rezup.tools import uv_commands

    pins = [_without_hashes(line) for line in venv.requirements if " @ " not in line]
    if not plan.pinned_seeds:  # an earlier plan: the pull seeds its venvs from the wheelhouse
        pins.extend(seed_packages(venv.python_version))
    asked = "\n".join(pins) + "\n"
    text = uv_commands.compile_pylock(
        asked,
        venv.python,
        options=plan.uv_options,
        env=dict(plan.uv_env),
        what=f"locating wheels of venv {venv.name!r}",
    )
    if compiled is not None:
        compiled[venv.name] = (asked, text)
    return tomllib.loads(text).get("packages", [])


def downloader_for(plan: Plan) -> Downloader:
    """A downloader that reaches the plan's indexes as uv does: the process environment with
    the plan's variables over it, the indexes of its options and variables, their
    credentials, the insecure hosts and the keyring provider."""
    from rezup.tools import uv_options
    from rezup.tools.credentials import CredentialFinder, Downloader, http_timeout

    env = {**os.environ, **dict(plan.uv_env)}
    options = list(plan.uv_options)
    keyring = uv_options.option_values(options, env, "UV_KEYRING_PROVIDER")[:1] == ["subprocess"]
    finder = CredentialFinder(uv_options.index_locations(options, env), env, keyring=keyring)
    return Downloader(
        finder,
        env,
        uv_options.option_values(options, env, "UV_INSECURE_HOST"),
        timeout=http_timeout(env),
    )


def _without_hashes(line: str) -> str:
    return " ".join(part for part in line.split() if not part.startswith("--hash="))


def supported_tags(python_version: str) -> dict[Any, int]:
    """Wheel tags a CPython of ``python_version`` on this platform accepts, best first."""
    from packaging import tags

    major, minor = major_minor(python_version)
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


def _store_package(
    package: dict[str, Any], venv: VenvPlan, target: Path, plan: Plan, downloader: Downloader
) -> tuple[Path, bool]:
    """Store the wheel of one pylock package; return its path and whether rezup built it."""
    name = f"{package.get('name')}=={package.get('version')}"
    wheel = pick_wheel(package.get("wheels", []), venv.python_version)
    if wheel is not None:
        destination = target / _file_name(wheel)
        if not destination.exists():
            _fetch(wheel, destination, name, downloader)
        return destination, False
    sdist = package.get("sdist")
    if not sdist:
        raise BuildError(
            f"no wheel of {name} fits Python {venv.python_version} and it has no "
            "sdist to build one from"
        )
    return _build_from_sdist(sdist, venv, target, plan, name, downloader), True


def _fetch(entry: dict[str, Any], destination: Path, name: str, downloader: Downloader) -> None:
    """Copy or download one file of a pylock entry to ``destination``, checking its hash.

    Downloads authenticate as uv does (``rezup.tools.credentials``): an index that asks for
    credentials gets those uv would send it, and none found is a one-line BuildError.
    """
    from rezup.tools.credentials import redact

    location = entry.get("url") or entry.get("path")
    if not location:
        raise BuildError(f"the lock names no location for {name}")
    partial = destination.with_name(destination.name + ".part")
    try:
        parsed = urlparse(location)
        if parsed.scheme in ("http", "https"):
            with downloader.open(location) as response, open(partial, "wb") as stream:
                shutil.copyfileobj(response, stream)
        else:
            source = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(location)
            shutil.copyfile(source, partial)
        expected = (entry.get("hashes") or {}).get("sha256")
        if expected:
            actual = _sha256(partial)
            if actual != expected:
                raise BuildError(
                    f"{name}: hash mismatch for {redact(location)} "
                    f"(expected {expected}, got {actual})"
                )
        partial.replace(destination)
    except OSError as exc:
        raise BuildError(f"cannot fetch {name} from {redact(location)}: {exc}") from None
    finally:
        if partial.exists():
            partial.unlink()


def _build_from_sdist(
    sdist: dict[str, Any],
    venv: VenvPlan,
    target: Path,
    plan: Plan,
    name: str,
    downloader: Downloader,
) -> Path:
    from rezup.tools import uv_commands

    with tempfile.TemporaryDirectory(prefix="rezup-sdist-") as scratch:
        archive = Path(scratch) / _file_name(sdist)
        _fetch(sdist, archive, name, downloader)
        out = Path(scratch) / "dist"
        uv_commands.build_wheel(
            archive, venv.python, out, env=dict(plan.uv_env), what=f"building a wheel of {name}"
        )
        built = sorted(out.glob("*.whl"))
        if not built:
            raise BuildError(f"building {name} from its sdist gave no wheel")
        destination = target / built[0].name
        # another venv may have stored this wheel already: keep that one (its hash is noted)
        if not destination.exists():
            shutil.move(str(built[0]), destination)
        return destination
