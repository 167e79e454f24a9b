"""Loading a recipe: read a ``rezup[.NAME].toml``, merge it over the packaged default, validate
it (``recipe_validation``). Paths written in the recipe are taken relative to the recipe file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from rezup.ground import root_settings
from rezup.ground.errors import RecipeError
from rezup.stages.recipe_model import Recipe, dotenv_load_order, platform_name
from rezup.stages.recipe_validation import RecipeValidator

DEFAULT_RECIPE_FILE = Path(__file__).with_name("default_recipe.toml")


def load_default_recipe() -> Recipe:
    return parse_recipe("", source=None)


def load_recipe(path: Path) -> Recipe:
    """Read and validate the recipe at ``path`` (merged over the packaged default)."""
    text = root_settings.read_recipe_text(path)
    if text is None:
        raise RecipeError(f"{path}: recipe file not found")
    return parse_recipe(text, source=path)


def parse_recipe(text: str, source: Optional[Path]) -> Recipe:
    """Parse recipe ``text``; ``source`` names the file in errors and anchors relative paths."""
    label = str(source) if source else "<recipe>"
    user_data = parse_toml(text, label)
    try:
        data = deep_merge(default_data(), user_data)
        base_dir = source.parent if source else Path.cwd()
        return RecipeValidator(label, base_dir).recipe(
            data, text if source else default_text(), source
        )
    except RecursionError:
        raise RecipeError(f"{label}: tables or arrays are nested too deeply") from None


class TomlFloat(float):
    """A TOML float that keeps its written form: ``python = 3.10`` means "3.10", not "3.1"."""

    text: str

    def __new__(cls, text: str) -> TomlFloat:
        value = super().__new__(cls, text)
        value.text = str(text).replace("_", "")  # str(): copy and pickle pass the float
        return value

    def __str__(self) -> str:
        return self.text


def parse_toml(text: str, label: str) -> dict[str, Any]:
    return root_settings.parse_toml(text, label, parse_float=TomlFloat)


_default_cache: dict[str, Any] = {}


def default_text() -> str:
    if "text" not in _default_cache:
        _default_cache["text"] = DEFAULT_RECIPE_FILE.read_text(encoding="utf-8")
    return _default_cache["text"]


def default_data() -> dict[str, Any]:
    return parse_toml(default_text(), str(DEFAULT_RECIPE_FILE))


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``over`` into a copy of ``base``: tables merge key by key, anything else replaces."""
    import copy

    merged = copy.deepcopy(dict(base))
    deep_update(merged, over)
    return merged


def session_of_recipe(text: str, source: Path) -> dict[str, Any]:
    """``env`` and ``dotenv`` of a session from a recipe's text, leniently: for a revision made
    by rezup 2.x, which recorded no session. What cannot be read is left out (relative dotenv
    paths are taken from the current folder, as 2.x did)."""
    try:
        data = parse_toml(text, str(source))
    except RecipeError:
        return {"env": [], "dotenv": []}
    validator = RecipeValidator(str(source), Path.cwd())
    try:
        env = validator.scalar_table("[env]", data.get("env", {}))
    except RecipeError:
        env = ()
    try:
        common, per_platform = validator.dotenv(data.get("dotenv", {}))
    except RecipeError:
        common, per_platform = (), ()
    return {
        "env": [list(item) for item in env],
        "dotenv": dotenv_load_order(common, per_platform, platform_name()),
    }


def deep_update(dict1: dict[str, Any], dict2: Mapping[str, Any]) -> None:
    """Merge ``dict2`` into ``dict1`` in place: tables merge key by key, anything else
    replaces (rezup 2.x API)."""
    for key, value in dict2.items():
        if isinstance(dict1.get(key), dict) and isinstance(value, Mapping):
            deep_update(dict1[key], value)
        else:
            dict1[key] = value
