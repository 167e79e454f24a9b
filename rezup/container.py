"""Containers and revisions: where things are on disk and what state they are in.

Layout (compatible with rezup 2.x)::

    {root}/{container}/revisions/{timestamp}/   rezup.toml, plan.lock, revision.json, venv/...
    {root}/{container}/.locks/{timestamp}.lock  per-revision build locks
    {root}/{container}/libs/{name}/             deprecated [shared] packages

A revision is *ready* if and only if its ``revision.json`` exists. This module is on the
``rezup use`` start-up path: it imports nothing heavy at module level.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from rezup import fastpath
from rezup.errors import ContainerError
from rezup.recipe import (
    DEFAULT_CONTAINER_NAME,
    ContainerRecipe,
    read_root_settings,
    recipe_path_for,
    validate_container_name,
)

REVISIONS_DIRNAME = fastpath.REVISIONS_DIRNAME
METADATA_FILENAME = fastpath.METADATA_FILENAME  # the ready marker
RECIPE_FILENAME = "rezup.toml"  # the recipe as it was when the revision was made
VENV_DIRNAME = "venv"
LOCKS_DIRNAME = ".locks"


def local_root(recipe_root: str = "") -> Path:
    """The recipe's ``[root] local``, else ``$REZUP_ROOT_LOCAL``, else ``~/.rezup``."""
    return Path(fastpath.local_root(recipe_root))


def remote_root(recipe_root: str = "") -> Optional[Path]:
    """The recipe's ``[root] remote``, else ``$REZUP_ROOT_REMOTE``, else none."""
    root = fastpath.remote_root(recipe_root)
    return Path(root) if root else None


def get_container_root(recipe: ContainerRecipe, remote: bool = False) -> Optional[Path]:
    """Root folder of ``recipe``'s container, local or remote (rezup 2.x API)."""
    local, remote_setting = read_root_settings(recipe.path())
    return remote_root(remote_setting) if remote else local_root(local)


class Container:
    """A named stack of revisions in one root; the newest ready revision is the one in use.

    With a remote root (recipe ``[root] remote`` or ``$REZUP_ROOT_REMOTE``) the container is the
    remote one unless ``force_local`` is true; its revisions hold recipes and plans only.
    """

    DEFAULT_NAME = DEFAULT_CONTAINER_NAME

    def __init__(
        self,
        name: Optional[str] = None,
        recipe: Optional[ContainerRecipe] = None,
        force_local: bool = False,
        root: Optional[os.PathLike] = None,
    ) -> None:
        self._name = validate_container_name(name or self.DEFAULT_NAME)
        self._recipe = recipe
        if root is not None:
            self._root = Path(root)
            self._remote = False
        else:
            path = recipe.path() if recipe else recipe_path_for(self._name)
            local_setting, remote_setting = read_root_settings(path)
            remote = None if force_local else remote_root(remote_setting)
            self._remote = remote is not None
            self._root = remote if remote is not None else local_root(local_setting)
        self._path = self._root / self._name

    @classmethod
    def at(cls, name: str, root: os.PathLike, remote: bool = False) -> Container:
        container = cls(name, root=root)
        container._remote = remote
        return container

    def __repr__(self) -> str:
        return f"Container(name={self._name!r}, remote={self._remote}, path={str(self._path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Container) and self._path == other._path

    def __hash__(self) -> int:
        return hash(self._path)

    def name(self) -> str:
        return self._name

    def root(self) -> Path:
        return self._root

    def path(self) -> Path:
        return self._path

    def recipe(self) -> ContainerRecipe:
        if self._recipe is None:
            self._recipe = ContainerRecipe(self._name)
        return self._recipe

    def libs(self) -> Path:
        return self._path / "libs"

    def revisions(self) -> Path:
        return self._path / REVISIONS_DIRNAME

    def locks(self) -> Path:
        return self._path / LOCKS_DIRNAME

    def lock_file(self, dirname: str) -> Path:
        return self.locks() / f"{dirname}.lock"

    def is_exists(self) -> bool:
        return self._path.is_dir()

    def is_empty(self) -> bool:
        return self.get_latest_revision() is None

    def is_remote(self) -> bool:
        return self._remote

    def iter_revision(self, validate: bool = True, latest_first: bool = True) -> Iterator[Revision]:
        """Revisions ordered by timestamp. ``validate``: only folders named by a timestamp."""
        # digits only: float() also takes "nan", "inf", "1e9" and "1_0", which would sort
        # wrongly or win as "latest" forever
        names = fastpath.revision_names(str(self.revisions()), latest_first)
        if not validate:
            try:
                others = [n for n in os.listdir(self.revisions()) if not fastpath.is_timestamp(n)]
            except OSError:
                others = []
            names = names + sorted(others) if latest_first else sorted(others) + names
        for entry in names:
            yield Revision(self, entry)

    def get_latest_revision(self, only_ready: bool = True) -> Optional[Revision]:
        for revision in self.iter_revision():
            if not only_ready or revision.is_ready():
                return revision
        return None

    def get_revision_by_time(
        self, timestamp: Any, fallback: bool = False, only_ready: bool = True
    ) -> Optional[Revision]:
        """The revision made at ``timestamp`` (a datetime, float or folder name).

        With ``fallback``, the newest one made before it when there is no exact match.
        """
        wanted = _as_seconds(timestamp)
        for revision in self.iter_revision():
            if only_ready and not revision.is_ready():
                continue
            seconds = revision.seconds()
            if seconds == wanted or (fallback and seconds <= wanted):
                return revision
        return None

    def new_revision_name(self) -> str:
        """A fresh timestamp folder name, never one already used in this container."""
        stamp = time.time()
        while True:
            name = f"{stamp:.6f}"
            if not (self.revisions() / name).exists():
                return name
            stamp += 0.000001

    def purge(self) -> None:
        """Remove the container folder (see ``rezup.manage.drop`` for the safe version)."""
        from rezup.manage import drop_container

        drop_container(self)


def _as_seconds(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


class Revision:
    """One timestamp-named folder of a container."""

    def __init__(self, container: Container, dirname: str) -> None:
        self._container = container
        self._dirname = str(dirname)
        self._path = container.revisions() / self._dirname
        self._metadata: Optional[dict[str, Any]] = None

    def __repr__(self) -> str:
        return (f"Revision(container={self._container.name()!r}, dirname={self._dirname!r}, "
                f"ready={self.is_ready()}, remote={self.is_remote()})")

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Revision) and other._container.name() == self._container.name()
                and other._dirname == self._dirname)

    def __hash__(self) -> int:
        return hash((self._container.name(), self._dirname))

    def container(self) -> Container:
        return self._container

    def dirname(self) -> str:
        return self._dirname

    def path(self) -> Path:
        return self._path

    def seconds(self) -> float:
        return float(self._dirname)

    def timestamp(self) -> datetime:
        return datetime.fromtimestamp(self.seconds())

    def time_str(self) -> str:
        return self.timestamp().strftime("%d.%b.%y %H:%M")

    def is_valid(self) -> bool:
        """A folder named by a timestamp that holds a recipe (rezup 2.x meaning)."""
        try:
            self.seconds()
        except ValueError:
            return False
        return (self._path / RECIPE_FILENAME).is_file()

    def is_ready(self) -> bool:
        return (self._path / METADATA_FILENAME).is_file()

    def is_remote(self) -> bool:
        return self._container.is_remote()

    def is_pulled(self) -> bool:
        """Whether this local revision was made from a remote one."""
        return bool(self.metadata().get("pulled_from")) if self.is_ready() else False

    def metadata(self) -> dict[str, Any]:
        """The content of ``revision.json`` ({} if the revision is not ready)."""
        if self._metadata is None:
            try:
                with open(self._path / METADATA_FILENAME, encoding="utf-8") as stream:
                    self._metadata = json.load(stream)
            except FileNotFoundError:
                return {}
            except (OSError, ValueError) as exc:
                raise ContainerError(f"revision {self._path} has a broken revision.json: {exc}")\
                    from None
        return self._metadata

    def recipe_text(self) -> str:
        return (self._path / RECIPE_FILENAME).read_text(encoding="utf-8")

    def plan_path(self) -> Path:
        from rezup.plan import PLAN_FILENAME

        return self._path / PLAN_FILENAME

    def plan(self):
        from rezup.plan import Plan

        return Plan.read(self.plan_path())

    def venv_path(self, name: str = "rez") -> Path:
        return self._path / VENV_DIRNAME / name

    def production_bin_dirs(self) -> list[Path]:
        """Production bin folders of the rez venv and of isolated extension venvs."""
        return [self._path / d for d in fastpath.production_bin_dirs(self.metadata())]

    def production_bin_dir(self, venv_name: str = "rez") -> Path:
        from rezup.production import production_bin_dir

        return production_bin_dir(self.venv_path(venv_name))

    def get_rez_version(self) -> Optional[str]:
        return self.metadata().get("rez_version")

    def lock_file(self) -> Path:
        return self._container.lock_file(self._dirname)

    def purge(self) -> None:
        from rezup.build import remove_tree

        remove_tree(self._path)


def iter_containers() -> Iterator[Container]:
    """Containers named by recipes in the home folder, remote ones first (rezup 2.x API)."""
    for recipe in ContainerRecipe.iter_recipes():
        container = Container(recipe.name(), recipe)
        yield container
        if container.is_remote():
            yield Container(recipe.name(), recipe, force_local=True)
