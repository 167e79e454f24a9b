"""Recipe: read a ``rezup[.NAME].toml``, merge it over the packaged default, validate it.

The result is plain typed data. This module knows nothing about uv or the on-disk layout; it
only resolves paths written in the recipe relative to the recipe file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from rezup import layout
from rezup.errors import RecipeError, UsageError, describe_type, quoted

DEFAULT_FLAGS: tuple[str, ...] = ("-E",)
PLATFORMS = ("linux", "darwin", "windows")

# A distribution name as PEP 508 allows it; also the folder name of an isolated venv
_PACKAGE_NAME_RE = re.compile(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")
_DEFAULT_RECIPE_FILE = Path(__file__).with_name("default_recipe.toml")


# --------------------------------------------------------------------------------------------
# Typed recipe data


@dataclass(frozen=True)
class Tool:
    """A package that gets production console scripts: rez itself or an extension."""

    name: str
    url: str
    edit: bool = False
    flags: tuple[str, ...] = DEFAULT_FLAGS
    isolation: bool = False
    python: Optional[str] = None
    lib: tuple[str, ...] = ()


@dataclass(frozen=True)
class Shared:
    """Deprecated ``[shared]`` section: packages installed once per container."""

    name: str
    requires: tuple[str, ...]


@dataclass(frozen=True)
class Recipe:
    """A validated recipe. ``text`` is the file as written, stored in each revision."""

    source: Optional[Path]
    text: str
    description: str = ""
    root_local: str = ""
    root_remote: str = ""
    rez: Tool = field(default_factory=lambda: Tool(name="rez", url="rez"))
    extensions: tuple[Tool, ...] = ()
    shared: Optional[Shared] = None
    env: tuple[tuple[str, str], ...] = ()
    dotenv: tuple[str, ...] = ()
    dotenv_platform: tuple[tuple[str, tuple[str, ...]], ...] = ()
    pip_options: tuple[str, ...] = ()
    pip_env: tuple[tuple[str, str], ...] = ()
    uv_options: tuple[str, ...] = ()
    uv_env: tuple[tuple[str, str], ...] = ()
    init_script: Optional[str] = None

    @property
    def tools(self) -> tuple[Tool, ...]:
        return (self.rez, *self.extensions)

    def dotenv_files(self, platform_name: str) -> list[str]:
        return dotenv_load_order(self.dotenv, self.dotenv_platform, platform_name)


def dotenv_load_order(
    common: tuple[str, ...],
    per_platform: tuple[tuple[str, tuple[str, ...]], ...],
    platform_name: str,
) -> list[str]:
    """Dotenv files in load order: the common ones by key, then this platform's."""
    return [*common, *dict(per_platform).get(platform_name, ())]


def session_of_recipe(text: str, source: Path) -> dict[str, Any]:
    """``env`` and ``dotenv`` of a session from a recipe's text, leniently: for a revision made
    by rezup 2.x, which recorded no session. What cannot be read is left out (relative dotenv
    paths are taken from the current folder, as 2.x did)."""
    try:
        data = _parse_toml(text, str(source))
    except RecipeError:
        return {"env": [], "dotenv": []}
    validator = _Validator(str(source), Path.cwd())
    try:
        env = validator.scalar_table("[env]", data.get("env", {}))
    except RecipeError:
        env = ()
    try:
        common, per_platform = validator.dotenv(data.get("dotenv", {}))
    except RecipeError:
        common, per_platform = (), ()
    return {"env": [list(item) for item in env],
            "dotenv": dotenv_load_order(common, per_platform, platform_name())}


def platform_name() -> str:
    """This platform's name in ``[dotenv.PLATFORM]`` tables."""
    return {"win32": "windows", "darwin": "darwin"}.get(sys.platform, "linux")


# --------------------------------------------------------------------------------------------
# Loading


def load_default_recipe() -> Recipe:
    return parse_recipe("", source=None)


def load_recipe(path: Path) -> Recipe:
    """Read and validate the recipe at ``path`` (merged over the packaged default)."""
    text = layout.read_recipe_text(str(path))
    if text is None:
        raise RecipeError(f"{path}: recipe file not found")
    return parse_recipe(text, source=path)


def parse_recipe(text: str, source: Optional[Path]) -> Recipe:
    """Parse recipe ``text``; ``source`` names the file in errors and anchors relative paths."""
    label = str(source) if source else "<recipe>"
    user_data = _parse_toml(text, label)
    try:
        data = deep_merge(_default_data(), user_data)
        base_dir = source.parent if source else Path.cwd()
        return _Validator(label, base_dir).recipe(data, text if source else _default_text(),
                                                  source)
    except RecursionError:
        raise RecipeError(f"{label}: tables or arrays are nested too deeply") from None


class _TomlFloat(float):
    """A TOML float that keeps its written form: ``python = 3.10`` means "3.10", not "3.1"."""

    def __new__(cls, text: str) -> _TomlFloat:
        value = super().__new__(cls, text)
        value.text = str(text).replace("_", "")  # str(): copy and pickle pass the float
        return value

    def __str__(self) -> str:
        return self.text


def _parse_toml(text: str, label: str) -> dict[str, Any]:
    return layout.parse_toml(text, label, parse_float=_TomlFloat)


_default_cache: dict[str, Any] = {}


def _default_text() -> str:
    if "text" not in _default_cache:
        _default_cache["text"] = _DEFAULT_RECIPE_FILE.read_text(encoding="utf-8")
    return _default_cache["text"]


def _default_data() -> dict[str, Any]:
    return _parse_toml(_default_text(), str(_DEFAULT_RECIPE_FILE))


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``over`` into a copy of ``base``: tables merge key by key, anything else replaces."""
    import copy

    merged = copy.deepcopy(dict(base))
    deep_update(merged, over)
    return merged


# --------------------------------------------------------------------------------------------
# Validation


class _Validator:
    """Checks a merged recipe dict key by key and builds the typed Recipe."""

    def __init__(self, label: str, base_dir: Path) -> None:
        self.label = label
        self.base_dir = base_dir

    def fail(self, where: str, message: str) -> RecipeError:
        return RecipeError(f"{self.label}: {where}: {message}")

    # -- primitives --------------------------------------------------------------------------

    def check_keys(self, where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise self.fail(
                where,
                f"unknown key {quoted(unknown[0])} (allowed: {', '.join(sorted(allowed))})",
            )

    def table(self, where: str, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be a table, got {describe_type(value)}")
        return value

    def string(self, where: str, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"must be a string, got {describe_type(value)}")
        return value

    def boolean(self, where: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"must be true or false, got {describe_type(value)}")
        return value

    def string_list(self, where: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, f"must be a list of strings, got {describe_type(value)}")
        return tuple(value)

    def scalar_table(self, where: str, value: Any) -> tuple[tuple[str, str], ...]:
        """A table of environment values: strings, or numbers written without quotes."""
        items = []
        for key, item in self.table(where, value).items():
            if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                raise self.fail(f"{where}.{key}", f"must be a string, got {describe_type(item)}")
            items.append((key, str(item)))
        return tuple(items)

    def path(self, value: str) -> str:
        """Expand ``~`` and anchor a relative path at the recipe's folder."""
        return layout.anchor_path(value, str(self.base_dir))

    def root_path(self, value: Any, key: str) -> str:
        return layout.root_setting(value, key, self.label, str(self.base_dir))

    # -- sections ----------------------------------------------------------------------------

    def recipe(self, data: Mapping[str, Any], text: str, source: Optional[Path]) -> Recipe:
        self.check_keys(
            "top level",
            data,
            {"description", "schema", "root", "rez", "extension", "shared", "env", "dotenv",
             "pip", "uv", "init"},
        )
        description = self.string("description", data.get("description", ""))
        if "schema" in data:  # written by rezup 2.x's default recipe; accepted and ignored
            self.string("schema", data["schema"])

        root = self.table("[root]", data.get("root", {}))
        self.check_keys("[root]", root, {"local", "remote"})

        rez = self.tool("[rez]", self.table("[rez]", data.get("rez", {})), extension=False)
        extensions = self.extensions(data.get("extension", []))

        dotenv, dotenv_platform = self.dotenv(data.get("dotenv", {}))
        pip = self.table("[pip]", data.get("pip", {}))
        self.check_keys("[pip]", pip, {"options", "env"})
        uv = self.table("[uv]", data.get("uv", {}))
        self.check_keys("[uv]", uv, {"options", "env"})
        init = self.table("[init]", data.get("init", {}))
        self.check_keys("[init]", init, {"script"})
        init_script = self.string("[init] script", init["script"]) if "script" in init else None

        return Recipe(
            source=source,
            text=text,
            description=description,
            root_local=self.root_path(root.get("local", ""), "local"),
            root_remote=self.root_path(root.get("remote", ""), "remote"),
            rez=rez,
            extensions=extensions,
            shared=self.shared(data.get("shared")),
            env=self.scalar_table("[env]", data.get("env", {})),
            dotenv=dotenv,
            dotenv_platform=dotenv_platform,
            pip_options=self.string_list("[pip] options", pip.get("options", [])),
            pip_env=self.scalar_table("[pip] env", pip.get("env", {})),
            uv_options=self.string_list("[uv] options", uv.get("options", [])),
            uv_env=self.scalar_table("[uv] env", uv.get("env", {})),
            init_script=self.path(init_script) if init_script else None,
        )

    def tool(self, where: str, table: Mapping[str, Any], extension: bool) -> Tool:
        allowed = {"name", "url", "edit", "flags", "python", "lib"}
        if extension:
            allowed.add("isolation")
        self.check_keys(where, table, allowed)
        if "name" not in table:
            raise self.fail(where, "missing required key 'name'")
        name = self.string(f"{where} name", table["name"])
        if not _PACKAGE_NAME_RE.match(name):
            raise self.fail(f"{where} name", f"{quoted(name)} is not a valid package name")
        url = self.string(f"{where} url", table.get("url", name)).strip()
        if not url:
            raise self.fail(f"{where} url", "must not be empty")
        edit = self.boolean(f"{where} edit", table.get("edit", False))
        if is_local_path(url):
            url = self.path(url)
        elif edit:
            raise self.fail(f"{where} url", f"edit = true needs a local folder, got {quoted(url)}")
        return Tool(
            name=name,
            url=url,
            edit=edit,
            flags=self.string_list(f"{where} flags", table.get("flags", list(DEFAULT_FLAGS))),
            isolation=self.boolean(f"{where} isolation", table.get("isolation", False)),
            python=self.python(f"{where} python", table.get("python")),
            lib=self.string_list(f"{where} lib", table.get("lib", [])),
        )

    def python(self, where: str, value: Any) -> Optional[str]:
        """A version (``3.11``, ``"3.11"``) or a path to an interpreter; ``None`` = default."""
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.fail(where, f"must be a version or a path, got {describe_type(value)}")
        return python_request(str(value), str(self.base_dir))

    def extensions(self, value: Any) -> tuple[Tool, ...]:
        if isinstance(value, Mapping):  # a single [extension] table instead of [[extension]]
            value = [value]
        if not isinstance(value, list):
            raise self.fail("[[extension]]",
                            f"must be an array of tables, got {describe_type(value)}")
        tools: list[Tool] = []
        seen = {"rez"}
        for index, item in enumerate(value):
            where = f"[[extension]] #{index + 1}"
            table = self.table(where, item)
            if not table:  # rezup 2.x's default recipe carried an empty [[extension]]
                continue
            tool = self.tool(where, table, extension=True)
            if tool.name in seen:
                raise self.fail(f"{where} name", f"{quoted(tool.name)} is used twice")
            seen.add(tool.name)
            tools.append(tool)
        return tuple(tools)

    def shared(self, value: Any) -> Optional[Shared]:
        if value is None:
            return None
        table = self.table("[shared]", value)
        self.check_keys("[shared]", table, {"name", "requires"})
        if not table:
            return None
        name = self.string("[shared] name", table.get("name", "production"))
        if not layout.is_valid_container_name(name):
            raise self.fail("[shared] name", f"{quoted(name)} is not a valid folder name")
        requires = self.string_list("[shared] requires", table.get("requires", []))
        if not requires:
            return None
        _warn_shared_deprecated(self.label)
        return Shared(name=name, requires=requires)

    def dotenv(self, value: Any) -> tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]:
        table = self.table("[dotenv]", value)
        common: list[tuple[str, str]] = []
        per_platform: list[tuple[str, tuple[str, ...]]] = []
        for key, item in table.items():
            if isinstance(item, Mapping):
                if key not in PLATFORMS:
                    raise self.fail(
                        f"[dotenv.{key}]", f"unknown platform (allowed: {', '.join(PLATFORMS)})"
                    )
                files = [
                    (k, self.path(self.string(f"[dotenv.{key}] {k}", v)))
                    for k, v in item.items()
                ]
                per_platform.append((key, tuple(f for _, f in sorted(files))))
            else:
                common.append((key, self.path(self.string(f"[dotenv] {key}", item))))
        return tuple(f for _, f in sorted(common)), tuple(per_platform)


_warned: set[str] = set()


def _warn_shared_deprecated(label: str) -> None:
    if "shared" not in _warned:
        _warned.add("shared")
        logging.getLogger("rezup").warning(
            "%s: [shared] is deprecated; put those packages in [rez] lib instead", label
        )


def python_request(value: str, base_dir: str) -> str:
    """A ``python`` setting as rezup uses it: a path (anchored at ``base_dir``) or a version."""
    text = value.strip()
    if is_local_path(text) or os.sep in text or "/" in text:
        return layout.anchor_path(text, base_dir)
    return text


def is_local_path(url: str) -> bool:
    """Whether a requirement ``url`` names a folder or file on disk rather than a package."""
    return (
        url.startswith(("~", "./", "../", "/", ".\\", "..\\"))
        or url in (".", "..")
        or bool(re.match(r"^[A-Za-z]:[\\/]", url))
    )


# --------------------------------------------------------------------------------------------
# The original API: a recipe file bound to a container name


class BaseRecipe(MutableMapping):
    """A recipe file as a dict (rezup 2.x API): the packaged default merged with the file.

    The data is read on first use and kept; changing it changes this object only (``create``
    writes a file).
    """

    DEFAULT_RECIPE = _DEFAULT_RECIPE_FILE

    def __init__(self, name: Optional[str] = None) -> None:
        self._name = layout.check_container_name(
            layout.DEFAULT_CONTAINER if name is None else name)
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
            text = layout.read_recipe_text(str(self.path())) or ""
            self._data = deep_merge(_default_data(), _parse_toml(text, str(self.path())))
        return self._data

    def _write(self, data: Mapping[str, Any]) -> None:
        import tomli_w

        path = self.path()
        path.parent.mkdir(parents=True, exist_ok=True)
        from rezup.fsutil import write_atomic

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
    return float(data) if isinstance(data, _TomlFloat) else data


class _RecipesDir(type(MutableMapping)):
    """Makes ``ContainerRecipe.RECIPES_DIR`` a setting of the whole package: assigning it
    moves where every command and API call looks for recipes (as in rezup 2.x)."""

    @property
    def RECIPES_DIR(cls) -> Path:  # the 2.x name
        return Path(layout.recipe_dir())

    @RECIPES_DIR.setter
    def RECIPES_DIR(cls, value: Optional[Union[str, os.PathLike]]) -> None:
        layout.set_recipe_dir(None if value is None else os.fspath(value))


class ContainerRecipe(BaseRecipe, metaclass=_RecipesDir):
    """The recipe file of one container: ``~/rezup.toml`` or ``~/rezup.NAME.toml`` (in
    ``RECIPES_DIR``). ``path`` may be given to use another file (``rezup add --file``)."""

    # rezup.toml -> .main, rezup.NAME.toml -> NAME (anchored, unlike rezup 2.x's pattern)
    REGEX = re.compile(r"^rezup(?:\.(.+))?\.toml$")

    RECIPES_DIR = property(lambda self: type(self).RECIPES_DIR,
                           doc="The folder recipes are looked for in (the home folder).")

    def __init__(self, name: Optional[str] = None, path: Optional[os.PathLike] = None) -> None:
        super().__init__(name)
        if path is not None and not str(path):
            raise UsageError("the recipe file name is empty")
        self._path: Optional[Path] = Path(os.path.abspath(path)) if path else None
        self._explicit = path is not None

    def path(self) -> Path:
        """``RECIPES_DIR/rezup[.NAME].toml``, found on first use (or the file given)."""
        if self._path is None:
            self._path = Path(layout.recipe_file(self._name))
        return self._path

    def load(self) -> Recipe:
        """The validated recipe; the packaged default when there is no recipe file.

        A file given explicitly (``--file``) must exist; whatever is at a recipe's path must
        be a regular file (a FIFO or a folder there is an error, not "no recipe").
        """
        if self._explicit or os.path.lexists(self.path()):
            return load_recipe(self.path())
        return load_default_recipe()

    def create(self, data: Optional[Mapping[str, Any]] = None) -> Path:
        """Write this recipe file: the packaged default merged with ``data``. Returns its path.

        Without ``data`` the packaged default (with its comments) is written, and only when
        there is no file yet: unlike rezup 2.x, a user's recipe is never replaced by the
        default.
        """
        path = self.path()
        if data:
            self._write(deep_merge(_default_data(), data))
        elif not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_default_text(), encoding="utf-8")
            self._data = None
        return path

    @classmethod
    @contextlib.contextmanager
    def provisional_recipes(cls, path: Union[str, os.PathLike]) -> Iterator[None]:
        """Look for recipes in ``path`` while inside (rezup 2.x API)::

            with ContainerRecipe.provisional_recipes("/to/other/recipes"):
                revision = util.get_revision()
        """
        saved = layout._recipe_dir_override
        layout.set_recipe_dir(os.fspath(path))
        try:
            yield
        finally:
            layout._recipe_dir_override = saved

    @classmethod
    def iter_recipes(cls) -> Iterator[ContainerRecipe]:
        """Recipes found in ``RECIPES_DIR``, the default container's first."""
        default = cls(layout.DEFAULT_CONTAINER)
        if default.is_file():
            yield default
        for path in sorted(Path(layout.recipe_dir()).glob("rezup.*.toml")):
            name = layout.container_of_recipe(path.name)
            if name is not None and path.is_file():
                yield cls(name)


class RevisionRecipe(BaseRecipe):
    """The recipe a revision was made from (its ``rezup.toml``), as a dict."""

    def __init__(self, revision: Any) -> None:
        super().__init__(revision.container().name())
        self._revision = revision

    def path(self) -> Path:
        return Path(self._revision.path()) / layout.RECIPE_FILENAME

    def create(self) -> None:
        """Write the container's recipe into the revision (rezup 2.x API)."""
        self._write(self._revision.container().recipe().data())

    def pull(self, revision: Any) -> None:
        """Write ``revision``'s recipe into this revision (rezup 2.x API)."""
        self._write(revision.recipe().data())


def deep_update(dict1: dict[str, Any], dict2: Mapping[str, Any]) -> None:
    """Merge ``dict2`` into ``dict1`` in place: tables merge key by key, anything else
    replaces (rezup 2.x API)."""
    for key, value in dict2.items():
        if isinstance(dict1.get(key), dict) and isinstance(value, Mapping):
            deep_update(dict1[key], value)
        else:
            dict1[key] = value
