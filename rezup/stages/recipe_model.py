"""Recipe: the typed data of a ``rezup[.NAME].toml``, as read, merged over the packaged default
and validated by ``recipe_loading`` and ``recipe_validation``.

The data is plain. This module knows nothing about uv or the on-disk layout.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

DEFAULT_FLAGS: tuple[str, ...] = ("-E",)
PLATFORMS = ("linux", "darwin", "windows")


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


def platform_name() -> str:
    """This platform's name in ``[dotenv.PLATFORM]`` tables."""
    return {"win32": "windows", "darwin": "darwin"}.get(sys.platform, "linux")
