"""The donor index of a root: which ready revisions, in any container of the root, hold what a
new revision can reuse, so that a donor is found without looking through every container.

A donor gives a new revision its bytecode (``bytecode.donor_venv``: a venv with the same
Python) or all its venvs (``clone_donors``: the same plan, or the same recipe before the
resolve). A studio keeps several containers with the same rez (``.main``, ``dev``, one per
show, one per farm pool), and uv hard-links the same files into all of them from its cache,
so the revisions of one container serve every other as well as they serve their own.

On disk, in the root::

    #donors/                     ('#' is never in a container name: no container clashes)
        plan-<sha256 hex>/         a build (Plan.build_digest: the plan but for the container)
            dev@1796506491.361339  an empty file per ready revision: container@revision
        recipe-<sha256 hex>/       the bytes of the recipe a revision was made from
        pyc-<venv>-<python>/       a venv name and its Python (implementation and x.y)

A revision is entered once it is ready (``register``) and taken out before it is removed
(``forget``, called by every removal); the keys it was entered under are kept in its own
``.donor-keys``. Looking a key up lists one small folder (the revisions that hold it, not
the root), newest first with the asking container's own first. The index only points: each
candidate is checked as if it had been found by a scan (ready, not retired, not in a dropped
container, same filesystem, same Python) and an entry whose revision is no longer ready is
removed on sight, so a stale or lost index costs a build, never a wrong donor. Revisions made
before the index existed are found by the scan of the new revision's own container.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Optional

from rezup.ground import locations, paths, revision_json
from rezup.tools.production import venv_python_tag

log = logging.getLogger("rezup")

INDEX_DIRNAME = "#donors"
KEYS_FILENAME = ".donor-keys"  # in a revision: the keys it is entered under
_SEPARATOR = "@"  # container@revision: '@' is in neither
LOOKED_AT = 8  # candidates checked per look-up, at most


def plan_key(build_digest: str) -> str:
    return "plan-" + build_digest.rpartition(":")[2]


def recipe_key(recipe_text: str) -> str:
    return "recipe-" + hashlib.sha256(recipe_text.encode("utf-8")).hexdigest()


def bytecode_key(venv_name: str, implementation: str, version: str) -> str:
    """``implementation`` and ``version`` ("3.11") as ``bytecode._python_of`` gives them."""
    return f"pyc-{venv_name}-{implementation}{version}"


def revision_keys(
    revision: Path, build_digest: str, recipe_text: str, venv_names: Iterable[str]
) -> list[str]:
    """The keys a ready revision is entered under: its plan, its recipe, and the bytecode of
    each of its venvs."""
    keys = [plan_key(build_digest), recipe_key(recipe_text)]
    for name in venv_names:
        tag = venv_python_tag(locations.venv_dir(revision, name))
        if tag is not None:
            keys.append(bytecode_key(name, *tag))
    return keys


def root_of(revision: Path) -> Path:
    """The root of ``revision`` (``ROOT/CONTAINER/revisions/REVISION``)."""
    return revision.parent.parent.parent


def register(revision: Path, keys: Iterable[str]) -> None:
    """Enter the ready ``revision`` under ``keys``. Never fails: an index that cannot be
    written (a read-only root, a full disk) only means a later build finds no donor here."""
    keys = sorted(set(keys))
    entry = _entry_name(revision)
    index = root_of(revision) / INDEX_DIRNAME
    try:
        (revision / KEYS_FILENAME).write_text("".join(f"{key}\n" for key in keys), "utf-8")
        for key in keys:
            _create(index / key, entry)
    except OSError as exc:
        log.debug("cannot enter revision %s in the donor index: %s", revision, exc)


def forget(revision: Path) -> None:
    """Take ``revision`` out of the index (before it is removed): no build picks it from now
    on. A build that picked it just before holds a claim on it, which the removal respects."""
    try:
        keys = (revision / KEYS_FILENAME).read_text("utf-8").split()
    except OSError:
        return  # never entered (made before the index, or not ready)
    index = root_of(revision) / INDEX_DIRNAME
    entry = _entry_name(revision)
    for key in keys:
        _remove(index / key, entry)


def candidates(
    root: Path, key: str, *, prefer: str = "", skip: Optional[Path] = None
) -> list[Path]:
    """The ready revisions of ``root`` entered under ``key``: those of container ``prefer``
    first, each group newest first; at most ``LOOKED_AT``, never ``skip``. Entries whose
    revision is no longer ready are removed."""
    folder = root / INDEX_DIRNAME / key
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    entries = []
    for name in names:
        container, _, stamp = name.rpartition(_SEPARATOR)
        if container and paths.is_timestamp(stamp):
            entries.append((container != prefer, -float(stamp), container, stamp, name))
    found: list[Path] = []
    for _, _, container, stamp, name in sorted(entries):
        if len(found) >= LOOKED_AT:
            break
        revision = locations.revision_dir(root, container, stamp)
        if skip is not None and revision == skip:
            continue
        if not revision_json.is_ready(revision):  # removed or retired: never ready again
            _remove(folder, name)
            continue
        found.append(revision)
    return found


def donors(
    root: Path, key: Optional[str], container: str, *, skip: Optional[Path] = None, scan: int
) -> Iterator[Path]:
    """The candidate donors of a new revision of ``container``, best first: the ready
    revisions entered under ``key`` (any container, ``container``'s own first: ``candidates``),
    then those of ``container`` made before the index (newest first, at most ``scan``); none
    twice, never ``skip`` (the new revision), none of a container being dropped. No ``key``:
    the scan alone. Each is still to be checked by the caller (same Python, same plan...)."""
    seen: set[str] = set()
    indexed = candidates(root, key, prefer=container, skip=skip) if key is not None else []
    revisions = Path(paths.revisions_dir(root, container))
    try:
        names = paths.revision_names(revisions)
    except OSError:
        names = []
    skipped = os.path.abspath(skip) if skip is not None else None
    scanned = (
        revisions / name
        for name in names
        if os.path.abspath(revisions / name) != skipped and revision_json.is_ready(revisions / name)
    )
    for revision in itertools.chain(indexed, itertools.islice(scanned, max(scan, 0))):
        where = os.path.abspath(revision)
        if where in seen or (revision.parent.parent / paths.DROPPED_MARKER).exists():
            continue
        seen.add(where)
        yield revision


def _entry_name(revision: Path) -> str:
    return f"{revision.parent.parent.name}{_SEPARATOR}{revision.name}"


def _create(folder: Path, entry: str) -> None:
    for _ in range(3):  # the folder may be removed by a forget between the two steps
        folder.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(folder / entry, os.O_WRONLY | os.O_CREAT, 0o644))
            return
        except FileNotFoundError:
            continue


def _remove(folder: Path, entry: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        try:
            os.unlink(folder / entry)
        except OSError as exc:
            log.debug("cannot take %s out of the donor index: %s", entry, exc)
            return
    # the last entry of its key, then the last key of the root: no empty folders pile up,
    # and a root whose containers are all gone is empty again
    for empty in (folder, folder.parent):
        try:
            empty.rmdir()
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                log.debug("cannot remove %s: %s", empty, exc)
            return
