"""Diff: what changed between two revisions of a container: the recipe, the pinned packages of
each venv, ``[env]`` and dotenv values, and the Python version."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any, Optional, Union

from rezup.ground.errors import ContainerError
from rezup.ground.wording import plural
from rezup.operations.inspect import (
    environment,
    find_revision,
    inspect_served,
    pins,
    python_versions,
    ready_revisions,
)
from rezup.stages.disk_state import RevisionDir

if TYPE_CHECKING:
    from rezup.ground.formats import Changes, DiffDocument, InspectEnvironment
    from rezup.stages.http_remote import UrlRevision

# The format of ``diff --json`` (its ``format`` key; ``formats.DiffDocument``): keys are only
# added within a version; a key renamed or removed makes a new one.
DIFF_FORMAT = 1


def diff(name: str, rev_a: Optional[str] = None, rev_b: Optional[str] = None) -> DiffDocument:
    """Compare two revisions of ``name``: ``rev_a`` against ``rev_b``.

    Defaults: the previous ready revision against the newest; with only ``rev_a``, it against
    the newest.
    """
    if rev_a is None:
        ready = ready_revisions(name)
        if len(ready) < 2:
            raise ContainerError(
                f"container {name!r} has {plural(len(ready), 'ready revision')}: nothing to compare"
            )
        old, new = ready[1], ready[0]
    else:
        old = find_revision(name, rev_a)
        new = find_revision(name, rev_b)
    return compare(old, new)


def compare(
    old: Union[RevisionDir, UrlRevision], new: Union[RevisionDir, UrlRevision]
) -> DiffDocument:
    old_env, old_python, old_pins, old_recipe = _facts(old)
    new_env, new_python, new_pins, new_recipe = _facts(new)
    return {
        "format": DIFF_FORMAT,
        "container": new.container().name(),
        "from": old.dirname(),
        "to": new.dirname(),
        "recipe": list(
            difflib.unified_diff(
                old_recipe.splitlines(),
                new_recipe.splitlines(),
                f"{old.dirname()}/rezup.toml",
                f"{new.dirname()}/rezup.toml",
                lineterm="",
            )
        ),
        "python": {
            venv: [old_python.get(venv), new_python.get(venv)]
            for venv in _union(old_python, new_python)
            if old_python.get(venv) != new_python.get(venv)
        },
        "venvs": {
            venv: changes(old_pins.get(venv, {}), new_pins.get(venv, {}))
            for venv in _union(old_pins, new_pins)
        },
        "env": changes(old_env["env"], new_env["env"]),
        "dotenv": changes(_dotenv_values(old_env), _dotenv_values(new_env)),
    }


def _facts(
    revision: Union[RevisionDir, UrlRevision],
) -> tuple[InspectEnvironment, dict[str, str], dict[str, dict[str, str]], str]:
    """What is compared of a revision: environment, Python versions, pins and recipe."""
    if not isinstance(revision, RevisionDir):  # served over HTTP(S): what its files say
        info = inspect_served(revision.container().name(), revision)
        return info["environment"], info["python"], info["pins"], info["recipe"] or ""
    return environment(revision), python_versions(revision), pins(revision), _recipe(revision)


def _recipe(revision: RevisionDir) -> str:
    try:
        return revision.recipe_text()
    except OSError:
        return ""


def _union(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys([*first, *second]))


def _dotenv_values(env: InspectEnvironment) -> dict[str, str]:
    values: dict[str, str] = {}
    for file_values in env["dotenv"].values():
        values.update(file_values or {})
    return values


def changes(old: dict[str, str], new: dict[str, str]) -> Changes:
    """Keys added, removed, and changed (``[old, new]``) from ``old`` to ``new``."""
    return {
        "added": {key: new[key] for key in new if key not in old},
        "removed": {key: old[key] for key in old if key not in new},
        "changed": {
            key: [old[key], new[key]] for key in new if key in old and old[key] != new[key]
        },
    }


def render(result: DiffDocument) -> str:
    lines = [f"{result['container']}: {result['from']} -> {result['to']}"]
    if result["recipe"]:
        lines.append("recipe:")
        lines.extend(f"  {line}" for line in result["recipe"])
    for venv, (old, new) in result["python"].items():
        lines.append(f"python (venv {venv}): {old or '-'} -> {new or '-'}")
    for venv, change in result["venvs"].items():
        lines.extend(_change_lines(f"venv {venv}", change, "=="))
    lines.extend(_change_lines("[env]", result["env"], " = "))
    lines.extend(_change_lines("dotenv", result["dotenv"], " = "))
    if len(lines) == 1:
        lines.append("no differences")
    return "\n".join(lines) + "\n"


def _change_lines(title: str, change: Changes, sep: str) -> list[str]:
    body = [f"  + {key}{sep}{value}" for key, value in change["added"].items()]
    body += [f"  - {key}{sep}{value}" for key, value in change["removed"].items()]
    body += [f"  ~ {key}{sep}{old} -> {new}" for key, (old, new) in change["changed"].items()]
    return [f"{title}:", *body] if body else []
