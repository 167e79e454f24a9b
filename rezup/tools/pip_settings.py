"""Studio pip settings: pip's configuration files and ``PIP_*`` variables, read as pip reads them.

A studio that ran rezup 2.x (which installed with pip) steers where packages come from with
``PIP_INDEX_URL``, a ``pip.conf`` or ``PIP_CONFIG_FILE``. uv reads none of these, so rezup reads
them here, the way ``pip install`` would, and ``uv.translate_pip_config`` turns the result into
uv's terms.

Files, lowest priority first (pip's ``Configuration.iter_config_files``):

- global: ``pip/pip.conf`` in every folder of ``$XDG_CONFIG_DIRS`` (default ``/etc/xdg``), then
  ``/etc/pip.conf`` (macOS: ``$XDG_DATA_DIRS``/pip or ``/Library/Application Support/pip``;
  Windows: ``%ProgramData%\\pip\\pip.ini``);
- user: the legacy ``~/.pip/pip.conf``, then ``$XDG_CONFIG_HOME/pip/pip.conf`` (``~/.config``);
  both skipped when ``PIP_CONFIG_FILE`` names a file that exists;
- site: ``pip.conf`` in ``sys.prefix`` (the environment of the Python running rezup);
- ``PIP_CONFIG_FILE``; ``os.devnull`` there turns off every file (``PIP_*`` variables still count).

Then ``PIP_*`` variables beat every file. Within the files, a key of ``[install]`` beats the same
key of ``[global]`` even when ``[global]`` comes from a file of higher priority: pip merges the
files first and lays the sections over each other afterwards. Values are kept as written: the
options pip takes several times (``extra-index-url``, ``find-links``, ``trusted-host``, ...)
are whitespace-separated lists there, which the translation splits.
"""

from __future__ import annotations

import configparser
import logging
import os
import sys
from collections.abc import Mapping
from typing import NamedTuple, Optional

from rezup.ground import paths

log = logging.getLogger("rezup")

# The sections ``pip install`` reads, lowest priority first.
_SECTIONS = ("global", "install")

# PIP_* variables that are no setting (pip ignores the first two; the last names the file).
_NOT_SETTINGS = frozenset({"version", "help", "config-file"})


class Setting(NamedTuple):
    """One effective pip setting: its value as written and where it came from."""

    value: str
    source: str  # "/etc/pip.conf [global]", "PIP_INDEX_URL", ...


def normalise_key(name: str) -> str:
    """pip's spelling of a setting name: ``Index_URL`` and ``--index-url`` are ``index-url``."""
    return name.strip().lower().replace("_", "-").removeprefix("--")


def read_pip_settings(env: Optional[Mapping[str, str]] = None) -> dict[str, Setting]:
    """The settings ``pip install`` would use: ``{normalised name: Setting}``.

    ``env`` defaults to the process environment. Empty values are left out (they do not hide a
    value of lower priority either), as pip does. A file that cannot be read or parsed is
    skipped with a warning.
    """
    env = os.environ if env is None else env
    merged: dict[tuple[str, str], Setting] = {}
    for path in config_files(env):
        merged.update(_read_file(path))
    settings: dict[str, Setting] = {}
    for section in _SECTIONS:
        settings.update(
            {
                key: setting
                for (where, key), setting in merged.items()
                if where == section and setting.value.strip()
            }
        )
    settings.update(
        {key: setting for key, setting in _from_environment(env).items() if setting.value.strip()}
    )
    return settings


def config_files(env: Mapping[str, str], platform: str = sys.platform) -> list[str]:
    """The configuration files pip would read, lowest priority first (missing ones included)."""
    env_file = env.get("PIP_CONFIG_FILE")
    if env_file == os.devnull:
        return []
    files = _global_files(env, platform)
    if not (env_file and os.path.exists(env_file)):
        files += _user_files(env, platform)
    files.append(os.path.join(sys.prefix, _basename(platform)))
    if env_file:
        files.append(env_file)
    return files


def _basename(platform: str) -> str:
    return "pip.ini" if platform == "win32" else "pip.conf"


def _global_files(env: Mapping[str, str], platform: str) -> list[str]:
    name = _basename(platform)
    if platform == "win32":
        program_data = env.get("ProgramData") or env.get("PROGRAMDATA") or r"C:\ProgramData"
        return [os.path.join(program_data, "pip", name)]
    if platform == "darwin":
        dirs = env.get("XDG_DATA_DIRS", "").strip()
        folders = dirs.split(os.pathsep) if dirs else ["/Library/Application Support"]
        return [os.path.join(folder, "pip", name) for folder in folders if folder]
    dirs = env.get("XDG_CONFIG_DIRS", "").strip() or "/etc/xdg"
    folders = [folder for folder in dirs.split(os.pathsep) if folder]
    return [*(os.path.join(folder, "pip", name) for folder in folders), f"/etc/{name}"]


def _user_files(env: Mapping[str, str], platform: str) -> list[str]:
    home = paths.home_folder(env)
    name = _basename(platform)
    if platform == "win32":
        legacy = os.path.join(home, "pip", name)
        appdata = env.get("APPDATA") or os.path.join(home, "AppData", "Roaming")
        return [legacy, os.path.join(appdata, "pip", name)]
    legacy = os.path.join(home, ".pip", name)
    if platform == "darwin":
        return [legacy, os.path.join(_macos_user_folder(env, home), name)]
    config_home = env.get("XDG_CONFIG_HOME", "").strip()
    if not os.path.isabs(config_home):  # XDG: a relative path is to be ignored
        config_home = os.path.join(home, ".config")
    return [legacy, os.path.join(config_home, "pip", name)]


def _macos_user_folder(env: Mapping[str, str], home: str) -> str:
    data_home = env.get("XDG_DATA_HOME", "").strip()
    if data_home and os.path.isdir(os.path.join(data_home, "pip")):
        return os.path.join(data_home, "pip")
    application_support = os.path.join(home, "Library", "Application Support", "pip")
    if not data_home and os.path.isdir(application_support):
        return application_support
    return os.path.join(home, ".config", "pip")


def _read_file(path: str) -> dict[tuple[str, str], Setting]:
    """``{(section, key): Setting}`` of one file; nothing if it does not exist."""
    if not os.path.isfile(path):
        return {}
    parser = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            parser.read_file(stream, source=path)
    except (OSError, configparser.Error) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("pip configuration file %s ignored: %s", path, first_line)
        return {}
    found: dict[tuple[str, str], Setting] = {}
    for section in parser.sections():
        for key, value in parser.items(section):
            found[(section, normalise_key(key))] = Setting(value, f"{path} [{section}]")
    return found


def _from_environment(env: Mapping[str, str]) -> dict[str, Setting]:
    settings: dict[str, Setting] = {}
    for name, value in env.items():
        if not name.startswith("PIP_"):
            continue
        key = normalise_key(name[len("PIP_") :])
        if key and key not in _NOT_SETTINGS:
            settings[key] = Setting(value, name)
    return settings
