"""Where everything is: every file and folder name, the roots, the container-name rule, the
revision folders and their ``revision.json``, and which revision ``rezup use`` enters.

Layout (compatible with rezup 2.x)::

    {root}/{container}/revisions/{timestamp}/   rezup.toml, plan.lock, revision.json, venv/...
                                                (and revision.marshal: see read_metadata)
    {root}/{container}/.locks/{timestamp}.lock  per-revision build locks
    {root}/{container}/.newest                  the head of the revision listing (newest_first)
    {root}/{container}/libs/{name}/             deprecated [shared] packages

This module is on the ``rezup use NAME -- CMD`` start-up path, so it imports only ``os`` at
module level and works with plain string paths; everything else is imported where
it is needed (``json`` only for revisions without a valid ``revision.marshal``). It is the
lowest layer of the package: it imports no other rezup module except, lazily, ``errors``,
``fsutil`` and ``_compat``.
"""

import os

# On the `rezup use` path: no `from __future__ import annotations` (an import of its own,
# ~0.15 ms) and no typing (milliseconds); annotations naming typing's types are strings.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import datetime
    from typing import Any, Optional

# -- names ---------------------------------------------------------------------------------------

DEFAULT_CONTAINER = ".main"
RECIPE_FILENAME = "rezup.toml"  # in the home folder: .main's recipe; in a revision: its recipe
PLAN_FILENAME = "plan.lock"  # the pinned plan a revision was built from
METADATA_FILENAME = "revision.json"  # the ready marker, written last
METADATA_MARSHAL_FILENAME = "revision.marshal"  # revision.json for readers without json
RETIRED_METADATA_FILENAME = "revision.retired.json"  # what a dropped revision in use keeps
CLAIM_FILENAME = ".claim"  # sessions and jobs hold a shared flock on it (rezup.claims)
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
        from rezup.errors import UsageError, quoted

        raise UsageError(f"invalid container name {quoted(name)}: use letters, digits, '.', "
                         "'_', '-' and '+' only")
    return name


_recipe_dir_override: "Optional[str]" = None  # set by ContainerRecipe.RECIPES_DIR (2.x API)


def recipe_dir() -> str:
    """The folder that holds the recipes: the home folder (``$HOME`` on POSIX), unless a
    script set ``ContainerRecipe.RECIPES_DIR`` (or is inside ``provisional_recipes``)."""
    if _recipe_dir_override is not None:
        return _recipe_dir_override
    return os.path.expanduser("~")


def set_recipe_dir(path: "Optional[str]") -> None:
    """Look for recipes in ``path`` from now on (None: the home folder again)."""
    global _recipe_dir_override
    _recipe_dir_override = None if path is None else os.path.abspath(os.path.expanduser(path))


def recipe_file(name: str, folder: "Optional[str]" = None) -> str:
    """``~/rezup.toml`` for the default container, ``~/rezup.NAME.toml`` for any other."""
    folder = recipe_dir() if folder is None else folder
    if name == DEFAULT_CONTAINER:
        return os.path.join(folder, RECIPE_FILENAME)
    return os.path.join(folder, f"rezup.{name}.toml")


def container_of_recipe(filename: str) -> "Optional[str]":
    """The container a recipe file name is for (``rezup.dev.toml``: ``dev``), else None."""
    if filename == RECIPE_FILENAME:
        return DEFAULT_CONTAINER
    if filename.startswith("rezup.") and filename.endswith(".toml"):
        name = filename[len("rezup."):-len(".toml")]
        if is_valid_container_name(name):
            return name
    return None


def site_init_script() -> "Optional[str]":
    """The ``[init] script`` of ``~/rezup.toml`` (anchored at its folder), if it names one.

    Read on every launch, before any other setting: only when the file mentions ``init`` is
    it parsed. Raises RecipeError for a recipe that cannot be read or a value that is not a
    path.
    """
    path = recipe_file(DEFAULT_CONTAINER)
    text = read_recipe_text(path)
    if text is None or "init" not in text:
        return None
    init = parse_toml(text, path).get("init")
    if not isinstance(init, dict) or init.get("script") in (None, "", False):
        return None
    script = init["script"]
    if not isinstance(script, str):
        from rezup.errors import RecipeError, describe_type

        raise RecipeError(f"{path}: [init] script: must be a string, got "
                          f"{describe_type(script)}")
    return anchor_path(script, os.path.dirname(path))


# -- auto-upgrade --------------------------------------------------------------------------------

UPGRADE_STATE_FILENAME = "upgrade.json"  # its mtime is the time of the last check
DEFAULT_UPGRADE_PAUSE = 86400.0


def state_dir() -> str:
    """Where rezup keeps what it knows per user (the last upgrade check)."""
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~/AppData/Local")
        return os.path.join(base, "rezup")
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(base, "rezup")


def upgrade_state_file() -> str:
    return os.path.join(state_dir(), UPGRADE_STATE_FILENAME)


def upgrade_pause() -> float:
    """``$REZUP_UPGRADE_PAUSE`` seconds (a bad value counts as the default: an upgrade
    setting never stops a job)."""
    try:
        pause = float(os.environ.get("REZUP_UPGRADE_PAUSE") or DEFAULT_UPGRADE_PAUSE)
    except ValueError:
        return DEFAULT_UPGRADE_PAUSE
    return pause if 0 <= pause < float("inf") else DEFAULT_UPGRADE_PAUSE


def upgrade_check_due(own_args: "list[str]") -> bool:
    """Whether this launch should look for a newer rezup: not disabled, not just upgraded,
    not inside a session, not for -V/-h, and the last check older than the pause. Costs a
    ``stat`` when no check is due."""
    if os.environ.get("REZUP_NO_UPGRADE") or os.environ.get("REZUP_UPGRADED") or \
            os.environ.get("REZUP_CONTAINER"):
        return False
    if any(arg in ("--no-upgrade", "-V", "--version", "-h", "--help", "-L", "--latest")
           for arg in own_args):
        return False
    try:
        checked = os.stat(upgrade_state_file()).st_mtime
    except OSError:
        return True
    import time

    return time.time() - checked >= upgrade_pause()


# -- roots ---------------------------------------------------------------------------------------


def anchor_path(value: str, base_dir: str) -> str:
    """Expand ``~`` and make a relative path relative to ``base_dir``."""
    return os.path.abspath(os.path.join(base_dir, os.path.expanduser(value)))


def read_recipe_text(path: str) -> "Optional[str]":
    """The text of the recipe file at ``path``; None if there is none.

    Only a regular file is a recipe: a FIFO, a device or a folder is refused at once (opening
    a FIFO to read it would wait forever). Raises RecipeError.
    """
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        from rezup.errors import RecipeError

        if isinstance(exc, IsADirectoryError):
            raise RecipeError(f"{path}: a recipe must be a file, not a folder") from None
        raise RecipeError(f"{path}: cannot read recipe: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            from rezup.errors import RecipeError

            raise RecipeError(f"{path}: a recipe must be a regular file")
        with open(fd, encoding="utf-8", closefd=False) as stream:
            return stream.read()
    except (OSError, UnicodeDecodeError) as exc:
        from rezup.errors import RecipeError

        raise RecipeError(f"{path}: cannot read recipe: {exc}") from None
    finally:
        os.close(fd)


def parse_toml(text: str, label: str, parse_float: "Any" = float) -> "dict[str, Any]":
    """The data of recipe ``text``; a RecipeError naming ``label`` (and the line and column
    TOML reports) when it is not valid TOML."""
    from rezup._compat import tomllib
    from rezup.errors import RecipeError

    try:
        return tomllib.loads(text, parse_float=parse_float)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{label}: invalid TOML: {exc}") from None
    except RecursionError:
        raise RecipeError(f"{label}: invalid TOML: tables or arrays are nested too deeply") \
            from None


def read_root_settings(recipe_path: str) -> "tuple[str, str]":
    """``[root] local`` and ``[root] remote`` of the recipe at ``recipe_path``, anchored at its
    folder; ``""`` where unset (``""``, ``false``) or when there is no such file.

    Only this table is read (the rest of the recipe is not validated here): a typo in
    ``[env]`` must not stop a farm job from finding its container. Raises RecipeError.
    """
    text = read_recipe_text(recipe_path)
    if text is None or "root" not in text:  # no [root] table: skip the TOML parser
        return "", ""
    from rezup.errors import RecipeError

    root = parse_toml(text, recipe_path).get("root", {})
    if not isinstance(root, dict):
        raise RecipeError(f"{recipe_path}: [root] must be a table")
    base_dir = os.path.dirname(recipe_path)
    return (root_setting(root.get("local"), "local", recipe_path, base_dir),
            root_setting(root.get("remote"), "remote", recipe_path, base_dir))


def root_setting(value: "Any", key: str, label: str, base_dir: str) -> str:
    """One ``[root]`` value: ``""``, ``false`` or absent mean unset; a path is anchored."""
    if value is None or value is False or value == "":
        return ""
    if not isinstance(value, str):
        from rezup.errors import RecipeError, describe_type

        raise RecipeError(f"{label}: [root] {key}: must be a string, got {describe_type(value)}")
    return anchor_path(value, base_dir)


def local_root(setting: str = "") -> str:
    """The recipe's ``[root] local``, else ``$REZUP_ROOT_LOCAL``, else ``~/.rezup``."""
    root = setting or os.environ.get("REZUP_ROOT_LOCAL") or "~/.rezup"
    return os.path.abspath(os.path.expanduser(root))


def remote_root(setting: str = "") -> "Optional[str]":
    """The recipe's ``[root] remote``, else ``$REZUP_ROOT_REMOTE``, else None."""
    root = setting or os.environ.get("REZUP_ROOT_REMOTE")
    return os.path.abspath(os.path.expanduser(root)) if root else None


def container_roots(name: str, recipe_path: "Optional[str]" = None) -> "tuple[str, Optional[str]]":
    """(local root, remote root or None) of container ``name``, from its recipe's ``[root]``
    (or that of ``recipe_path``) and the environment. The one place roots are resolved."""
    local, remote = read_root_settings(recipe_path or recipe_file(name))
    return local_root(local), remote_root(remote)


# -- folders of a container ----------------------------------------------------------------------


def container_dir(root: str, name: str) -> str:
    return os.path.join(root, name)


def revisions_dir(root: str, name: str) -> str:
    return os.path.join(root, name, REVISIONS_DIRNAME)


def locks_dir(root: str, name: str) -> str:
    """Locks live outside ``revisions/``, so a lock file is never taken for a revision."""
    return os.path.join(root, name, LOCKS_DIRNAME)


def libs_dir(root: str, name: str) -> str:
    return os.path.join(root, name, LIBS_DIRNAME)


def lock_file(root: str, name: str, key: str) -> str:
    """The lock of revision ``key`` (a timestamp), or of another container-wide job."""
    return os.path.join(root, name, LOCKS_DIRNAME, f"{key}.lock")


def pull_failure_file(root: str, name: str, stamp: str) -> str:
    """Why the last pull of revision ``stamp`` failed (its age says when)."""
    return os.path.join(root, name, LOCKS_DIRNAME, f"{stamp}.failed")


def claim_file(revision_dir: str) -> str:
    """The file whose shared lock says that a session or job runs in the revision."""
    return os.path.join(revision_dir, CLAIM_FILENAME)


def claims_dir(revision_dir: str) -> str:
    """Where jobs on a shared root record their claims (``rezup.claims``); a revision built
    on a local filesystem has none."""
    return os.path.join(revision_dir, CLAIMS_DIRNAME)


def venv_dir(revision_dir: str, venv: str = REZ_VENV) -> str:
    return os.path.join(revision_dir, VENV_DIRNAME, venv)


def venv_python(venv: str) -> str:
    return os.path.join(venv, "Scripts", "python.exe") if os.name == "nt" else \
        os.path.join(venv, "bin", "python")


def production_bin_dir(venv: str) -> str:
    """``<venv>/bin/rez``: where the production scripts and the marker live."""
    return os.path.join(venv, BIN_DIRNAME, PRODUCTION_DIRNAME)


def production_bin_relpath(venv_name: str) -> str:
    """The production bin folder of venv ``venv_name``, relative to its revision folder."""
    return f"{VENV_DIRNAME}/{venv_name}/{BIN_DIRNAME}/{PRODUCTION_DIRNAME}"


# -- revisions -----------------------------------------------------------------------------------


def is_timestamp(name: str) -> bool:
    """A revision folder name: digits with an optional fraction (not "nan", "1e9", "1_0")."""
    whole, _, fraction = name.partition(".")
    return whole.isdigit() and whole.isascii() and (
        not fraction or (fraction.isdigit() and fraction.isascii())
    )


def revision_names(revisions: str, latest_first: bool = True) -> "list[str]":
    """Timestamp-named entries of the folder ``revisions``, ordered by time.

    A missing folder has none; any other OSError (an unreadable or stale root) propagates.
    """
    try:
        names = [n for n in os.listdir(revisions) if is_timestamp(n)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    names.sort(key=float, reverse=latest_first)
    return names


def new_revision_name(revisions: str) -> str:
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


# -- revision.json: the ready marker and the metadata --------------------------------------------


def is_ready(revision_dir: str) -> bool:
    """Whether the ready marker exists (it may still be unreadable: see ``read_metadata``)."""
    return os.path.isfile(os.path.join(revision_dir, METADATA_FILENAME))


def read_metadata(revision_dir: str) -> "Optional[dict[str, Any]]":
    """The metadata of a ready revision; None if it is not ready (no ``revision.json``).

    Raises ValueError (with the reason) when the file exists but is unreadable, not JSON, or
    not a JSON object: such a revision is never usable.

    ``revision.marshal`` (see ``write_metadata``) gives the same data without importing
    ``json`` (whose decoder imports ``re``: ~6 ms of a 20 ms ``rezup use``), but only when it
    holds the very bytes ``revision.json`` holds now; anything else is read from the JSON.
    """
    path = os.path.join(revision_dir, METADATA_FILENAME)
    try:
        with open(path, "rb") as stream:
            raw = stream.read()
    except FileNotFoundError:
        return None
    except OSError:
        raw = None  # the JSON reader below says why
    if raw is not None:
        data = _marshalled_metadata(revision_dir, raw)
        if data is not None:
            return data
    import json

    try:
        with open(path, encoding="utf-8") as stream:
            data = json.load(stream)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"cannot read {METADATA_FILENAME}: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"broken {METADATA_FILENAME}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"broken {METADATA_FILENAME}: not a JSON object")
    return data


_MARSHAL_TAG = "rezup revision.json 1"
_MARSHAL_VERSION = 4  # every Python rezup runs on (3.9+) reads it


def _marshalled_metadata(revision_dir: str, raw: bytes) -> "Optional[dict[str, Any]]":
    """The data of ``revision.marshal`` if it is the parsed form of ``raw`` (the bytes of
    ``revision.json`` now), else None: missing, unreadable, from an unknown format or
    another Python's marshal, or written for other content of ``revision.json``."""
    import marshal  # built in, and loaded already by the interpreter's start-up

    try:
        with open(os.path.join(revision_dir, METADATA_MARSHAL_FILENAME), "rb") as stream:
            data = marshal.loads(stream.read())
    except Exception:  # any failure only means: read the JSON
        return None
    if type(data) is tuple and len(data) == 3 and data[0] == _MARSHAL_TAG and \
            type(data[1]) is bytes and data[1] == raw and type(data[2]) is dict:
        return data[2]
    return None


def make_metadata(
    revision_dir: str,
    *,
    plan_digest: str,
    venvs: "list[str]",
    python: str,
    rez_version: "Optional[str]",
    session: "dict[str, Any]",
    **extra: "Any",
) -> "dict[str, Any]":
    """The content of ``revision.json``. Keys:

    ``rezup_version``, ``creator``, ``hostname``, ``created`` (seconds), ``revision_path``;
    ``plan_digest`` (of ``plan.lock``), ``venvs`` (names, the rez venv first), ``python`` (the
    rez venv's version), ``rez_version``; ``session`` (what ``rezup use`` needs: ``bin_dirs``
    relative to the revision, ``env`` as [key, value] pairs, ``dotenv`` files); and as the case
    may be ``remote`` (a published remote revision), ``pulled_from`` (the remote revision a
    local one was built from), ``build_seconds``.
    """
    import getpass
    import socket
    import time

    from rezup import __version__

    try:
        creator = getpass.getuser()
    except Exception:  # no user name in some containers
        creator = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return {
        "rezup_version": __version__,
        "creator": creator,
        "hostname": socket.gethostname(),
        "created": time.time(),
        "revision_path": revision_dir,
        "plan_digest": plan_digest,
        "venvs": list(venvs),
        "python": python,
        "rez_version": rez_version,
        "session": session,
        **extra,
    }


def write_metadata(revision_dir: str, metadata: "dict[str, Any]") -> None:
    """Write ``revision.json`` atomically: from that moment the revision is ready.

    A local revision (not ``remote``) also gets ``revision.marshal`` first: the same data in
    ``marshal`` form with the exact bytes of ``revision.json``, which readers check before
    trusting it (``read_metadata``). Then the container's ``.newest`` is brought up to date
    (``refresh_newest``) when ``revision_dir`` is a revision folder in place (a published
    revision is written in a staging folder: ``build.publish`` refreshes after the rename).
    """
    import contextlib
    import json
    from pathlib import Path

    from rezup.fsutil import write_atomic

    text = json.dumps(metadata, indent=2, sort_keys=True) + "\n"
    if not metadata.get("remote"):
        # without it readers read the JSON; a full disk fails the JSON below anyway
        with contextlib.suppress(OSError):
            _write_marshal(revision_dir, text)
    write_atomic(Path(revision_dir, METADATA_FILENAME), text)
    parent = os.path.dirname(os.path.abspath(revision_dir))
    if os.path.basename(parent) == REVISIONS_DIRNAME and \
            is_timestamp(os.path.basename(os.path.abspath(revision_dir))):
        refresh_newest(parent)


def _write_marshal(revision_dir: str, text: str) -> None:
    """``revision.marshal`` for the ``revision.json`` of content ``text``. Not flushed: a
    copy that does not match (a crash, another writer) is never used."""
    import json
    import marshal

    raw = text.encode("utf-8") if os.linesep == "\n" else \
        text.replace("\n", os.linesep).encode("utf-8")  # as a text-mode write leaves it
    data = (_MARSHAL_TAG, raw, json.loads(text))  # exactly what a JSON reader gets
    path = os.path.join(revision_dir, METADATA_MARSHAL_FILENAME)
    tmp = os.path.join(revision_dir, f".{METADATA_MARSHAL_FILENAME}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as stream:
            stream.write(marshal.dumps(data, _MARSHAL_VERSION))
        os.replace(tmp, path)  # never rewritten in place: it may be hard-linked elsewhere
    except BaseException:
        _remove(tmp)
        raise


def session_bin_dirs(metadata: "dict[str, Any]") -> "list[str]":
    """Production bin folders (relative to the revision) that a session puts on PATH."""
    session = metadata.get("session") or {}
    dirs = session.get("bin_dirs")
    if dirs is None:  # a revision written by rezup 2.x
        dirs = [production_bin_relpath(name) for name in metadata.get("venvs", [])]
    return list(dirs)


def pulled_from(metadata: "dict[str, Any]") -> str:
    """The remote revision folder a local revision was built from ('' if none)."""
    value = metadata.get("pulled_from")
    return value if isinstance(value, str) else ""


# -- which revision `rezup use` enters ------------------------------------------------------------


def newest_ready(revisions: str) -> "Optional[str]":
    """The newest revision in ``revisions`` whose ``revision.json`` exists (not read)."""
    for name in newest_first(revisions):
        if is_ready(os.path.join(revisions, name)):
            return name
    return None


def newest_usable(revisions: str, warn: "Optional[Callable[[str], None]]" = None
                  ) -> "tuple[Optional[str], Optional[dict[str, Any]]]":
    """The newest *usable* revision in ``revisions`` and its metadata: ready, and its
    ``revision.json`` readable and well-formed. Each broken one on the way is skipped, with
    ``warn(why)``: one broken revision never stops the use of an older one."""
    for name in newest_first(revisions):
        revision_dir = os.path.join(revisions, name)
        try:
            metadata = read_metadata(revision_dir)
        except ValueError as exc:
            if warn is not None:
                warn(f"skipping revision {revision_dir}: {exc}")
            continue
        if metadata is not None:
            return name, metadata
    return None, None


# -- .newest: the head of the listing, so that `use` need not list 10,000 revisions --------------
#
# ``{container}/.newest`` holds the first names of ``revision_names(revisions)`` (newest first,
# down to the newest usable revision), with the inode and the mtime of ``revisions/`` when
# they were listed. While that folder keeps both, no entry was added, removed or renamed in
# it, so the names are still the head of its listing, in the same order. Readers only take
# the names, never a verdict: every one is checked again exactly as the full listing would
# be (ready, readable), and when none of them is usable the rest of the listing follows.
# So ``.newest`` can make the choice faster, never different; a writer that lost a race
# can only leave one that is not trusted (the mtime moved on), and then readers list.
#
# Coarse timestamps: an entry added in the same clock tick as the last change before the
# listing would leave the mtime as it was. The writer therefore creates its file *before*
# it reads the mtime, and the head counts only if that file's own mtime (the filesystem's
# clock, also on NFS) is later than the folder's: every change after it is then stamped
# later still. A filesystem that does not move a folder's mtime when an entry is made in it
# gets no .newest at all. Readers never write it (read-only roots, and nothing to race).

_NEWEST_TAG = "rezup .newest 1"
_NEWEST_HEAD_MAX = 32  # names kept: incomplete or broken revisions above the newest usable


def newest_first(revisions: str) -> "Iterator[str]":
    """The names ``revision_names(revisions)`` gives, in its order, taking the first ones from
    ``.newest`` when it is trusted and listing the folder only if more are asked for."""
    head = _trusted_head(revisions)
    if head:
        yield from head
    seen = frozenset(head or ())
    for name in revision_names(revisions):
        if name not in seen:
            yield name


def _trusted_head(revisions: str) -> "Optional[tuple[str, ...]]":
    """The names ``.newest`` holds, if it describes ``revisions`` as it is now; else None."""
    import marshal

    try:
        with open(os.path.join(os.path.dirname(revisions), NEWEST_FILENAME), "rb") as stream:
            data = marshal.loads(stream.read())
        if type(data) is not tuple or len(data) != 5 or data[0] != _NEWEST_TAG:
            return None
        folder = _folder_stat(revisions)
    except Exception:
        return None
    _, inode, mtime_ns, stamp_ns, head = data
    if inode != folder.st_ino or mtime_ns != folder.st_mtime_ns or \
            type(stamp_ns) is not int or stamp_ns <= mtime_ns or type(head) is not tuple or \
            not all(type(name) is str and is_timestamp(name) for name in head):
        return None
    return head


def _folder_stat(path: str) -> "os.stat_result":
    """``stat`` of a folder through an open descriptor: NFS checks a folder's attributes
    again when it is opened (a plain ``stat`` may answer from its cache), and a folder that
    cannot be listed cannot be opened either."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def refresh_newest(revisions: str) -> bool:
    """Write ``.newest`` for the folder ``revisions`` as it is now; return whether it was.

    Called where a revision becomes ready or goes (``write_metadata``, a publish, removals).
    Never raises: without it readers list the folder, as they do for a root made by an older
    rezup. Writers take a lock on the container folder where they can, so that the last
    writer also listed last.
    """
    container = os.path.dirname(revisions)
    try:
        lock = _lock_folder(container)
    except Exception:
        return False
    try:
        return _write_newest(revisions, container)
    except Exception:
        return False
    finally:
        if lock is not None:
            os.close(lock)


def _lock_folder(folder: str) -> "Optional[int]":
    """An exclusive ``flock`` on ``folder`` itself (None where there is none, e.g. NFS): held
    for milliseconds, so waiting for it is short; after 2 seconds, go on without it."""
    if os.name == "nt":
        return None
    import fcntl
    import time

    fd = os.open(folder, os.O_RDONLY)
    deadline = time.monotonic() + 2.0
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                break
            time.sleep(0.002)
        except OSError:
            break
    os.close(fd)
    return None


def _write_newest(revisions: str, container: str) -> bool:
    import marshal
    import time

    path = os.path.join(container, NEWEST_FILENAME)
    tmp = os.path.join(container, f"{NEWEST_FILENAME}.{os.getpid()}.tmp")
    _remove(tmp)  # a new file: its mtime is the time of its creation
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        if os.stat(container).st_mtime_ns < os.fstat(fd).st_mtime_ns:
            # making a file in a folder did not move the folder's mtime: a filesystem (some
            # FUSE ones) whose folder mtimes say nothing, so none can be trusted here
            raise OSError("folder mtimes are not kept on this filesystem")
        for _ in range(25):  # up to ~50 ms for the clock to tick past the folder's last change
            stamp_ns = os.fstat(fd).st_mtime_ns
            folder = _folder_stat(revisions)
            if stamp_ns > folder.st_mtime_ns:
                break
            time.sleep(0.002)
            os.utime(fd if os.utime in os.supports_fd else tmp)  # a new stamp: now
        else:  # a clock too coarse (1 s): no .newest, readers list
            raise OSError("the filesystem clock did not move on")
        head = []
        for name in revision_names(revisions)[:_NEWEST_HEAD_MAX]:
            head.append(name)
            try:
                if read_metadata(os.path.join(revisions, name)) is not None:
                    break
            except ValueError:
                continue
        os.write(fd, marshal.dumps(
            (_NEWEST_TAG, folder.st_ino, folder.st_mtime_ns, stamp_ns, tuple(head)),
            _MARSHAL_VERSION))
    except BaseException:
        os.close(fd)
        _remove(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    return True


def _remove(path: str) -> None:
    import contextlib

    with contextlib.suppress(OSError):
        os.unlink(path)


def choose_revision(
    local_revisions: str,
    remote_revisions: "Optional[str]",
    warn: "Optional[Callable[[str], None]]" = None,
) -> "tuple[Optional[str], bool, Optional[dict[str, Any]]]":
    """The revision ``rezup use`` enters: (timestamp or None, whether it is the remote's, and
    the metadata of a local choice).

    With a remote root, the newest ready remote revision (to be entered as the local revision
    of the same name, pulled first if it is not usable here); else the newest usable local
    one. Raises RemoteRootError when the remote root cannot be read, OSError when the local
    one cannot.
    """
    if remote_revisions is not None:
        wanted = _newest_remote(local_revisions, remote_revisions)
        if wanted is not None:
            return wanted, True, None
        remote_root = os.path.dirname(os.path.dirname(remote_revisions))
        if warn is not None and not os.path.isdir(remote_root):
            what = "is not a folder" if os.path.exists(remote_root) else "does not exist"
            warn(f"the remote root {remote_root} {what}; using local revisions only")
    name, metadata = _newest_local(local_revisions, warn)
    return name, False, metadata


def _newest_local(local_revisions: str, warn: "Optional[Callable[[str], None]]"
                  ) -> "tuple[Optional[str], Optional[dict[str, Any]]]":
    """``newest_usable`` of the local root within ``remote_timeout``: a local root may be on
    a share too (a shared root), and a job must not hang with it. There is nothing to fall
    back to: past the deadline it is a ContainerError."""
    seconds = remote_timeout()
    try:
        return bounded(newest_usable, local_revisions, warn, seconds=seconds)
    except TimeoutError:
        from rezup.errors import ContainerError

        root = os.path.dirname(os.path.dirname(local_revisions))
        raise ContainerError(f"the root {root} did not answer within {seconds:g}s "
                             "(REZUP_REMOTE_TIMEOUT): is its file server down?") from None


# -- a remote root that does not answer ----------------------------------------------------------

DEFAULT_REMOTE_TIMEOUT = 5.0  # seconds a job waits for the remote root to answer
UNANSWERED_FILENAME = ".remote-unanswered"  # in a local container: when the remote hung


def remote_timeout() -> float:
    """``$REZUP_REMOTE_TIMEOUT``: how long a look at a root on the way to a job may take
    (seconds): the remote root, or a local root on a share."""
    value = os.environ.get("REZUP_REMOTE_TIMEOUT", "")
    if not value:
        return DEFAULT_REMOTE_TIMEOUT
    from rezup.settings import seconds_from_env

    return seconds_from_env("REZUP_REMOTE_TIMEOUT", DEFAULT_REMOTE_TIMEOUT)


def _newest_remote(local_revisions: str, remote_revisions: str) -> "Optional[str]":
    """``newest_ready`` of the remote, within ``remote_timeout``. A share that hangs (its
    server or the network gone under a hard mount) blocks the calls that touch it, so the
    look runs in a thread this process can leave behind (a blocked call on NFS or FUSE ends
    with the process); past the deadline, or within ``REZUP_PULL_RETRY`` of one recorded by
    an earlier job, it is a RemoteRootError (the caller falls back to a local revision)."""
    root = os.path.dirname(os.path.dirname(remote_revisions))
    record = os.path.join(os.path.dirname(local_revisions), UNANSWERED_FILENAME)
    seconds = remote_timeout()
    since = _recent_unanswered(record)
    if since is not None:
        from rezup.errors import RemoteRootError

        raise RemoteRootError(f"the remote root {root} did not answer within {seconds:g}s "
                              f"({since:.0f}s ago); not asked again yet (REZUP_PULL_RETRY)")
    try:
        return bounded(newest_ready, remote_revisions, seconds=seconds)
    except TimeoutError:
        try:
            os.makedirs(os.path.dirname(record), exist_ok=True)
            with open(record, "w", encoding="utf-8") as stream:
                stream.write(f"{root}\n")
        except OSError:  # a local root that cannot be written: later jobs wait again
            pass
        raise RemoteRootError(f"the remote root {root} did not answer within {seconds:g}s "
                              "(REZUP_REMOTE_TIMEOUT)") from None
    except OSError as exc:
        from rezup.errors import RemoteRootError

        raise RemoteRootError(f"cannot read the remote root {root}: {exc.strerror or exc}") \
            from None


def _recent_unanswered(record: str) -> "Optional[float]":
    """Seconds since an earlier job recorded that the remote did not answer, if that is
    less than ``REZUP_PULL_RETRY`` (default 300) ago."""
    import time

    try:
        age = time.time() - os.stat(record).st_mtime
    except OSError:
        return None
    value = os.environ.get("REZUP_PULL_RETRY", "")
    try:
        retry = float(value) if value else 300.0
    except ValueError:
        retry = 300.0
    if 0 <= age < retry:
        return age
    try:  # noqa: SIM105 - no contextlib on the lean path
        os.unlink(record)
    except OSError:
        pass
    return None


def bounded(call: "Callable[..., Any]", *args: "Any", seconds: float) -> "Any":
    """``call(*args)``, given at most ``seconds``: its result, its exception, or TimeoutError
    (the call goes on in a thread of its own that nobody waits for). ``_thread``: a built-in
    module, nothing to import on the lean path; the thread costs ~0.1 ms."""
    import _thread

    finished = _thread.allocate_lock()
    finished.acquire()
    outcome: list = []

    def run() -> None:
        try:
            outcome.append((True, call(*args)))
        except BaseException as exc:  # handed to the caller
            outcome.append((False, exc))
        finally:
            finished.release()

    _thread.start_new_thread(run, ())
    if not finished.acquire(True, seconds):
        raise TimeoutError(f"no answer within {seconds:g}s")
    ok, value = outcome[0]
    if ok:
        return value
    raise value
