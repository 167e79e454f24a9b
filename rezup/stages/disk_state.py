"""State: what is on disk in a container folder, and in which state each revision is.

A revision is *ready* if and only if its ``revision.json`` exists (and is readable: otherwise
it is *broken*); a folder without it is *building* while its build lock is held, *retired*
when it was dropped while in use (it is removed once free), else *incomplete* (a killed
build). This module reads; it never builds or removes anything (the stages and operations
above it do).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Optional, Union

from rezup.ground import locations, paths, revision_json, root_settings
from rezup.ground.errors import ContainerError


class ContainerDir:
    """A container's folder in one root (local, or remote: recipes and plans only)."""

    revision_class: ClassVar[type[RevisionDir]]  # what iterating yields (set below)

    def __init__(self, root: Union[str, os.PathLike], name: str, remote: bool = False) -> None:
        self._name = paths.check_container_name(name)
        self._root = Path(root)
        self._remote = remote
        self._path = self._root / self._name

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self._name!r}, remote={self._remote}, "
            f"path={str(self._path)!r})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ContainerDir) and self._path == other._path

    def __hash__(self) -> int:
        return hash(self._path)

    def name(self) -> str:
        return self._name

    def root(self) -> Path:
        return self._root

    def path(self) -> Path:
        return self._path

    def libs(self) -> Path:
        return locations.libs_dir(self._root, self._name)

    def revisions(self) -> Path:
        return locations.revisions_dir(self._root, self._name)

    def locks(self) -> Path:
        return locations.locks_dir(self._root, self._name)

    def lock_file(self, key: str) -> Path:
        return locations.lock_file(self._root, self._name, key)

    def is_exists(self) -> bool:
        return self._path.is_dir()

    def is_empty(self) -> bool:
        """No revision at all (ready or not)."""
        return next(self.iter_revision(), None) is None

    def is_remote(self) -> bool:
        return self._remote

    def revision(self, dirname: str) -> RevisionDir:
        return self.revision_class(self, dirname)

    def iter_revision(
        self, validate: bool = True, latest_first: bool = True
    ) -> Iterator[RevisionDir]:
        """Revisions ordered by time. ``validate``: only valid ones (they hold their recipe:
        built, or being built past its first step); else every timestamp-named folder, such
        as what a killed build left. Other names in ``revisions/`` are never revisions."""
        for name in paths.revision_names(self.revisions(), latest_first):
            revision = self.revision(name)
            if not validate or revision.is_valid():
                yield revision

    def get_latest_revision(self, only_ready: bool = True) -> Optional[RevisionDir]:
        for revision in self.iter_revision():
            if not only_ready or revision.is_ready():
                return revision
        return None

    def get_revision_by_time(
        self, timestamp: Any, fallback: bool = False, only_ready: bool = True
    ) -> Optional[RevisionDir]:
        """The revision made at ``timestamp`` (a datetime, float or folder name).

        With ``fallback``, the newest one made before it when there is no exact match.
        """
        wanted = timestamp.timestamp() if isinstance(timestamp, datetime) else float(timestamp)
        for revision in self.iter_revision(validate=only_ready):
            if only_ready and not revision.is_ready():
                continue
            seconds = revision.seconds()
            if seconds == wanted or (fallback and seconds <= wanted):
                return revision
        return None

    def new_revision_name(self) -> str:
        """A fresh timestamp folder name, never one already used in this container."""
        return paths.new_revision_name(self.revisions())


class RevisionDir:
    """One timestamp-named folder of a container."""

    def __init__(self, container: ContainerDir, dirname: str) -> None:
        self._container = container
        self._dirname = str(dirname)
        self._path = container.revisions() / self._dirname
        self._metadata: Optional[dict[str, Any]] = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(container={self._container.name()!r}, "
            f"dirname={self._dirname!r}, ready={self.is_ready()}, remote={self.is_remote()})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RevisionDir) and other._path == self._path

    def __hash__(self) -> int:
        return hash(self._path)

    def container(self) -> ContainerDir:
        return self._container

    def dirname(self) -> str:
        return self._dirname

    def path(self) -> Path:
        return self._path

    def seconds(self) -> float:
        return float(self._dirname)

    def timestamp(self) -> datetime:
        return paths.revision_time(self._dirname)

    def time_str(self) -> str:
        return self.timestamp().strftime("%d.%b.%y %H:%M")

    def is_valid(self) -> bool:
        """A folder named by a timestamp that holds a recipe (rezup 2.x meaning)."""
        return paths.is_timestamp(self._dirname) and (self._path / paths.RECIPE_FILENAME).is_file()

    def is_ready(self) -> bool:
        return revision_json.is_ready(self._path)

    def is_remote(self) -> bool:
        return self._container.is_remote()

    def is_usable(self) -> bool:
        """Ready, with a readable, well-formed ``revision.json``: fit to be entered."""
        if not self.is_ready():
            return False
        try:
            self.metadata()
        except ContainerError:
            return False
        return True

    def is_pulled(self) -> bool:
        """Whether this local revision was made from a remote one."""
        return bool(revision_json.pulled_from(self.metadata())) if self.is_ready() else False

    def metadata(self) -> dict[str, Any]:
        """The content of ``revision.json`` ({} if the revision is not ready).

        Raises ContainerError when it exists but cannot be read or is not a JSON object.
        """
        if self._metadata is None:
            try:
                metadata = revision_json.read_metadata(self._path)
            except ValueError as exc:
                raise ContainerError(f"revision {self._path} has a {exc}") from None
            if metadata is None:
                return {}
            self._metadata = metadata
        return self._metadata

    def state(self) -> Optional[str]:
        """``ready``, ``broken``, ``building`` (its lock is held), ``retired``, ``incomplete``,
        or None if the folder does not exist."""
        if not self._path.is_dir():
            return None
        if self.is_ready():
            try:
                self.metadata()
            except ContainerError:
                return "broken"
            return "ready"
        from rezup.tools.build_lock import is_held

        try:
            if is_held(self.lock_file()):
                return "building"
        except Exception:  # a lock that cannot be checked: not ours to use
            pass
        if (self._path / paths.RETIRED_METADATA_FILENAME).is_file():
            return "retired"
        return "incomplete"

    def recipe_text(self) -> str:
        return (self._path / paths.RECIPE_FILENAME).read_text(encoding="utf-8")

    def plan_path(self) -> Path:
        return self._path / paths.PLAN_FILENAME

    def location(self) -> str:
        """What a revision pulled from it records as ``pulled_from``."""
        return str(self._path)

    def has_plan(self) -> bool:
        """Whether it holds a plan (a revision rezup 2.x made or published has none)."""
        return self.plan_path().exists()

    def wheelhouse(self, plan: Any) -> Optional[str]:
        """The wheelhouse a pull of this (remote) revision installs from with no index, if it
        was published with one (``plan.wheels``)."""
        return str(self._path / paths.WHEELS_DIRNAME) if plan.wheels else None

    def plan(self):
        from rezup.stages.plan import Plan

        return Plan.read(self.plan_path())

    def venv_path(self, name: str = paths.REZ_VENV) -> Path:
        return locations.venv_dir(self._path, name)

    def production_bin_dirs(self) -> list[Path]:
        """Production bin folders of the rez venv and of isolated extension venvs (none while
        the revision is not ready)."""
        return [self._path / d for d in revision_json.session_bin_dirs(self.metadata())]

    def session(self) -> dict[str, Any]:
        """What a session in this revision needs (``bin_dirs``, ``env``, ``dotenv``).

        Recorded in ``revision.json`` by this rezup; for a revision made by rezup 2.x, read
        from the recipe it was made from, the way 2.x applied it.
        """
        metadata = self.metadata()
        if "session" in metadata:
            return dict(metadata["session"])
        from rezup.stages.recipe_loading import session_of_recipe

        try:
            text = self.recipe_text()
        except OSError:
            text = ""
        return {
            "bin_dirs": revision_json.session_bin_dirs(metadata),
            **session_of_recipe(text, self._path / paths.RECIPE_FILENAME),
        }

    def session_metadata(self) -> dict[str, Any]:
        """``metadata()`` with its ``session`` always there (see ``session``)."""
        return {**self.metadata(), "session": self.session()}

    def production_bin_dir(self, venv_name: str = paths.REZ_VENV) -> Path:
        return locations.production_bin_dir(self.venv_path(venv_name))

    def get_rez_version(self) -> Optional[str]:
        """The rez version of the revision: recorded in ``revision.json``, else (a revision made
        by rezup 2.x) in its production marker."""
        recorded = self.metadata().get("rez_version")
        if recorded:
            return recorded
        marker = self.production_bin_dir() / paths.PRODUCTION_MARKER
        try:
            return marker.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def python_version(self, venv_name: str = paths.REZ_VENV) -> Optional[str]:
        """The Python version of a venv: recorded (the rez venv's), else its ``pyvenv.cfg``."""
        recorded = self.metadata().get("python") if venv_name == paths.REZ_VENV else None
        if recorded:
            return recorded
        from rezup.tools.production import pyvenv_version

        return pyvenv_version(self.venv_path(venv_name))

    def lock_file(self) -> Path:
        return self._container.lock_file(self._dirname)


ContainerDir.revision_class = RevisionDir


def container_names(roots: list[str]) -> set[str]:
    """Names of the containers that have a folder of revisions in any of ``roots``."""
    names: set[str] = set()
    for root in roots:
        try:
            entries = os.listdir(root)
        except OSError:
            continue
        names.update(
            entry
            for entry in entries
            if paths.is_valid_container_name(entry)
            and os.path.isdir(paths.revisions_dir(root, entry))
        )
    return names


def recipe_container_names() -> set[str]:
    """Names of the containers that have a recipe in the home folder."""
    from rezup.stages.recipe_files import ContainerRecipe

    return {recipe.name() for recipe in ContainerRecipe.iter_recipes()}


def local_container_names() -> set[str]:
    """Containers this machine may have: in the local root, or named by a recipe (whose
    ``[root] local`` may place it elsewhere)."""
    return container_names([root_settings.local_root()]) | recipe_container_names()
