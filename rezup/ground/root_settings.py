"""Where recipes are, and the roots a recipe's ``[root]`` (or ``REZUP_ROOT_LOCAL`` /
``REZUP_ROOT_REMOTE``) names. On the ``rezup use`` start-up path: ``os`` only, ``str`` paths.
"""

import os

from rezup.ground import paths

# On the `rezup use` path: no `from __future__ import annotations` (an import of its own,
# ~0.15 ms) and no typing (milliseconds); annotations naming typing's types are strings.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional


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
    if name == paths.DEFAULT_CONTAINER:
        return os.path.join(folder, paths.RECIPE_FILENAME)
    return os.path.join(folder, f"rezup.{name}.toml")


def container_of_recipe(filename: str) -> "Optional[str]":
    """The container a recipe file name is for (``rezup.dev.toml``: ``dev``), else None."""
    if filename == paths.RECIPE_FILENAME:
        return paths.DEFAULT_CONTAINER
    if filename.startswith("rezup.") and filename.endswith(".toml"):
        name = filename[len("rezup.") : -len(".toml")]
        if paths.is_valid_container_name(name):
            return name
    return None


def site_init_script() -> "Optional[str]":
    """The ``[init] script`` of ``~/rezup.toml`` (anchored at its folder), if it names one.

    Read on every launch, before any other setting: only when the file mentions ``init`` is
    it parsed. Raises RecipeError for a recipe that cannot be read or a value that is not a
    path.
    """
    path = recipe_file(paths.DEFAULT_CONTAINER)
    text = read_recipe_text(path)
    if text is None or "init" not in text:
        return None
    init = parse_toml(text, path).get("init")
    if not isinstance(init, dict) or init.get("script") in (None, "", False):
        return None
    script = init["script"]
    if not isinstance(script, str):
        from rezup.ground.errors import RecipeError, describe_type

        raise RecipeError(f"{path}: [init] script: must be a string, got {describe_type(script)}")
    return anchor_path(script, os.path.dirname(path))


# -- roots ---------------------------------------------------------------------------------------


def anchor_path(value: str, base_dir: str) -> str:
    """Expand ``~`` and make a relative path relative to ``base_dir``."""
    return os.path.abspath(os.path.join(base_dir, os.path.expanduser(value)))


def read_recipe_text(path: "paths.StrPath") -> "Optional[str]":
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
        from rezup.ground.errors import RecipeError

        if isinstance(exc, IsADirectoryError):
            raise RecipeError(f"{path}: a recipe must be a file, not a folder") from None
        raise RecipeError(f"{path}: cannot read recipe: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            from rezup.ground.errors import RecipeError

            raise RecipeError(f"{path}: a recipe must be a regular file")
        with open(fd, encoding="utf-8", closefd=False) as stream:
            return stream.read()
    except (OSError, UnicodeDecodeError) as exc:
        from rezup.ground.errors import RecipeError

        raise RecipeError(f"{path}: cannot read recipe: {exc}") from None
    finally:
        os.close(fd)


def parse_toml(text: str, label: str, parse_float: "Any" = float) -> "dict[str, Any]":
    """The data of recipe ``text``; a RecipeError naming ``label`` (and the line and column
    TOML reports) when it is not valid TOML."""
    from rezup.ground.compat import tomllib
    from rezup.ground.errors import RecipeError

    try:
        return tomllib.loads(text, parse_float=parse_float)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{label}: invalid TOML: {exc}") from None
    except RecursionError:
        raise RecipeError(
            f"{label}: invalid TOML: tables or arrays are nested too deeply"
        ) from None


def read_root_settings(recipe_path: str) -> "tuple[str, str]":
    """``[root] local`` and ``[root] remote`` of the recipe at ``recipe_path``, anchored at its
    folder; ``""`` where unset (``""``, ``false``) or when there is no such file.

    Only this table is read (the rest of the recipe is not validated here): a typo in
    ``[env]`` must not stop a farm job from finding its container. Raises RecipeError.
    """
    text = read_recipe_text(recipe_path)
    if text is None or "root" not in text:  # no [root] table: skip the TOML parser
        return "", ""
    from rezup.ground.errors import RecipeError

    root = parse_toml(text, recipe_path).get("root", {})
    if not isinstance(root, dict):
        raise RecipeError(f"{recipe_path}: [root] must be a table")
    base_dir = os.path.dirname(recipe_path)
    return (
        root_setting(root.get("local"), "local", recipe_path, base_dir),
        root_setting(root.get("remote"), "remote", recipe_path, base_dir),
    )


def root_setting(value: "Any", key: str, label: str, base_dir: str) -> str:
    """One ``[root]`` value: ``""``, ``false`` or absent mean unset; a path is anchored; a
    remote root may be an ``http(s)://`` URL (a local one may not: it is built in)."""
    if value is None or value is False or value == "":
        return ""
    if not isinstance(value, str):
        from rezup.ground.errors import RecipeError, describe_type

        raise RecipeError(f"{label}: [root] {key}: must be a string, got {describe_type(value)}")
    if is_url(value):
        if key == "remote":
            return value.rstrip("/")
        from rezup.ground.errors import RecipeError

        raise RecipeError(
            f"{label}: [root] {key}: must be a folder, not a URL (only a remote root may be "
            "served over HTTP)"
        )
    return anchor_path(value, base_dir)


def is_url(location: "Optional[str]") -> bool:
    """Whether a root is served over HTTP(S) rather than mounted as a folder."""
    return location is not None and location[:8].lower().startswith(("http://", "https://"))


def local_root(setting: str = "") -> str:
    """The recipe's ``[root] local``, else ``$REZUP_ROOT_LOCAL``, else ``~/.rezup``."""
    root = setting or os.environ.get("REZUP_ROOT_LOCAL") or "~/.rezup"
    if is_url(root):
        from rezup.ground.errors import UsageError

        raise UsageError(
            f"REZUP_ROOT_LOCAL must be a folder, not a URL ({root}): only a remote root may be "
            "served over HTTP"
        )
    return os.path.abspath(os.path.expanduser(root))


def remote_root(setting: str = "") -> "Optional[str]":
    """The recipe's ``[root] remote``, else ``$REZUP_ROOT_REMOTE``, else None. A folder comes
    back absolute; a URL (a root served over HTTP(S)) as it is, without a trailing ``/``."""
    root = setting or os.environ.get("REZUP_ROOT_REMOTE")
    if not root:
        return None
    if is_url(root):
        return root.rstrip("/")
    return os.path.abspath(os.path.expanduser(root))


def remote_revisions(remote: str, name: str) -> str:
    """Where the revisions of container ``name`` are in remote root ``remote``: a folder, or
    (a root served over HTTP) a URL."""
    if is_url(remote):
        return f"{remote}/{name}/{paths.REVISIONS_DIRNAME}"
    return paths.revisions_dir(remote, name)


def container_roots(name: str, recipe_path: "Optional[str]" = None) -> "tuple[str, Optional[str]]":
    """(local root, remote root or None) of container ``name``, from its recipe's ``[root]``
    (or that of ``recipe_path``) and the environment. The one place roots are resolved."""
    local, remote = read_root_settings(recipe_path or recipe_file(name))
    return local_root(local), remote_root(remote)
