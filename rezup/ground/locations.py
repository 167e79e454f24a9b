"""Where things are on disk, as ``pathlib.Path``: the names and rules of ``paths``, for every
module above the lean ``use`` path.

``paths`` works in ``str`` because ``rezup use`` must not import ``pathlib`` (about a
millisecond); the rest of rezup works in ``Path``. This module is the one place that turns
the one into the other, so a location is spelled once and typed once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rezup.ground import paths
from rezup.ground.paths import REZ_VENV

if TYPE_CHECKING:
    from rezup.ground.paths import StrPath

__all__ = [
    "claim_file",
    "claims_dir",
    "libs_dir",
    "lock_file",
    "locks_dir",
    "production_bin_dir",
    "pull_failure_file",
    "pylock_file",
    "revision_dir",
    "revisions_dir",
    "venv_dir",
    "venv_python",
]


def revisions_dir(root: StrPath, container: str) -> Path:
    """``ROOT/CONTAINER/revisions``."""
    return Path(paths.revisions_dir(root, container))


def revision_dir(root: StrPath, container: str, stamp: str) -> Path:
    """``ROOT/CONTAINER/revisions/STAMP``."""
    return Path(paths.revisions_dir(root, container), stamp)


def locks_dir(root: StrPath, container: str) -> Path:
    return Path(paths.locks_dir(root, container))


def libs_dir(root: StrPath, container: str) -> Path:
    return Path(paths.libs_dir(root, container))


def lock_file(root: StrPath, container: str, key: str) -> Path:
    return Path(paths.lock_file(root, container, key))


def pull_failure_file(root: StrPath, container: str, stamp: str) -> Path:
    return Path(paths.pull_failure_file(root, container, stamp))


def claim_file(revision: StrPath) -> Path:
    return Path(paths.claim_file(revision))


def claims_dir(revision: StrPath) -> Path:
    return Path(paths.claims_dir(revision))


def venv_dir(revision: StrPath, venv: str = REZ_VENV) -> Path:
    return Path(paths.venv_dir(revision, venv))


def venv_python(venv: StrPath) -> Path:
    return Path(paths.venv_python(venv))


def production_bin_dir(venv: StrPath) -> Path:
    return Path(paths.production_bin_dir(venv))


def pylock_file(revision: StrPath, venv: str = REZ_VENV) -> Path:
    """The standard lock of venv ``venv`` in a revision folder (``paths.pylock_filename``)."""
    return Path(revision, paths.pylock_filename(venv))
