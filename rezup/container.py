"""The rezup 2.x Python API: ``Container`` and ``Revision``.

They are the state classes (``rezup.stages.disk_state``) with what a studio script also asks
of them: roots resolved from the container's recipe, making and pulling revisions, entering them,
removing them. Those are done by the operations, as the command line does them; nothing below
this module imports it. Where rezup 2.x had a plain bug the name is kept and the behaviour made
correct and safe (``docs/python-api.md`` lists the differences).
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from rezup.ground import paths, root_settings
from rezup.ground.errors import ContainerError
from rezup.stages.disk_state import ContainerDir, RevisionDir
from rezup.stages.recipe_files import ContainerRecipe, RevisionRecipe

log = logging.getLogger("rezup")


class Container(ContainerDir):
    """A named stack of revisions in one root; the newest ready revision is the one in use.

    With a remote root (recipe ``[root] remote`` or ``$REZUP_ROOT_REMOTE``) the container is the
    remote one unless ``force_local`` is true; its revisions hold recipes and plans only.
    """

    DEFAULT_NAME = paths.DEFAULT_CONTAINER

    if TYPE_CHECKING:  # the same methods, yielding this API's Revision (revision_class)

        def revision(self, dirname: str) -> Revision: ...

        def iter_revision(
            self, validate: bool = True, latest_first: bool = True
        ) -> Iterator[Revision]: ...

        def get_latest_revision(self, only_ready: bool = True) -> Optional[Revision]: ...

        def get_revision_by_time(
            self, timestamp: Any, fallback: bool = False, only_ready: bool = True
        ) -> Optional[Revision]: ...

    def __init__(
        self,
        name: Optional[str] = None,
        recipe: Optional[ContainerRecipe] = None,
        force_local: bool = False,
        root: Optional[Union[str, os.PathLike]] = None,
    ) -> None:
        name = paths.check_container_name(self.DEFAULT_NAME if name is None else name)
        self._recipe = recipe
        if root is not None:
            super().__init__(root, name)
            return
        local, remote = root_settings.container_roots(name, str(recipe.path()) if recipe else None)
        if remote is not None and not force_local:
            if root_settings.is_url(remote):
                raise ContainerError(
                    f"the remote root of {name} is served over HTTP ({remote}): the Python API "
                    "reads folder roots; use Container(name, force_local=True), or "
                    "Container.at(name, FOLDER, remote=True) for the folder the server serves"
                )
            super().__init__(remote, name, remote=True)
        else:
            super().__init__(local, name)

    @classmethod
    def create(cls, name: Optional[str] = None, force_local: bool = False) -> Container:
        """The container ``name``, its recipe file written (the default) if there is none yet.
        No folder is made until its first revision."""
        recipe = ContainerRecipe(name)
        if not recipe.is_file():
            recipe.create()
        return cls(name, recipe, force_local=force_local)

    @classmethod
    def at(cls, name: str, root: Union[str, os.PathLike], remote: bool = False) -> Container:
        """Container ``name`` in the given root, whatever its recipe says."""
        container = cls(name, root=root)
        container._remote = remote
        return container

    def recipe(self) -> ContainerRecipe:
        if self._recipe is None:
            self._recipe = ContainerRecipe(self._name)
        return self._recipe

    def new_revision(self) -> Revision:
        """Make a new revision from the container's recipe: built here (a local container), or
        published (a remote one), as ``rezup add`` does. Returns it, ready."""
        from rezup.operations.add import build_new_local_revision, publish_revision

        recipe = self.recipe().load()
        if self.is_remote():
            made = publish_revision(self, recipe)
        else:
            made = build_new_local_revision(self, recipe)
        return self.revision(made.dirname())

    def purge(self) -> None:
        """Remove the container, never a revision in use: those are hidden at once and removed
        by a later rezup run once free (``rezup drop``). Refused while a revision is being
        built. Unlike rezup 2.x, a container with revisions can be purged."""
        from rezup.operations.drop import drop_container

        drop_container(self)


class Revision(RevisionDir):
    """One timestamp-named folder of a container."""

    if TYPE_CHECKING:
        _container: Container  # this API's revisions belong to this API's containers

    def __init__(self, container: ContainerDir, dirname: Optional[str] = None) -> None:
        super().__init__(
            container, dirname if dirname is not None else container.new_revision_name()
        )

    @classmethod
    def compose_path(cls, container: ContainerDir, dirname: Optional[str] = None) -> Path:
        return container.revisions() / dirname if dirname else container.revisions()

    @classmethod
    def create(cls, container: Container) -> Revision:
        """A new revision of ``container``, made and ready (``container.new_revision()``)."""
        return container.new_revision()

    def validate(self) -> bool:
        return self.is_valid()

    def metadata(self) -> Optional[dict[str, Any]]:  # type: ignore[override]  # 2.x: None
        """The content of ``revision.json``; None while the revision is not ready."""
        return super().metadata() if self.is_ready() else None

    def recipe(self) -> Optional[RevisionRecipe]:
        """The recipe the revision was made from, as a dict; None if it has none."""
        return RevisionRecipe(self) if self.is_valid() else None

    def recipe_env(self) -> dict[str, str]:
        """What the revision adds to the environment of a session: its dotenv files and
        ``[env]`` (``${VAR}`` expanded from the process environment) and the ``REZUP_*``
        variables. PATH is left out, as in rezup 2.x."""
        from rezup.runtime.session import revision_variables

        self._require_ready()
        return revision_variables(
            self.session_metadata(), str(self._path), self._container.name(), self.is_pulled()
        )

    def _require_ready(self) -> None:
        if not self.is_valid():
            raise ContainerError(f"cannot use invalid revision {self._path}")
        if not self.is_ready():
            raise ContainerError(f"revision {self._path} is not ready to be used")

    def pull(self, check_out: bool = True, fallback: bool = True) -> Optional[Revision]:
        """The local revision of this remote one: itself if local; the local twin if ready;
        else, with ``check_out``, pulled (built here from its plan). If that cannot be done
        (or ``check_out`` is false) and ``fallback``, the newest local revision made up to
        this one's time, with a warning; else None (or the pull's error)."""
        if not self.is_remote():
            return self
        from rezup.operations.pull import pull

        local = Container(self._container.name(), force_local=True)
        twin = local.revision(self._dirname)
        if twin.is_usable():
            return twin
        if check_out:
            try:
                return local.revision(pull(self, local).dirname())
            except ContainerError as exc:
                if not fallback:
                    raise
                log.warning("%s", exc)
        if not fallback:
            return None
        found = local.get_revision_by_time(self.seconds(), fallback=True)
        if found is not None:
            log.warning(
                "revision %s of %s is not pulled here; using %s",
                self._dirname,
                local.name(),
                found.dirname(),
            )
        return found

    def use(self, command: Optional[Sequence[str]] = None, wait: bool = True) -> int:
        """Run ``command`` (a list) in the revision, or an interactive shell; return its exit
        code (0 at once with ``wait=False``). The process holds a claim on the revision."""
        process = self.spawn_shell(command=command)
        if command and not wait:
            return 0
        return process.wait()

    def spawn_shell(self, command: Optional[Sequence[str]] = None) -> subprocess.Popen:
        """Start ``command`` (a list, not run through a shell) or an interactive shell in the
        revision and return the process; a remote revision is pulled first."""
        revision = self._local_for_use()
        from rezup.runtime import session

        return session.spawn(
            str(revision.path()),
            revision.session_metadata(),
            revision.container().name(),
            revision.is_pulled(),
            command=list(command or ()),
        )

    def _local_for_use(self) -> RevisionDir:
        self._require_ready()
        if not self.is_remote():
            return self
        pulled = self.pull(check_out=True, fallback=False)
        if pulled is None:
            raise ContainerError(f"revision {self._dirname} was not pulled")
        return pulled

    def locate_rez_lib(self, venv_session: Any = None) -> Optional[Path]:
        """The folder that holds the ``rez`` package of the revision's rez venv (its
        site-packages, or the source folder of an editable rez). ``venv_session``: a venv name
        (rezup 2.x took a virtualenv session object; it is not needed here)."""
        from rezup.ground.errors import BuildError
        from rezup.tools.production import find_distribution, site_packages

        revision = self._local_for_use()
        venv = revision.venv_path(venv_session if isinstance(venv_session, str) else paths.REZ_VENV)
        try:
            rez = find_distribution(venv, "rez")
        except BuildError:
            return None
        source = rez.editable_source()
        if source is not None:
            return source / "src" if (source / "src" / "rez").is_dir() else source
        return site_packages(venv)

    def get_rez_version(self, venv_session: Any = None) -> Optional[str]:
        revision = self._local_for_use() if self.is_remote() else self
        return RevisionDir.get_rez_version(revision)

    def production_bin_dir(self, venv_name: str = paths.REZ_VENV) -> Path:
        revision = self._local_for_use() if self.is_remote() else self
        return RevisionDir.production_bin_dir(revision, venv_name)

    def production_bin_dirs(self) -> list[Path]:
        revision = self._local_for_use() if self.is_remote() else self
        return RevisionDir.production_bin_dirs(revision) if revision.is_ready() else []

    def iter_backward(self) -> Iterator[Revision]:
        """The valid revisions made before this one, newest first."""
        for revision in self._container.iter_revision(latest_first=True):
            if revision.seconds() < self.seconds():
                yield revision

    def iter_forward(self) -> Iterator[Revision]:
        """The valid revisions made after this one, oldest first."""
        for revision in self._container.iter_revision(latest_first=False):
            if revision.seconds() > self.seconds():
                yield revision

    def purge(self) -> None:
        """Remove the revision, never while in use: then it is hidden at once and removed by a
        later rezup run once free (``rezup drop NAME --revision TS``)."""
        from rezup.operations.drop import drop_revision

        drop_revision(self._container, self._dirname)


Container.revision_class = Revision


def get_container_root(recipe: ContainerRecipe, remote: bool = False) -> Optional[Path]:
    """Root folder of ``recipe``'s container, local or remote (rezup 2.x API)."""
    local, remote_root = root_settings.container_roots(recipe.name(), str(recipe.path()))
    if remote:  # a root served over HTTP is no folder: None, as for no remote root
        return Path(remote_root) if remote_root and not root_settings.is_url(remote_root) else None
    return Path(local)


def iter_containers() -> Iterator[Container]:
    """Containers named by the recipes in ``ContainerRecipe.RECIPES_DIR``, remote ones first
    (rezup 2.x API)."""
    for recipe in ContainerRecipe.iter_recipes():
        _, remote_root = root_settings.container_roots(recipe.name(), str(recipe.path()))
        # a remote root served over HTTP is no folder: its local container only
        container = Container(recipe.name(), recipe, force_local=root_settings.is_url(remote_root))
        yield container
        if container.is_remote():
            yield Container(recipe.name(), recipe, force_local=True)


__all__ = ["Container", "Revision", "get_container_root", "iter_containers"]
