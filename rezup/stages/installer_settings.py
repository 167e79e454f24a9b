"""The installer settings of a recipe: uv options and environment from the studio's pip
settings, the recipe's ``[pip]`` (translated for uv) and its ``[uv]``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rezup.stages.recipe_model import Recipe

if TYPE_CHECKING:
    from rezup.tools.pip_settings import Setting
    from rezup.tools.uv_options import Translation

log = logging.getLogger("rezup")


def installer_settings(recipe: Recipe, warn: bool = True) -> tuple[list[str], dict[str, str]]:
    """uv options and environment for ``recipe``, from every pip setting and ``[uv]``.

    Precedence, lowest first: the studio's pip settings (pip's configuration files, then
    ``PIP_*`` variables; ``rezup.tools.pip_settings``) < the recipe's ``[pip]`` (its env, then
    its options) < its ``[uv]`` (as is). pip settings are translated to uv's terms; a setting the
    recipe gives leaves the studio's out, and so does a variable for it that the process environment
    has already (uv reads that one itself). The result goes into the plan, so that a pull
    installs from the same indexes wherever it runs. With ``warn``, what uv cannot use is
    named in one warning line per source (never a value: URLs may hold passwords).
    """
    from rezup.tools import uv_options

    base_dir = str(recipe.source.parent) if recipe.source else os.getcwd()
    pip_env = uv_options.translate_pip_env(dict(recipe.pip_env), base_dir)
    pip_options = uv_options.translate_pip_options(recipe.pip_options, base_dir)
    options = [*pip_env.options, *pip_options.options, *recipe.uv_options]
    env = {**pip_env.env, **pip_options.env, **dict(recipe.uv_env)}
    studio_options, studio_env = _studio_settings(uv_options.setting_names(options, env), warn)
    if warn and (pip_options.dropped or pip_env.dropped):
        log.warning(
            "[pip] settings that uv does not use were dropped: %s",
            _redact(", ".join([*pip_options.dropped, *pip_env.dropped])),
        )
    return (
        uv_options.anchor_option_paths([*studio_options, *options], base_dir),
        {**studio_env, **env},
    )


def _studio_settings(recipe_sets: set[str], warn: bool) -> tuple[list[str], dict[str, str]]:
    """The studio's pip settings in uv's terms, less those the recipe (``recipe_sets``, by
    ``uv_options.setting_names``) or the process environment gives already."""
    from rezup.tools import uv_options
    from rezup.tools.pip_settings import read_pip_settings

    settings = read_pip_settings()
    if not settings:
        return [], {}
    translated = uv_options.translate_pip_config(
        {key: s.value for key, s in settings.items()}, os.getcwd(), check_locations=True
    )
    options = [
        token
        for name, tokens in uv_options.iter_options(translated.options)
        if not uv_options.setting_names(tokens, ()) & recipe_sets
        for token in tokens
    ]
    env = uv_options.not_set_in(
        uv_options.without_settings(translated.env, recipe_sets), os.environ
    )
    if warn:
        _report_studio(settings, translated, options, env)
    return options, env


def _report_studio(
    settings: Mapping[str, Setting],
    translated: Translation,
    options: list[str],
    env: dict[str, str],
) -> None:
    """One warning line for what uv cannot use, one for missing locations, and one info
    line naming the settings in use and where they come from (names only, never values)."""
    from rezup.tools import uv_options

    def where(key: str) -> str:
        return f"{key} ({settings[key].source})"

    def used(key: str) -> bool:
        alone = uv_options.translate_pip_config(
            {key: settings[key].value}, os.getcwd(), check_locations=True
        )
        return bool(set(alone.env) & set(env) or set(alone.options) & set(options))

    if translated.dropped:
        log.warning(
            "pip settings that uv cannot use were ignored: %s",
            _redact(", ".join(where(key) for key in translated.dropped)),
        )
    if translated.missing:
        log.warning(
            "pip locations that do not exist were ignored: %s",
            _redact(
                ", ".join(f"{location} ({where(key)})" for key, location in translated.missing)
            ),
        )
    in_use = [where(key) for key in settings if used(key)]
    if in_use:
        log.info("pip settings of this machine used (translated for uv): %s", ", ".join(in_use))


def _redact(text: str) -> str:
    from rezup.tools.credentials import redact

    return redact(text)
