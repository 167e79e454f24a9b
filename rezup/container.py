"""The rezup 2.x Python API: ``Container`` and ``Revision``.

They are the state classes (``rezup.state``) with what a studio script also asks of them,
done by the operations: resolving a container's roots from its recipe, removing it. Nothing
below this module imports it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Optional, Union

from rezup import layout
from rezup.recipe import ContainerRecipe
from rezup.state import ContainerDir, RevisionDir


class Container(ContainerDir):
    """A named stack of revisions in one root; the newest ready revision is the one in use.

    With a remote root (recipe ``[root] remote`` or ``$REZUP_ROOT_REMOTE``) the container is the
    remote one unless ``force_local`` is true; its revisions hold recipes and plans only.
    """

    DEFAULT_NAME = layout.DEFAULT_CONTAINER

    def __init__(
        self,
        name: Optional[str] = None,
        recipe: Optional[ContainerRecipe] = None,
        force_local: bool = False,
        root: Optional[Union[str, os.PathLike]] = None,
    ) -> None:
        name = layout.check_container_name(self.DEFAULT_NAME if name is None else name)
        self._recipe = recipe
        if root is not None:
            super().__init__(root, name)
            return
        local, remote = layout.container_roots(name, str(recipe.path()) if recipe else None)
        if remote is not None and not force_local:
            super().__init__(remote, name, remote=True)
        else:
            super().__init__(local, name)

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

    def purge(self) -> None:
        """Remove the container folder (refused while a revision is being built)."""
        from rezup.operations.drop import drop_container

        drop_container(self)


class Revision(RevisionDir):
    """One timestamp-named folder of a container."""

    def purge(self) -> None:
        from rezup.fsutil import remove_tree

        remove_tree(self._path)


Container.revision_class = Revision


def get_container_root(recipe: ContainerRecipe, remote: bool = False) -> Optional[Path]:
    """Root folder of ``recipe``'s container, local or remote (rezup 2.x API)."""
    local, remote_root = layout.container_roots(recipe.name(), str(recipe.path()))
    if remote:
        return Path(remote_root) if remote_root else None
    return Path(local)


def iter_containers() -> Iterator[Container]:
    """Containers named by recipes in the home folder, remote ones first (rezup 2.x API)."""
    for recipe in ContainerRecipe.iter_recipes():
        container = Container(recipe.name(), recipe)
        yield container
        if container.is_remote():
            yield Container(recipe.name(), recipe, force_local=True)
