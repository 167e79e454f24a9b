"""End to end: installs of pins that uv's cache holds ask no index (``cache_first``), and
fall back to the index for what it lacks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rezup.ground.errors import UvError
from rezup.tools import uv_commands
from rezup.tools.pythons import default_python
from tests.helpers import UV_CACHE

UNREACHABLE = {  # every request fails at once: nothing listens on port 9
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "ALL_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "",
    "UV_HTTP_RETRIES": "0",
    "UV_HTTP_TIMEOUT": "5",
}


def pinned(tmp_path: Path, requirement: str) -> Path:
    text = uv_commands.pip_compile(
        f"{requirement}\n", default_python(), env={"UV_CACHE_DIR": UV_CACHE}
    )
    path = tmp_path / "requirements.txt"
    path.write_text(text, encoding="utf-8")
    return path


def fresh_venv(path: Path) -> Path:
    subprocess.run(
        ["uv", "venv", "--quiet", "--no-project", "--python", default_python(), str(path)],
        check=True,
    )
    return path / "bin" / "python"


def test_pins_in_the_cache_install_with_no_index(tmp_path: Path):
    requirements = pinned(tmp_path, "six==1.17.0")
    env = {"UV_CACHE_DIR": UV_CACHE}
    # fills the cache
    uv_commands.pip_install(fresh_venv(tmp_path / "first"), requirements, env=env)

    offline = {**env, **UNREACHABLE}
    python = fresh_venv(tmp_path / "second")
    with pytest.raises(UvError):  # asking the index fails here
        uv_commands.pip_install(python, requirements, env=offline)
    uv_commands.pip_install(python, requirements, env=offline, cache_first=True)
    result = subprocess.run(
        [str(python), "-c", "import six; print(six.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "1.17.0"


def test_what_the_cache_lacks_comes_from_the_index(tmp_path: Path):
    """An empty cache: the offline attempt fails, the index is asked, the pins install."""
    requirements = pinned(tmp_path, "six==1.17.0")
    python = fresh_venv(tmp_path / "venv")
    uv_commands.pip_install(
        python, requirements, env={"UV_CACHE_DIR": str(tmp_path / "empty-cache")}, cache_first=True
    )
    result = subprocess.run(
        [str(python), "-c", "import six; print(six.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "1.17.0"
