"""Studio pip settings (issue 12): pip's configuration files and PIP_* variables are read as pip
reads them, translated for uv, recorded in the plan, and a pull uses them without them.

The index is a real one: a folder served as a PEP 503 simple index by http.server on
127.0.0.1 (``LocalIndex``), holding small wheels of packages PyPI does not have.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from rezup.stages.installer_settings import installer_settings
from rezup.stages.recipe_loading import parse_recipe
from rezup.tools.pip_settings import config_files, normalise_key, read_pip_settings
from tests.helpers import write_pip_conf

# --------------------------------------------------------------------------------------------
# Reading pip's configuration like pip


def test_keys_are_normalised_like_pip():
    assert normalise_key("Index_URL") == "index-url"
    assert normalise_key("--extra-index-url") == "extra-index-url"


def test_files_and_variables_in_pips_order(tmp_path: Path):
    xdg_dirs = tmp_path / "xdg-dirs"
    home = tmp_path / "home"
    write_pip_conf(
        xdg_dirs / "pip" / "pip.conf",
        "[global]\nindex-url = https://global/simple\ntimeout = 10\n"
        "retries = 1\ncert = /global.pem\n",
    )
    write_pip_conf(home / ".pip" / "pip.conf", "[global]\ntimeout = 20\nfind-links = /legacy\n")
    write_pip_conf(home / ".config" / "pip" / "pip.conf", "[global]\ntimeout = 30\nretries = 3\n")
    env_file = write_pip_conf(tmp_path / "env.conf", "[global]\nretries = 5\n")
    env = {
        "HOME": str(home),
        "XDG_CONFIG_DIRS": str(xdg_dirs),
        "PIP_CONFIG_FILE": str(tmp_path / "missing.conf"),
        "PIP_TRUSTED_HOST": "h1 h2",
        "PIP_VERSION": "1",
        "PIP_CERT": "/env.pem",
    }

    settings = read_pip_settings(env)
    # PIP_CONFIG_FILE names no file: the user files count, the legacy one first
    assert settings["index-url"].value == "https://global/simple"
    assert settings["index-url"].source == f"{xdg_dirs / 'pip' / 'pip.conf'} [global]"
    assert settings["timeout"].value == "30"
    assert settings["find-links"].value == "/legacy"
    assert settings["retries"].value == "3"
    assert settings["trusted-host"].value == "h1 h2"
    assert settings["trusted-host"].source == "PIP_TRUSTED_HOST"
    assert settings["cert"].value == "/env.pem"  # variables beat every file
    assert "version" not in settings and "config-file" not in settings

    # PIP_CONFIG_FILE names a file: it comes last, and the user files are not read
    settings = read_pip_settings({**env, "PIP_CONFIG_FILE": str(env_file)})
    assert settings["retries"].value == "5"
    assert settings["timeout"].value == "10"
    assert "find-links" not in settings


def test_a_command_section_beats_global_from_any_file(tmp_path: Path):
    xdg_dirs = tmp_path / "xdg"
    write_pip_conf(
        xdg_dirs / "pip" / "pip.conf", "[install]\nindex-url = https://install-section/simple\n"
    )
    env_file = write_pip_conf(
        tmp_path / "env.conf",
        "[global]\nindex-url = https://global-section/simple\n"
        "[freeze]\nfind-links = /not-for-install\n",
    )
    settings = read_pip_settings(
        {"HOME": str(tmp_path), "XDG_CONFIG_DIRS": str(xdg_dirs), "PIP_CONFIG_FILE": str(env_file)}
    )
    assert settings["index-url"].value == "https://install-section/simple"
    assert "find-links" not in settings
    settings = read_pip_settings(
        {
            "HOME": str(tmp_path),
            "XDG_CONFIG_DIRS": str(xdg_dirs),
            "PIP_CONFIG_FILE": str(env_file),
            "PIP_INDEX_URL": "https://variable/simple",
        }
    )
    assert settings["index-url"].value == "https://variable/simple"


def test_devnull_turns_off_every_file_but_not_the_variables(tmp_path: Path):
    xdg_dirs = tmp_path / "xdg"
    write_pip_conf(xdg_dirs / "pip" / "pip.conf", "[global]\nindex-url = https://g/simple\n")
    env = {
        "HOME": str(tmp_path),
        "XDG_CONFIG_DIRS": str(xdg_dirs),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_EXTRA_INDEX_URL": "https://x/simple",
    }
    assert config_files(env) == []
    assert {key: s.value for key, s in read_pip_settings(env).items()} == {
        "extra-index-url": "https://x/simple",
    }


def test_empty_values_hide_nothing(tmp_path: Path):
    env_file = write_pip_conf(
        tmp_path / "env.conf", "[global]\nindex-url = https://g/simple\n[install]\nindex-url =\n"
    )
    settings = read_pip_settings(
        {
            "HOME": str(tmp_path),
            "XDG_CONFIG_DIRS": str(tmp_path),
            "PIP_CONFIG_FILE": str(env_file),
            "PIP_INDEX_URL": "",
        }
    )
    assert settings["index-url"].value == "https://g/simple"


def test_a_broken_file_is_skipped_with_a_warning(tmp_path: Path, caplog):
    env_file = write_pip_conf(tmp_path / "env.conf", "index-url = no section header\n")
    with caplog.at_level(logging.WARNING, logger="rezup"):
        settings = read_pip_settings(
            {
                "HOME": str(tmp_path),
                "XDG_CONFIG_DIRS": str(tmp_path),
                "PIP_CONFIG_FILE": str(env_file),
            }
        )
    assert "index-url" not in settings
    [record] = [r for r in caplog.records if str(env_file) in r.getMessage()]
    assert "\n" not in record.getMessage()


def test_where_pip_looks_on_each_platform(tmp_path: Path):
    env = {"HOME": "/home/me", "XDG_CONFIG_DIRS": "/a:/b", "XDG_CONFIG_HOME": "/cfg"}
    linux = config_files(env, "linux")
    assert linux == [
        "/a/pip/pip.conf",
        "/b/pip/pip.conf",
        "/etc/pip.conf",
        "/home/me/.pip/pip.conf",
        "/cfg/pip/pip.conf",
        os.path.join(sys.prefix, "pip.conf"),
    ]
    assert config_files({"HOME": "/home/me"}, "linux")[:2] == [
        "/etc/xdg/pip/pip.conf",
        "/etc/pip.conf",
    ]
    mac = config_files({"HOME": "/Users/me"}, "darwin")
    assert mac[0] == "/Library/Application Support/pip/pip.conf"
    assert mac[1:3] == ["/Users/me/.pip/pip.conf", "/Users/me/.config/pip/pip.conf"]
    windows = config_files(
        {"HOME": "C:/Users/me", "APPDATA": "C:/AppData", "ProgramData": "C:/ProgramData"}, "win32"
    )
    assert windows[:3] == [
        os.path.join("C:/ProgramData", "pip", "pip.ini"),
        os.path.join("C:/Users/me", "pip", "pip.ini"),
        os.path.join("C:/AppData", "pip", "pip.ini"),
    ]
    assert windows[-1] == os.path.join(sys.prefix, "pip.ini")


# --------------------------------------------------------------------------------------------
# Into the installer settings (unit: no uv)


def _recipe(tmp_path: Path, text: str = ""):
    path = tmp_path / "rezup.toml"
    path.write_text(text, encoding="utf-8")
    return parse_recipe(text, source=path)


def test_precedence_files_variables_recipe_and_process(tmp_path: Path, monkeypatch):
    conf = write_pip_conf(
        tmp_path / "pip.conf",
        "[global]\nindex-url = https://file/simple\n"
        "extra-index-url = https://file-extra/simple\ntimeout = 11\n",
    )
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "https://variable-extra/simple")
    options, env = installer_settings(_recipe(tmp_path), warn=False)
    assert options == []
    assert env == {
        "UV_INDEX_URL": "https://file/simple",
        "UV_EXTRA_INDEX_URL": "https://variable-extra/simple",
        "UV_HTTP_TIMEOUT": "11",
    }

    # the recipe's [pip] wins (options and env), [uv] over it; a uv spelling counts too
    recipe = _recipe(
        tmp_path,
        '[pip]\noptions = ["--extra-index-url", "https://r/simple"]\n'
        '[uv.env]\nUV_DEFAULT_INDEX = "https://uv/simple"\n',
    )
    options, env = installer_settings(recipe, warn=False)
    assert options == ["--extra-index-url", "https://r/simple"]
    assert env == {"UV_DEFAULT_INDEX": "https://uv/simple", "UV_HTTP_TIMEOUT": "11"}

    # a variable the process has already beats the translated one (uv reads it there)
    monkeypatch.setenv("UV_HTTP_TIMEOUT", "99")
    monkeypatch.setenv("UV_INDEX", "https://mine/simple")
    options, env = installer_settings(_recipe(tmp_path), warn=False)
    assert env == {"UV_INDEX_URL": "https://file/simple"}


def test_no_index_of_the_studio_becomes_the_option(tmp_path: Path, monkeypatch):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "yes")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    options, env = installer_settings(_recipe(tmp_path), warn=False)
    assert options == ["--no-index"]
    assert env == {"UV_FIND_LINKS": str(wheels)}


def test_secrets_in_index_urls_are_kept_but_never_logged(tmp_path: Path, monkeypatch, caplog):
    conf = write_pip_conf(
        tmp_path / "pip.conf",
        "[global]\nindex-url = https://alice:s3cret@studio.example/simple\n"
        "find-links = https://bob:hunter2@studio.example/links "
        "file:///no/such/place\nprefer-binary = true\n",
    )
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    recipe = _recipe(tmp_path, '[pip]\noptions = ["--bogus", "https://carol:pw9@x/simple"]\n')
    with caplog.at_level(logging.DEBUG, logger="rezup"):
        _, env = installer_settings(recipe)
    assert env["UV_INDEX_URL"] == "https://alice:s3cret@studio.example/simple"  # uv needs it
    assert env["UV_FIND_LINKS"] == "https://bob:hunter2@studio.example/links"
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "prefer-binary" in text and "file:///no/such/place" in text
    for secret in ("s3cret", "hunter2", "pw9"):
        assert secret not in text
