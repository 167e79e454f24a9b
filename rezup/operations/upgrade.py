"""Auto-upgrade: at most once per ``REZUP_UPGRADE_PAUSE``, look for a newer rezup of the same
major version and, if there is one, upgrade the environment rezup runs from and restart the
same command line.

Where a newer release comes from: ``REZUP_UPGRADE_SOURCE`` (a source checkout of rezup, or a
folder of wheels), else the package index rezup installs from, with the index settings builds
use (``~/rezup.toml``'s ``[pip]``/``[uv]`` and the environment). uv installs it.

A job is never blocked or failed by this: the check times out after about a second; any
failure warns once, is recorded, and the command runs with the version at hand. Running rezup
processes of the same environment each hold a shared lock on it (``hold_environment``); the
upgrade takes it exclusively without waiting, so it never swaps files under a rezup at work:
when one is, the upgrade waits for a later launch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from packaging.version import Version

from rezup import __version__
from rezup.ground import paths, upgrade_check
from rezup.ground.errors import RezupError, one_line

log = logging.getLogger("rezup")

CHECK_TIMEOUT = 1.0  # seconds the index may take to answer
POSTPONE = 60.0  # seconds before trying again while other rezups are at work
ENVIRONMENT_LOCK = ".rezup-in-use.lock"  # in sys.prefix: held shared by every running rezup


class UpgradeError(RezupError):
    """Looking for, or installing, a newer rezup failed."""


# -- when and where --------------------------------------------------------------------------


def _state() -> Path:
    return Path(upgrade_check.upgrade_state_file())


def _record(**fields: object) -> None:
    """Write the per-user state; its mtime says when the last check was."""
    path = _state()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"checked": time.time(), **fields}), encoding="utf-8")


def _postpone() -> None:
    """Check again in ``POSTPONE`` seconds rather than after the whole pause."""
    _record(postponed=True)
    seconds = time.time() - upgrade_check.upgrade_pause() + POSTPONE
    with contextlib.suppress(OSError):
        os.utime(_state(), (seconds, seconds))


def _upgradable() -> Optional[str]:
    """Why this install is not upgraded automatically (None: it is)."""
    purelib = sysconfig.get_paths()["purelib"]
    if not (os.access(purelib, os.W_OK) and os.access(sys.prefix, os.W_OK)):
        return "the environment is not writable by this user"
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        direct_url = json.loads(distribution("rezup").read_text("direct_url.json") or "{}")
    except (PackageNotFoundError, ValueError):
        return None
    if direct_url.get("dir_info", {}).get("editable"):
        return "rezup is installed editable (a developer's checkout)"
    return None


@contextlib.contextmanager
def hold_environment(exclusive: bool = False) -> Iterator[bool]:
    """Hold the environment lock of this rezup install: shared by every rezup at work, or
    (``exclusive``, without waiting) by the one upgrading. Yields whether it is held; where it
    cannot be had (a read-only install) yields True for a shared hold and False for an
    exclusive one. Windows has no ``flock``: there the upgrade goes ahead unguarded."""
    if os.name == "nt":
        yield True
        return
    import fcntl

    path = os.path.join(sys.prefix, ENVIRONMENT_LOCK)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            yield not exclusive
            return
    try:
        if exclusive:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False
                return
        else:
            fcntl.flock(fd, fcntl.LOCK_SH)  # waits only while an upgrade is installing
        yield True
    finally:
        os.close(fd)


# -- what is there ---------------------------------------------------------------------------


def current_version() -> Version:
    from packaging.version import Version

    return Version(__version__)


def available_version(source: Optional[str] = None) -> tuple[Version, str]:
    """The newest release to be had, and what to install it from.

    ``source`` (default ``$REZUP_UPGRADE_SOURCE``): a source checkout of rezup (its version is
    read from ``rezup/__init__.py``) or a folder of wheels; else the package index.
    """
    source = os.environ.get("REZUP_UPGRADE_SOURCE", "") if source is None else source
    if source:
        return _version_in_source(Path(os.path.expanduser(source)))
    return _version_on_index()


_VERSION_LINE = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.M)


def _version_in_source(source: Path) -> tuple[Version, str]:
    init = source / "rezup" / "__init__.py"
    try:
        if init.is_file():
            found = _VERSION_LINE.search(init.read_text(encoding="utf-8"))
            if not found:
                raise UpgradeError(f"no __version__ in {init}")
            return _parse(found.group(1), str(init)), str(source)
        wheels = [w for w in source.glob("rezup-*.whl")] if source.is_dir() else []
    except OSError as exc:
        raise UpgradeError(f"cannot read REZUP_UPGRADE_SOURCE {source}: {one_line(exc)}") from None
    if not wheels:
        raise UpgradeError(
            f"REZUP_UPGRADE_SOURCE {source} is neither a rezup checkout nor a "
            "folder with rezup wheels"
        )
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    versions = []
    for wheel in wheels:
        with contextlib.suppress(InvalidWheelFilename):
            versions.append((parse_wheel_filename(wheel.name)[1], str(wheel)))
    if not versions:
        raise UpgradeError(f"no valid rezup wheel in {source}")
    return max(versions)


def _version_on_index() -> tuple[Version, str]:
    """Ask the index (through uv, as builds do) for the newest rezup; about a second at most."""
    from rezup.tools import uv_process

    options, env = _index_settings()
    try:
        out = uv_process.run(
            [
                "pip",
                "compile",
                "-",
                "--no-deps",
                "--quiet",
                "--no-header",
                "--no-annotate",
                "--python",
                sys.executable,
                "--no-python-downloads",
                *options,
            ],
            env={**env, "UV_HTTP_TIMEOUT": str(int(CHECK_TIMEOUT) or 1)},
            input_text="rezup\n",
            what="looking for a newer rezup",
            timeout=CHECK_TIMEOUT * 3,
        )
    except RezupError as exc:
        raise UpgradeError(str(exc)) from None
    found = re.search(r"^rezup==(\S+)", out, re.M)
    if not found:
        raise UpgradeError("the index names no rezup release")
    return _parse(found.group(1), "the index"), f"rezup=={found.group(1)}"


def _index_settings() -> tuple[list[str], dict[str, str]]:
    """The index options and environment builds of ``.main`` use."""
    from rezup.stages.installer_settings import installer_settings
    from rezup.stages.recipe_files import ContainerRecipe
    from rezup.tools import uv_options

    try:
        options, env = installer_settings(
            ContainerRecipe(paths.DEFAULT_CONTAINER).load(), warn=False
        )
    except RezupError:
        return [], {}
    index, _ = uv_options.split_index_options(options)
    return index, env


def _parse(text: str, where: str) -> Version:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        raise UpgradeError(f"{where}: {text!r} is not a version") from None


# -- upgrading -------------------------------------------------------------------------------


def upgrade_at_launch(argv: list[str]) -> None:
    """The check of a launch: upgrade and restart ``argv`` if a newer rezup of this major is
    there. Never raises: a failure warns once (it is recorded, and not tried again before the
    pause is over) and the launch goes on with this version."""
    why_not = _upgradable()
    if why_not is not None:
        _record(skipped=why_not)  # quietly: and only a stat until the pause is over
        return
    try:
        with hold_environment(exclusive=True) as alone:
            if not alone:
                _postpone()  # rezups are at work here: never swap files under them
                return
            upgraded = _check_and_install()
    except Exception as exc:  # never fail a job for this
        _record(failure=one_line(exc), failed=time.time())
        sys.stderr.write(
            f"rezup: warning: auto-upgrade failed ({one_line(exc)}); running "
            f"rezup {__version__}; set REZUP_NO_UPGRADE=1 to stop checking\n"
        )
        return
    if upgraded is not None:
        restart(argv, upgraded)


def _check_and_install() -> Optional[Version]:
    _record()  # checked now: concurrent launches do not check again
    latest, install_from = available_version()
    current = current_version()
    if latest <= current:
        return None
    if latest.major != current.major:
        _record(newer_major=str(latest))
        sys.stderr.write(
            f"rezup: rezup {latest} is out; major versions are not upgraded "
            "automatically (upgrade by hand when your recipes and scripts are "
            "ready)\n"
        )
        return None
    sys.stderr.write(f"rezup: upgrading rezup {current} to {latest}\n")
    install(install_from)
    _record(upgraded=str(latest), previous=str(current))
    return latest


def install(requirement: str) -> None:
    """Install ``requirement`` (a version pin, a checkout or a wheel) into this environment."""
    from rezup.tools import uv_process

    options, env = _index_settings() if requirement.startswith("rezup==") else ([], {})
    with _running_launcher_moved_aside():
        uv_process.run(
            [
                "pip",
                "install",
                "--quiet",
                "--python",
                sys.executable,
                "--compile-bytecode",
                "--reinstall-package",
                "rezup",
                requirement,
                *options,
            ],
            env=env,
            what="upgrading rezup",
        )


@contextlib.contextmanager
def _running_launcher_moved_aside() -> Iterator[None]:
    """On Windows a running ``rezup.exe`` cannot be replaced, but it can be renamed: move it
    aside so the install can write the new one (and put it back if the install fails). The
    old file is deleted by a later upgrade, once nothing runs it. Elsewhere, nothing to do.

    Written for Windows from its documented rules; not tested on a Windows machine here.
    """
    launcher = Path(sysconfig.get_paths()["scripts"]) / "rezup.exe"
    if os.name != "nt" or not launcher.exists():
        yield
        return
    for old in launcher.parent.glob("rezup.exe.old-*"):
        with contextlib.suppress(OSError):
            old.unlink()
    aside = launcher.with_name(f"rezup.exe.old-{os.getpid()}")
    os.replace(launcher, aside)
    try:
        yield
    except BaseException:
        if not launcher.exists():
            os.replace(aside, launcher)
        raise


def restart(argv: list[str], version: Version) -> None:
    """Run the same command line again, with the new rezup, exactly once."""
    sys.stderr.write(f"rezup: upgraded to rezup {version}; restarting\n")
    sys.stderr.flush()
    command = [sys.executable, "-m", "rezup", *argv]
    env = {**os.environ, "REZUP_UPGRADED": str(version)}
    if os.name == "nt":  # no exec: wait for it and exit with its code
        sys.exit(subprocess.call(command, env=env))
    os.execve(sys.executable, command, env)


def latest_message() -> str:
    """What ``rezup -L`` prints: the newest release to be had, and whether it is newer."""
    latest, _ = available_version()
    current = current_version()
    if latest <= current:
        return f"{latest} (rezup {current} is up to date)"
    note = (
        " (a new major version: not upgraded automatically)"
        if latest.major != current.major
        else ""
    )
    return f"{latest}{note}"
