"""Studio pip settings (issue 12): pip's configuration files and PIP_* variables are read as pip
reads them, translated for uv, recorded in the plan, and a pull uses them without them.

The index is a real one: a folder served as a PEP 503 simple index by http.server on
127.0.0.1 (``LocalIndex``), holding small wheels of packages PyPI does not have.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import os
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

import pytest

from rezup.stages.installer_settings import installer_settings
from rezup.stages.plan import PLAN_FILENAME, Plan
from rezup.stages.recipe_loading import parse_recipe
from rezup.tools.pip_settings import config_files, normalise_key, read_pip_settings
from tests.conftest import REZ_PIN, Sandbox, installed_version, make_wheel

# --------------------------------------------------------------------------------------------
# A local index on 127.0.0.1


class LocalIndex:
    """A folder served as a simple index on an ephemeral port of 127.0.0.1, in a thread.

    ``files/`` holds the wheels, ``simple/NAME/`` their pages (with sha256 fragments). With
    ``auth`` (user, password) every request without those Basic credentials gets a 401.
    ``requests`` records (path, whether it carried the right credentials).
    """

    def __init__(self, root: Path, auth: Optional[tuple[str, str]] = None) -> None:
        self.root = root
        self.auth = auth
        self.requests: list[tuple[str, bool]] = []
        (root / "files").mkdir(parents=True, exist_ok=True)
        (root / "simple").mkdir(exist_ok=True)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.base}/simple"

    def url_with(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self._server.server_address[1]}/simple"

    def add(self, name: str, version: str) -> Path:
        """A wheel of ``name`` ``version`` on the index (its page written anew)."""
        wheel = make_wheel(self.root / "files", name, version)
        page = self.root / "simple" / name
        page.mkdir(exist_ok=True)
        links = []
        for path in sorted((self.root / "files").glob(f"{name}-*.whl")):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            links.append(f'<a href="../../files/{path.name}#sha256={digest}">'
                         f"{html.escape(path.name)}</a><br>")
        (page / "index.html").write_text(
            "<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n",
            encoding="utf-8")
        return wheel

    def saw(self, fragment: str, authorized: Optional[bool] = None) -> bool:
        return any(fragment in path and (authorized is None or ok == authorized)
                   for path, ok in self.requests)

    def _handler(self) -> type[SimpleHTTPRequestHandler]:
        index = self
        expected = (None if self.auth is None else
                    "Basic " + base64.b64encode(":".join(self.auth).encode()).decode())

        class Handler(SimpleHTTPRequestHandler):
            timeout = 30  # a stuck client cannot hold a thread for ever

            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, directory=str(index.root), **kwargs)

            def do_GET(self) -> None:
                ok = expected is not None and self.headers.get("Authorization") == expected
                index.requests.append((self.path, ok))
                if expected is not None and not ok:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="studio"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                super().do_GET()

            def log_message(self, *args) -> None:  # quiet
                pass

        return Handler

    def __enter__(self) -> LocalIndex:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def studio_index(tmp_path: Path) -> Iterator[LocalIndex]:
    """An open local index with studiopkg 1.0 and stand-ins of rez 3.4.0 and the seeds (for dry
    runs only)."""
    with LocalIndex(tmp_path / "index") as index:
        index.add("studiopkg", "1.0")
        index.add("rez", "3.4.0")
        for seed in ("pip", "setuptools", "wheel"):  # every plan pins the venv seeds
            index.add(seed, "1.0")
        yield index


DRY_RECIPE = '[rez]\nurl = "rez==3.4.0"\nlib = ["studiopkg"]\n'


def dry_run(box: Sandbox, env: dict[str, str], recipe: str = DRY_RECIPE):
    box.write_recipe(recipe)
    return box.rezup("add", "--dry-run", env=env, timeout=300)


def plan_of(stdout: str) -> Plan:
    return Plan.from_text(stdout[stdout.index("# rezup plan:"):])


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "warning" in line.lower()]


def write_pip_conf(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# Reading pip's configuration like pip


def test_keys_are_normalised_like_pip():
    assert normalise_key("Index_URL") == "index-url"
    assert normalise_key("--extra-index-url") == "extra-index-url"


def test_files_and_variables_in_pips_order(tmp_path: Path):
    xdg_dirs = tmp_path / "xdg-dirs"
    home = tmp_path / "home"
    write_pip_conf(xdg_dirs / "pip" / "pip.conf",
                   "[global]\nindex-url = https://global/simple\ntimeout = 10\n"
                   "retries = 1\ncert = /global.pem\n")
    write_pip_conf(home / ".pip" / "pip.conf",
                   "[global]\ntimeout = 20\nfind-links = /legacy\n")
    write_pip_conf(home / ".config" / "pip" / "pip.conf",
                   "[global]\ntimeout = 30\nretries = 3\n")
    env_file = write_pip_conf(tmp_path / "env.conf", "[global]\nretries = 5\n")
    env = {"HOME": str(home), "XDG_CONFIG_DIRS": str(xdg_dirs),
           "PIP_CONFIG_FILE": str(tmp_path / "missing.conf"), "PIP_TRUSTED_HOST": "h1 h2",
           "PIP_VERSION": "1", "PIP_CERT": "/env.pem"}

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
    write_pip_conf(xdg_dirs / "pip" / "pip.conf",
                   "[install]\nindex-url = https://install-section/simple\n")
    env_file = write_pip_conf(tmp_path / "env.conf",
                              "[global]\nindex-url = https://global-section/simple\n"
                              "[freeze]\nfind-links = /not-for-install\n")
    settings = read_pip_settings({"HOME": str(tmp_path), "XDG_CONFIG_DIRS": str(xdg_dirs),
                                  "PIP_CONFIG_FILE": str(env_file)})
    assert settings["index-url"].value == "https://install-section/simple"
    assert "find-links" not in settings
    settings = read_pip_settings({"HOME": str(tmp_path), "XDG_CONFIG_DIRS": str(xdg_dirs),
                                  "PIP_CONFIG_FILE": str(env_file),
                                  "PIP_INDEX_URL": "https://variable/simple"})
    assert settings["index-url"].value == "https://variable/simple"


def test_devnull_turns_off_every_file_but_not_the_variables(tmp_path: Path):
    xdg_dirs = tmp_path / "xdg"
    write_pip_conf(xdg_dirs / "pip" / "pip.conf", "[global]\nindex-url = https://g/simple\n")
    env = {"HOME": str(tmp_path), "XDG_CONFIG_DIRS": str(xdg_dirs),
           "PIP_CONFIG_FILE": os.devnull, "PIP_EXTRA_INDEX_URL": "https://x/simple"}
    assert config_files(env) == []
    assert {key: s.value for key, s in read_pip_settings(env).items()} == {
        "extra-index-url": "https://x/simple",
    }


def test_empty_values_hide_nothing(tmp_path: Path):
    env_file = write_pip_conf(tmp_path / "env.conf",
                              "[global]\nindex-url = https://g/simple\n[install]\nindex-url =\n")
    settings = read_pip_settings({"HOME": str(tmp_path), "XDG_CONFIG_DIRS": str(tmp_path),
                                  "PIP_CONFIG_FILE": str(env_file), "PIP_INDEX_URL": ""})
    assert settings["index-url"].value == "https://g/simple"


def test_a_broken_file_is_skipped_with_a_warning(tmp_path: Path, caplog):
    env_file = write_pip_conf(tmp_path / "env.conf", "index-url = no section header\n")
    with caplog.at_level(logging.WARNING, logger="rezup"):
        settings = read_pip_settings({"HOME": str(tmp_path), "XDG_CONFIG_DIRS": str(tmp_path),
                                      "PIP_CONFIG_FILE": str(env_file)})
    assert "index-url" not in settings
    [record] = [r for r in caplog.records if str(env_file) in r.getMessage()]
    assert "\n" not in record.getMessage()


def test_where_pip_looks_on_each_platform(tmp_path: Path):
    env = {"HOME": "/home/me", "XDG_CONFIG_DIRS": "/a:/b", "XDG_CONFIG_HOME": "/cfg"}
    linux = config_files(env, "linux")
    assert linux == ["/a/pip/pip.conf", "/b/pip/pip.conf", "/etc/pip.conf",
                     "/home/me/.pip/pip.conf", "/cfg/pip/pip.conf",
                     os.path.join(sys.prefix, "pip.conf")]
    assert config_files({"HOME": "/home/me"}, "linux")[:2] == ["/etc/xdg/pip/pip.conf",
                                                              "/etc/pip.conf"]
    mac = config_files({"HOME": "/Users/me"}, "darwin")
    assert mac[0] == "/Library/Application Support/pip/pip.conf"
    assert mac[1:3] == ["/Users/me/.pip/pip.conf", "/Users/me/.config/pip/pip.conf"]
    windows = config_files({"HOME": "C:/Users/me", "APPDATA": "C:/AppData",
                            "ProgramData": "C:/ProgramData"}, "win32")
    assert windows[:3] == [os.path.join("C:/ProgramData", "pip", "pip.ini"),
                           os.path.join("C:/Users/me", "pip", "pip.ini"),
                           os.path.join("C:/AppData", "pip", "pip.ini")]
    assert windows[-1] == os.path.join(sys.prefix, "pip.ini")


# --------------------------------------------------------------------------------------------
# Into the installer settings (unit: no uv)


def _recipe(tmp_path: Path, text: str = ""):
    path = tmp_path / "rezup.toml"
    path.write_text(text, encoding="utf-8")
    return parse_recipe(text, source=path)


def test_precedence_files_variables_recipe_and_process(tmp_path: Path, monkeypatch):
    conf = write_pip_conf(tmp_path / "pip.conf",
                          "[global]\nindex-url = https://file/simple\n"
                          "extra-index-url = https://file-extra/simple\ntimeout = 11\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "https://variable-extra/simple")
    options, env = installer_settings(_recipe(tmp_path), warn=False)
    assert options == []
    assert env == {"UV_INDEX_URL": "https://file/simple",
                   "UV_EXTRA_INDEX_URL": "https://variable-extra/simple",
                   "UV_HTTP_TIMEOUT": "11"}

    # the recipe's [pip] wins (options and env), [uv] over it; a uv spelling counts too
    recipe = _recipe(tmp_path, '[pip]\noptions = ["--extra-index-url", "https://r/simple"]\n'
                               '[uv.env]\nUV_DEFAULT_INDEX = "https://uv/simple"\n')
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
    conf = write_pip_conf(tmp_path / "pip.conf",
                          "[global]\nindex-url = https://alice:s3cret@studio.example/simple\n"
                          "find-links = https://bob:hunter2@studio.example/links "
                          "file:///no/such/place\nprefer-binary = true\n")
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


# --------------------------------------------------------------------------------------------
# End to end: rezup add --dry-run against the local index


@pytest.mark.e2e
def test_pip_index_url_points_rezup_at_the_studio_index(sandbox: Sandbox, studio_index):
    result = dry_run(sandbox, {"PIP_INDEX_URL": studio_index.url})
    assert result.returncode == 0, result.stderr
    plan = plan_of(result.stdout)
    assert any(line.startswith("studiopkg==1.0") for line in plan.venvs[0].requirements)
    assert dict(plan.uv_env)["UV_INDEX_URL"] == studio_index.url
    assert studio_index.saw("/simple/studiopkg/")
    assert "PIP_INDEX_URL" in result.stderr  # the source is announced
    assert warnings(result.stderr) == []


@pytest.mark.e2e
def test_pip_extra_index_url_adds_the_studio_index(sandbox: Sandbox, studio_index):
    result = dry_run(sandbox, {"PIP_EXTRA_INDEX_URL": studio_index.url},
                     recipe=f'[rez]\nurl = "{REZ_PIN}"\nlib = ["studiopkg"]\n')
    assert result.returncode == 0, result.stderr
    plan = plan_of(result.stdout)
    assert any(line.startswith("studiopkg==1.0") for line in plan.venvs[0].requirements)
    assert dict(plan.uv_env) == {"UV_EXTRA_INDEX_URL": studio_index.url}


@pytest.mark.e2e
def test_pip_conf_named_by_pip_config_file(sandbox: Sandbox, studio_index, tmp_path: Path):
    conf = write_pip_conf(tmp_path / "studio" / "pip.conf",
                          f"[global]\ndisable-pip-version-check = true\n"
                          f"[install]\nindex-url = {studio_index.url}\n")
    result = dry_run(sandbox, {"PIP_CONFIG_FILE": str(conf)})
    assert result.returncode == 0, result.stderr
    plan = plan_of(result.stdout)
    assert any(line.startswith("studiopkg==1.0") for line in plan.venvs[0].requirements)
    assert dict(plan.uv_env) == {"UV_INDEX_URL": studio_index.url}
    assert f"{conf} [install]" in result.stderr
    assert warnings(result.stderr) == []  # a cosmetic setting is dropped without a word


@pytest.mark.e2e
def test_the_recipe_wins_over_pip_conf(sandbox: Sandbox, studio_index, tmp_path: Path):
    unreachable = "http://127.0.0.1:9/simple"  # nothing listens there
    conf = write_pip_conf(tmp_path / "pip.conf", f"[global]\nindex-url = {unreachable}\n")
    for section in (f'[pip]\noptions = ["--index-url", "{studio_index.url}"]\n',
                    f'[pip.env]\nPIP_INDEX_URL = "{studio_index.url}"\n',
                    f'[uv]\noptions = ["--default-index", "{studio_index.url}"]\n'):
        result = dry_run(sandbox, {"PIP_CONFIG_FILE": str(conf)}, DRY_RECIPE + section)
        assert result.returncode == 0, f"{section}\n{result.stderr}"
        plan = plan_of(result.stdout)
        assert unreachable not in plan.to_text()
        assert any(line.startswith("studiopkg==1.0") for line in plan.venvs[0].requirements)


@pytest.mark.e2e
def test_what_uv_cannot_use_gives_one_warning_line(sandbox: Sandbox, studio_index,
                                                   tmp_path: Path):
    conf = write_pip_conf(tmp_path / "pip.conf",
                          f"[global]\nindex-url = {studio_index.url}\nprefer-binary = yes\n"
                          "use-feature = truststore\nkeyring-provider = auto\n"
                          "no-warn-script-location = 1\nprogress-bar = off\n")
    result = dry_run(sandbox, {"PIP_CONFIG_FILE": str(conf), "PIP_SRC": "/src"})
    assert result.returncode == 0, result.stderr
    [line] = warnings(result.stderr)
    for name in ("prefer-binary", "use-feature", "keyring-provider", "src (PIP_SRC)"):
        assert name in line
    assert "progress-bar" not in line and "no-warn-script-location" not in line


@pytest.mark.e2e
def test_a_missing_find_links_folder_is_dropped_with_a_warning(sandbox: Sandbox, studio_index,
                                                               tmp_path: Path):
    links = tmp_path / "links"
    make_wheel(links, "otherpkg", "2.0")
    conf = write_pip_conf(tmp_path / "pip.conf",
                          f"[global]\nindex-url = {studio_index.url}\n"
                          f"find-links =\n    {tmp_path / 'no-such-folder'}\n    {links}\n"
                          "extra-index-url = file:///opt/no-such-index/simple\n")
    result = dry_run(sandbox, {"PIP_CONFIG_FILE": str(conf)},
                     DRY_RECIPE.replace('["studiopkg"]', '["studiopkg", "otherpkg"]'))
    assert result.returncode == 0, result.stderr  # uv alone fails on a missing find-links
    [line] = warnings(result.stderr)
    assert str(tmp_path / "no-such-folder") in line
    assert "file:///opt/no-such-index/simple" in line
    plan = plan_of(result.stdout)
    assert dict(plan.uv_env)["UV_FIND_LINKS"] == str(links)
    assert "UV_EXTRA_INDEX_URL" not in dict(plan.uv_env)
    assert any(line.startswith("otherpkg==2.0") for line in plan.venvs[0].requirements)


@pytest.mark.e2e
def test_a_pull_uses_the_recorded_index_without_the_settings(remote_sandbox: Sandbox,
                                                             tmp_path: Path):
    box = remote_sandbox
    with LocalIndex(tmp_path / "index") as index:
        index.add("studiopkg", "1.0")
        conf = write_pip_conf(tmp_path / "pip.conf", f"[global]\nextra-index-url = {index.url}\n")
        box.write_recipe(f'[rez]\nurl = "{REZ_PIN}"\nlib = ["studiopkg"]\n')
        box.rezup("add", "--remote", "--skip-use", check=True,
                  env={"PIP_CONFIG_FILE": str(conf)})
        [remote] = box.ready_revisions(remote=True)
        assert dict(Plan.read(remote / PLAN_FILENAME).uv_env) == {
            "UV_EXTRA_INDEX_URL": index.url}
        index.add("studiopkg", "1.1")  # the index moves on: the pin holds
        pulls_before = len(index.requests)

        # a farm machine with no pip settings at all
        result = box.rezup("use", "--", "rez", "--version", timeout=600)
        assert result.returncode == 0, result.stderr
        [pulled] = box.ready_revisions()
        assert installed_version(pulled, "studiopkg") == "1.0"
        assert len(index.requests) > pulls_before  # installed from the recorded index
