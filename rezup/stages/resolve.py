"""Resolving: Recipe -> Plan. A recipe split into venvs, their interpreters found, and every
index requirement pinned with ``uv pip compile``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from rezup.ground.errors import RecipeError
from rezup.ground.paths import REZ_VENV
from rezup.stages.installer_settings import installer_settings
from rezup.stages.plan import Plan, ScriptTool, SharedPlan, VenvPlan, seed_packages
from rezup.stages.recipe_model import Recipe, Tool
from rezup.tools.pythons import find_pythons

log = logging.getLogger("rezup")


@dataclass
class _VenvSpec:
    """What one venv should hold, before pinning."""

    name: str
    python_request: str
    inputs: list[str] = field(default_factory=list)  # requirement lines for uv pip compile
    editables: list[str] = field(default_factory=list)
    tools: list[ScriptTool] = field(default_factory=list)
    link_shared: bool = False


def venv_specs(recipe: Recipe) -> list[_VenvSpec]:
    """Split a recipe into venvs: the rez venv, plus one per isolated extension."""
    rez_venv = _VenvSpec(name=REZ_VENV, python_request=recipe.rez.python or "")
    _add_tool(rez_venv, recipe.rez)
    rez_venv.link_shared = recipe.shared is not None
    specs = [rez_venv]
    for ext in recipe.extensions:
        if not ext.isolation:
            _add_tool(rez_venv, ext)
            continue
        venv = _VenvSpec(name=ext.name, python_request=ext.python or "")
        _add_tool(venv, ext)
        # rez as a library, so the extension can import it; its scripts stay in the rez venv
        _add_requirement(venv, recipe.rez)
        specs.append(venv)
    return specs


def _add_tool(venv: _VenvSpec, tool: Tool) -> None:
    _add_requirement(venv, tool)
    venv.inputs.extend(tool.lib)
    venv.tools.append(ScriptTool(tool.name, tool.flags, tool.edit))


def _add_requirement(venv: _VenvSpec, tool: Tool) -> None:
    if tool.edit:
        venv.editables.append(tool.url)
        venv.inputs.append(f"-e {tool.url}")
    elif os.path.isabs(tool.url):
        venv.inputs.append(f"{tool.name} @ {Path(tool.url).as_uri()}")
    else:
        venv.inputs.append(tool.url)


def make_plan(
    recipe: Recipe,
    container: str,
    *,
    pythons: Optional[dict[str, tuple[str, str]]] = None,
    on_line: Optional[Callable[[str], None]] = None,
) -> Plan:
    """Resolve ``recipe`` into a Plan, pinning every index requirement with ``uv pip compile``.

    Venvs are resolved in parallel; each resolution is one uv call. ``pythons`` is what
    ``recipe_pythons`` returned, when the caller looked them up already. ``on_line`` hears uv's
    progress lines, each named by its venv.
    """
    from rezup.tools import uv_commands

    options, env = installer_settings(recipe)
    specs = venv_specs(recipe)
    if pythons is None:
        pythons = recipe_pythons(recipe)

    def pin(spec: _VenvSpec) -> VenvPlan:
        python, version = pythons[spec.python_request]
        # the seeds are resolved with the rest: a recipe that pins pip itself wins
        inputs = [*spec.inputs, *seed_packages(version)]
        compiled = uv_commands.pip_compile(
            "\n".join(inputs) + "\n",
            python,
            options=options,
            env=env,
            what=f"resolving venv {spec.name!r}",
            on_line=_named(on_line, spec.name),
        )
        return VenvPlan(
            name=spec.name,
            python=python,
            python_request=spec.python_request,
            python_version=version,
            requirements=tuple(parse_compiled(compiled)),
            editables=tuple(spec.editables),
            tools=tuple(spec.tools),
            link_shared=spec.link_shared,
        )

    with ThreadPoolExecutor(max_workers=max(1, min(4, len(specs)))) as pool:
        venvs = tuple(pool.map(pin, specs))

    shared = None
    if recipe.shared:
        python = venvs[0].python
        compiled = uv_commands.pip_compile(
            "\n".join(recipe.shared.requires) + "\n",
            python,
            options=options,
            env=env,
            what="resolving [shared]",
            on_line=_named(on_line, "[shared]"),
        )
        shared = SharedPlan(recipe.shared.name, python, tuple(parse_compiled(compiled)))

    return Plan(
        container=container,
        description=recipe.description,
        venvs=venvs,
        uv_options=tuple(options),
        uv_env=tuple(sorted(env.items())),
        env=recipe.env,
        dotenv=recipe.dotenv,
        dotenv_platform=recipe.dotenv_platform,
        shared=shared,
        pinned_seeds=True,
    )


def _named(on_line: Optional[Callable[[str], None]], name: str) -> Optional[Callable[[str], None]]:
    if on_line is None:
        return None
    return lambda line: on_line(f"{name}: {line}")


def recipe_pythons(recipe: Recipe) -> dict[str, tuple[str, str]]:
    """Map each venv's python request to (interpreter path, full version): see
    ``pythons.find_pythons``.

    Also checks that the local folders the recipe names exist, so that a typo fails here,
    before anything is created.
    """
    specs = venv_specs(recipe)
    for spec in specs:
        for path in spec.editables:
            if not Path(path).is_dir():
                raise RecipeError(f"editable source folder not found: {path}")
    for tool in recipe.tools:
        if os.path.isabs(tool.url) and not os.path.exists(tool.url):
            raise RecipeError(
                f"[{'rez' if tool is recipe.rez else 'extension'}] "
                f"{tool.name}: local path not found: {tool.url}"
            )
    return find_pythons(spec.python_request for spec in specs)


def parse_compiled(text: str) -> list[str]:
    """Requirement lines from ``uv pip compile`` output, one line each, editables left out.

    Continuation lines (``\\``) are joined, comments and blank lines dropped.
    """
    joined: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        if line.endswith("\\"):
            current += line[:-1].strip() + " "
            continue
        current += line.strip()
        joined.append(current)
        current = ""
    if current.strip():
        joined.append(current.strip())
    return [line for line in joined if not line.startswith(("-e ", "--editable"))]
