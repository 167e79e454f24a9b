"""Every file and folder name of a root, the container-name rule, the folders of a container
and its revisions, and revision names and dates.

Layout (compatible with rezup 2.x)::

    {root}/{container}/revisions/{timestamp}/   rezup.toml, plan.lock, revision.json, venv/...
                                                (and revision.marshal: see revision_json;
                                                pylock.{venv}.toml: see pylock_filename)
    {root}/{container}/.locks/{timestamp}.lock  per-revision build locks
    {root}/{container}/.newest                  the head of the revision listing (newest)
    {root}/{container}/libs/{name}/             deprecated [shared] packages

On the ``rezup use`` start-up path: imports only ``os`` at module level, works in ``str``.
"""

import os

# On the `rezup use` path: no `from __future__ import annotations` (an import of its own,
# ~0.15 ms) and no typing (milliseconds); annotations naming typing's types are strings.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime
    from typing import Union

    # a path as the layers above hand it: a Path, or the str of the lean path
    StrPath = Union[str, "os.PathLike[str]"]


# -- names ---------------------------------------------------------------------------------------

DEFAULT_CONTAINER = ".main"
RECIPE_FILENAME = "rezup.toml"  # in the home folder: .main's recipe; in a revision: its recipe
PLAN_FILENAME = "plan.lock"  # the pinned plan a revision was built from
PYLOCK_PREFIX, PYLOCK_SUFFIX = "pylock.", ".toml"  # a venv's standard lock: pylock_filename
METADATA_FILENAME = "revision.json"  # the ready marker, written last
METADATA_MARSHAL_FILENAME = "revision.marshal"  # revision.json for readers without json
RETIRED_METADATA_FILENAME = "revision.retired.json"  # what a dropped revision in use keeps
CLAIM_FILENAME = ".claim"  # sessions and jobs hold a shared flock on it (rezup.stages.claims)
CLAIMS_DIRNAME = ".claims"  # on shared roots: one record per job, that other hosts can read
REMOVING_FILENAME = ".removing"  # in CLAIMS_DIRNAME: a remover is checking the records
# the compiler of a venv's seed packages holds a lock on {revision}/.compiling-{venv}
COMPILING_PREFIX = ".compiling-"
DROPPED_MARKER = ".dropped"  # in a container dropped while revisions were in use
NEWEST_FILENAME = ".newest"  # in a container: the head of its revision listing (see below)
REVISIONS_DIRNAME = "revisions"
LOCKS_DIRNAME = ".locks"
LIBS_DIRNAME = "libs"  # deprecated [shared] packages
VENV_DIRNAME = "venv"
WHEELS_DIRNAME = "wheels"  # a remote revision's wheelhouse
REZ_VENV = "rez"  # the venv that holds rez; isolated extensions get one venv each
BIN_DIRNAME = "Scripts" if os.name == "nt" else "bin"
PRODUCTION_DIRNAME = "rez"  # <venv>/bin/rez/: the production scripts
PRODUCTION_MARKER = ".rez_production_install"
FIRST_REVISION_LOCK = "first-revision"  # the container lock of a first run

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-")


# -- containers and their recipes ----------------------------------------------------------------


def is_valid_container_name(name: str) -> bool:
    """Letters, digits, ``_ . + -``; not starting with ``-`` or ``+``; no ``..``; not ``.``."""
    return (
        bool(name)
        and name not in (".", "..")
        and ".." not in name
        and not name.startswith(("-", "+"))
        and all(char in _NAME_CHARS for char in name)
    )


def check_container_name(name: str) -> str:
    """``name`` if it is a valid container name, else a UsageError. Empty is never valid."""
    if not is_valid_container_name(name):
        from rezup.ground.errors import UsageError, quoted

        raise UsageError(
            f"invalid container name {quoted(name)}: use letters, digits, '.', "
            "'_', '-' and '+' only"
        )
    return name


# -- folders of a container ----------------------------------------------------------------------


def container_dir(root: str, name: str) -> str:
    return os.path.join(root, name)


def revisions_dir(root: "StrPath", name: str) -> str:
    return os.path.join(root, name, REVISIONS_DIRNAME)


def locks_dir(root: "StrPath", name: str) -> str:
    """Locks live outside ``revisions/``, so a lock file is never taken for a revision."""
    return os.path.join(root, name, LOCKS_DIRNAME)


def libs_dir(root: "StrPath", name: str) -> str:
    return os.path.join(root, name, LIBS_DIRNAME)


def lock_file(root: "StrPath", name: str, key: str) -> str:
    """The lock of revision ``key`` (a timestamp), or of another container-wide job."""
    return os.path.join(root, name, LOCKS_DIRNAME, f"{key}.lock")


def pull_failure_file(root: "StrPath", name: str, stamp: str) -> str:
    """Why the last pull of revision ``stamp`` failed (its age says when)."""
    return os.path.join(root, name, LOCKS_DIRNAME, f"{stamp}.failed")


def claim_file(revision_dir: "StrPath") -> str:
    """The file whose shared lock says that a session or job runs in the revision."""
    return os.path.join(revision_dir, CLAIM_FILENAME)


def claims_dir(revision_dir: "StrPath") -> str:
    """Where jobs on a shared root record their claims (``rezup.stages.claims``); a revision built
    on a local filesystem has none."""
    return os.path.join(revision_dir, CLAIMS_DIRNAME)


def venv_dir(revision_dir: "StrPath", venv: str = REZ_VENV) -> str:
    return os.path.join(revision_dir, VENV_DIRNAME, venv)


def venv_python(venv: "StrPath") -> str:
    """The interpreter of the venv at ``venv``."""
    return os.path.join(venv, BIN_DIRNAME, "python.exe" if os.name == "nt" else "python")


def production_bin_dir(venv: "StrPath") -> str:
    """``<venv>/bin/rez``: where the production scripts and the marker live."""
    return os.path.join(venv, BIN_DIRNAME, PRODUCTION_DIRNAME)


def pylock_filename(venv_name: str) -> str:
    """``pylock.{venv}.toml``: the standard (PEP 751) lock of venv ``venv_name`` that every
    revision holds beside its ``plan.lock``. The standard's names hold no dot, so a dot of
    the venv's name (an isolated extension ``zope.interface``) is written ``-``."""
    return f"{PYLOCK_PREFIX}{venv_name.replace('.', '-')}{PYLOCK_SUFFIX}"


def production_bin_relpath(venv_name: str) -> str:
    """The production bin folder of venv ``venv_name``, relative to its revision folder."""
    return f"{VENV_DIRNAME}/{venv_name}/{BIN_DIRNAME}/{PRODUCTION_DIRNAME}"


# -- revisions -----------------------------------------------------------------------------------


def is_timestamp(name: str) -> bool:
    """A revision folder name: digits with an optional fraction (not "nan", "1e9", "1_0")."""
    whole, _, fraction = name.partition(".")
    return (
        whole.isdigit()
        and whole.isascii()
        and (not fraction or (fraction.isdigit() and fraction.isascii()))
    )


def revision_names(revisions: "StrPath", latest_first: bool = True) -> "list[str]":
    """Timestamp-named entries of the folder ``revisions``, ordered by time.

    A missing folder has none; any other OSError (an unreadable or stale root) propagates.
    """
    try:
        names = [n for n in os.listdir(revisions) if is_timestamp(n)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    names.sort(key=float, reverse=latest_first)
    return names


def new_revision_name(revisions: "StrPath") -> str:
    """A fresh timestamp folder name (``time.time()``), never one used in ``revisions``."""
    import time

    stamp = time.time()
    while True:
        name = f"{stamp:.6f}"
        if not os.path.lexists(os.path.join(revisions, name)):
            return name
        stamp += 0.000001


def revision_time(name: str) -> "datetime":
    """When revision ``name`` was made (its folder name is the time)."""
    from datetime import datetime

    return datetime.fromtimestamp(float(name))


def format_revision_time(name: str) -> str:
    return revision_time(name).strftime("%Y-%m-%d %H:%M:%S")


def home_folder(env: "Mapping[str, str]") -> str:
    """The home folder a process with environment ``env`` has (pip, uv and netrc look there)."""
    return env.get("HOME") or env.get("USERPROFILE") or os.path.expanduser("~")
