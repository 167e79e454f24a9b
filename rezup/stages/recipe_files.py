"""The recipe files of containers and revisions as dicts (the rezup 2.x API's classes)."""

from __future__ import annotations

import contextlib
import os
import re
from abc import ABCMeta
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any, Optional, Union

from rezup.ground import paths, root_settings
from rezup.ground.errors import UsageError
from rezup.stages import recipe_loading, recipe_model

DEFAULT_FLAGS: tuple[str, ...] = ("-E",)
PLATFORMS = ("linux", "darwin", "windows")

# A distribution name as PEP 508 allows it; also the folder name of an isolated venv
_PACKAGE_NAME_RE = re.compile(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")


# --------------------------------------------------------------------------------------------
# The original API: a recipe file bound to a container name


class BaseRecipe(MutableMapping):
    """A recipe file as a dict (rezup 2.x API): the packaged default merged with the file.

    The data is read on first use and kept; changing it changes this object only (``create``
    writes a file).
    """

    DEFAULT_RECIPE = recipe_loading.DEFAULT_RECIPE_FILE

    def __init__(self, name: Optional[str] = None) -> None:
        self._name = paths.check_container_name(paths.DEFAULT_CONTAINER if name is None else name)
        self._data: Optional[dict[str, Any]] = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r}, path={str(self.path())!r})"

    def name(self) -> str:
        return self._name

    def path(self) -> Path:
        raise NotImplementedError

    def is_file(self) -> bool:
        return self.path().is_file()

    def data(self) -> dict[str, Any]:
        """A copy of the merged recipe as plain data."""
        import copy

        return copy.deepcopy(self._loaded())

    def _loaded(self) -> dict[str, Any]:
        if self._data is None:
            text = root_settings.read_recipe_text(self.path()) or ""
            self._data = recipe_loading.deep_merge(
                recipe_loading.default_data(), recipe_loading.parse_toml(text, str(self.path()))
            )
        return self._data

    def _write(self, data: Mapping[str, Any]) -> None:
        import tomli_w

        path = self.path()
        path.parent.mkdir(parents=True, exist_ok=True)
        from rezup.ground.filesystem import write_atomic

        write_atomic(path, tomli_w.dumps(_plain(data)))
        self._data = None

    def __getitem__(self, key: str) -> Any:
        return self._loaded()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._loaded()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._loaded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


def _plain(data: Any) -> Any:
    """``data`` with the float subclass this module parses TOML numbers into made plain."""
    if isinstance(data, Mapping):
        return {key: _plain(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_plain(value) for value in data]
    return float(data) if isinstance(data, recipe_loading.TomlFloat) else data


class _RecipesDir(ABCMeta):  # the metaclass of MutableMapping
    """Makes ``ContainerRecipe.RECIPES_DIR`` a setting of the whole package: assigning it
    moves where every command and API call looks for recipes (as in rezup 2.x)."""

    @property
    def RECIPES_DIR(cls) -> Path:  # the 2.x name
        return Path(root_settings.recipe_dir())

    @RECIPES_DIR.setter
    def RECIPES_DIR(cls, value: Optional[Union[str, os.PathLike]]) -> None:
        root_settings.set_recipe_dir(None if value is None else os.fspath(value))


class ContainerRecipe(BaseRecipe, metaclass=_RecipesDir):
    """The recipe file of one container: ``~/rezup.toml`` or ``~/rezup.NAME.toml`` (in
    ``RECIPES_DIR``). ``path`` may be given to use another file (``rezup add --file``)."""

    # rezup.toml -> .main, rezup.NAME.toml -> NAME (anchored, unlike rezup 2.x's pattern)
    REGEX = re.compile(r"^rezup(?:\.(.+))?\.toml$")

    RECIPES_DIR = property(
        lambda self: type(self).RECIPES_DIR,
        doc="The folder recipes are looked for in (the home folder).",
    )

    def __init__(
        self, name: Optional[str] = None, path: Union[str, os.PathLike, None] = None
    ) -> None:
        super().__init__(name)
        if path is not None and not str(path):
            raise UsageError("the recipe file name is empty")
        self._path: Optional[Path] = Path(os.path.abspath(path)) if path else None
        self._explicit = path is not None

    def path(self) -> Path:
        """``RECIPES_DIR/rezup[.NAME].toml``, found on first use (or the file given)."""
        if self._path is None:
            self._path = Path(root_settings.recipe_file(self._name))
        return self._path

    def load(self) -> recipe_model.Recipe:
        """The validated recipe; the packaged default when there is no recipe file.

        A file given explicitly (``--file``) must exist; whatever is at a recipe's path must
        be a regular file (a FIFO or a folder there is an error, not "no recipe").
        """
        if self._explicit or os.path.lexists(self.path()):
            return recipe_loading.load_recipe(self.path())
        return recipe_loading.load_default_recipe()

    def create(self, data: Optional[Mapping[str, Any]] = None) -> Path:
        """Write this recipe file: the packaged default merged with ``data``. Returns its path.

        Without ``data`` the packaged default (with its comments) is written, and only when
        there is no file yet: unlike rezup 2.x, a user's recipe is never replaced by the
        default.
        """
        path = self.path()
        if data:
            self._write(recipe_loading.deep_merge(recipe_loading.default_data(), data))
        elif not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(recipe_loading.default_text(), encoding="utf-8")
            self._data = None
        return path

    @classmethod
    @contextlib.contextmanager
    def provisional_recipes(cls, path: Union[str, os.PathLike]) -> Iterator[None]:
        """Look for recipes in ``path`` while inside (rezup 2.x API)::

        with ContainerRecipe.provisional_recipes("/to/other/recipes"):
            revision = util.get_revision()
        """
        saved = root_settings._recipe_dir_override
        root_settings.set_recipe_dir(os.fspath(path))
        try:
            yield
        finally:
            root_settings._recipe_dir_override = saved

    @classmethod
    def iter_recipes(cls) -> Iterator[ContainerRecipe]:
        """Recipes found in ``RECIPES_DIR``, the default container's first."""
        default = cls(paths.DEFAULT_CONTAINER)
        if default.is_file():
            yield default
        for path in sorted(Path(root_settings.recipe_dir()).glob("rezup.*.toml")):
            name = root_settings.container_of_recipe(path.name)
            if name is not None and path.is_file():
                yield cls(name)


class RevisionRecipe(BaseRecipe):
    """The recipe a revision was made from (its ``rezup.toml``), as a dict."""

    def __init__(self, revision: Any) -> None:
        super().__init__(revision.container().name())
        self._revision = revision

    def path(self) -> Path:
        return Path(self._revision.path()) / paths.RECIPE_FILENAME

    def create(self) -> None:
        """Write the container's recipe into the revision (rezup 2.x API)."""
        self._write(self._revision.container().recipe().data())

    def pull(self, revision: Any) -> None:
        """Write ``revision``'s recipe into this revision (rezup 2.x API)."""
        self._write(revision.recipe().data())
