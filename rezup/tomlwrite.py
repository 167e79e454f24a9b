"""A small, deterministic TOML writer for the data rezup writes (plans).

It handles what plans hold: strings, booleans, integers, lists of strings, tables and arrays of
tables, in insertion order. Output is canonical, so text -> data -> text round-trips exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def dumps(data: Mapping[str, Any]) -> str:
    lines: list[str] = []
    _write_table(lines, data, ())
    return "\n".join(lines).strip("\n") + "\n"


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else _string(name)


def _string(text: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes, \uXXXX for controls), except
    # that JSON leaves DEL (U+007F) raw and TOML forbids it unescaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        items = [_value(item) for item in value]
        if sum(len(item) for item in items) < 60:
            return "[" + ", ".join(items) + "]"
        return "[\n" + "".join(f"    {item},\n" for item in items) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(
        isinstance(item, Mapping) for item in value
    )


def _write_table(lines: list[str], table: Mapping[str, Any], path: tuple[str, ...]) -> None:
    for key, value in table.items():
        if not isinstance(value, Mapping) and not _is_table_array(value):
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in table.items():
        dotted = ".".join(_key(part) for part in (*path, key))
        if isinstance(value, Mapping):
            lines.extend(["", f"[{dotted}]"])
            _write_table(lines, value, (*path, key))
        elif _is_table_array(value):
            for item in value:
                lines.extend(["", f"[[{dotted}]]"])
                _write_table(lines, item, (*path, key))
