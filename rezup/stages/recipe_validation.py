"""Validating a recipe: a merged recipe table checked key by key into a typed ``Recipe``, and
the rules for the values it holds (a local path, a ``python`` request).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from rezup.ground import paths, root_settings
from rezup.ground.errors import RecipeError, describe_type, quoted
from rezup.stages.recipe_model import DEFAULT_FLAGS, PLATFORMS, Recipe, Shared, Tool

# A distribution name as PEP 508 allows it; also the folder name of an isolated venv
_PACKAGE_NAME_RE = re.compile(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")


class RecipeValidator:
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
        return root_settings.anchor_path(value, str(self.base_dir))

    def root_path(self, value: Any, key: str) -> str:
        return root_settings.root_setting(value, key, self.label, str(self.base_dir))

    # -- sections ----------------------------------------------------------------------------

    def recipe(self, data: Mapping[str, Any], text: str, source: Optional[Path]) -> Recipe:
        self.check_keys(
            "top level",
            data,
            {
                "description",
                "schema",
                "root",
                "rez",
                "extension",
                "shared",
                "env",
                "dotenv",
                "pip",
                "uv",
                "init",
            },
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
            raise self.fail(
                "[[extension]]", f"must be an array of tables, got {describe_type(value)}"
            )
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
        if not paths.is_valid_container_name(name):
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
                    (k, self.path(self.string(f"[dotenv.{key}] {k}", v))) for k, v in item.items()
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
        return root_settings.anchor_path(text, base_dir)
    return text


def is_local_path(url: str) -> bool:
    """Whether a requirement ``url`` names a folder or file on disk rather than a package."""
    return (
        url.startswith(("~", "./", "../", "/", ".\\", "..\\"))
        or url in (".", "..")
        or bool(re.match(r"^[A-Za-z]:[\\/]", url))
    )
