"""Plan: the exact, serialisable description of what a revision is built from.

A Recipe says what the user wants ("rez>=3"); a Plan says what gets installed ("rez==3.4.0"
with hashes), per venv, with which interpreter, flags and installer settings. A revision keeps
the plan it was built from in ``plan.lock``; a remote revision keeps the plan every machine
builds, so all machines get the same versions.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from packaging.utils import canonicalize_name

from rezup.ground.errors import BuildError, RecipeError
from rezup.ground.paths import PLAN_FILENAME, REZ_VENV
from rezup.ground.wording import plural
from rezup.stages.recipe_model import Recipe, Tool, dotenv_load_order
from rezup.tools.pythons import find_pythons

if TYPE_CHECKING:
    from rezup.tools.pip_settings import Setting
    from rezup.tools.uv_options import Translation

log = logging.getLogger("rezup")

PLAN_FORMAT = 1
_HEADER = "# rezup plan: the exact build of one revision. Written by rezup; do not edit.\n"


@dataclass(frozen=True)
class ScriptTool:
    """A package whose console scripts are regenerated in production form."""

    package: str
    flags: tuple[str, ...]
    editable: bool = False


@dataclass(frozen=True)
class VenvPlan:
    name: str
    python: str  # interpreter path found when planning
    python_request: str  # what the recipe asked for ("" = the interpreter running rezup)
    python_version: str  # e.g. "3.11.7"
    requirements: tuple[str, ...]  # pinned lines: "name==1.0 --hash=sha256:..." or "x @ file:..."
    editables: tuple[str, ...] = ()  # local folders installed editable
    tools: tuple[ScriptTool, ...] = ()
    link_shared: bool = False  # the deprecated [shared] libs are linked in with a .pth


@dataclass(frozen=True)
class SharedPlan:
    name: str
    python: str
    requirements: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    container: str
    venvs: tuple[VenvPlan, ...]
    description: str = ""
    uv_options: tuple[str, ...] = ()
    uv_env: tuple[tuple[str, str], ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    dotenv: tuple[str, ...] = ()
    dotenv_platform: tuple[tuple[str, tuple[str, ...]], ...] = ()
    shared: Optional[SharedPlan] = None
    wheels: bool = False  # the remote revision carries a wheelhouse of every pin
    # the seed packages (``seed_packages``) are pinned among each venv's requirements, so its
    # venvs are made with a plain ``uv venv``; False for plans of rezup before 3.x (issue 13),
    # whose venvs are made with ``uv venv --seed``
    pinned_seeds: bool = False
    format: int = field(default=PLAN_FORMAT)

    # -- serialisation -----------------------------------------------------------------------

    def to_text(self) -> str:
        """The plan as TOML: deterministic (keys in a fixed order), so the digest is stable
        and ``to_text(from_text(text)) == text``."""
        import tomli_w

        return _HEADER + tomli_w.dumps(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": self.format,
            "container": self.container,
            "description": self.description,
            "wheels": self.wheels,
            # written only when true: an earlier plan reads back to the same text and digest
            **({"pinned_seeds": True} if self.pinned_seeds else {}),
            "installer": {"options": list(self.uv_options), "env": dict(self.uv_env)},
            "runtime": {
                "dotenv": list(self.dotenv),
                "dotenv_platform": {k: list(v) for k, v in self.dotenv_platform},
                "env": dict(self.env),
            },
            "venv": [_venv_to_dict(venv) for venv in self.venvs],
        }
        if self.shared:
            data["shared"] = {
                "name": self.shared.name,
                "python": self.shared.python,
                "requirements": list(self.shared.requirements),
            }
        return data

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.to_text().encode("utf-8")).hexdigest()

    @classmethod
    def from_text(cls, text: str, label: str = PLAN_FILENAME) -> Plan:
        from rezup.ground.compat import tomllib

        try:
            data = tomllib.loads(text)
            return cls.from_dict(data)
        except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, AttributeError,
                RecursionError) as exc:
            raise BuildError(f"{label}: not a valid rezup plan ({exc})") from None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        if data.get("format") != PLAN_FORMAT:
            raise ValueError(f"unsupported plan format {data.get('format')!r}")
        shared = data.get("shared")
        runtime = data["runtime"]
        return cls(
            container=data["container"],
            description=data.get("description", ""),
            wheels=bool(data.get("wheels", False)),
            pinned_seeds=bool(data.get("pinned_seeds", False)),
            uv_options=tuple(data["installer"]["options"]),
            uv_env=tuple(data["installer"]["env"].items()),
            env=tuple(runtime["env"].items()),
            dotenv=tuple(runtime["dotenv"]),
            dotenv_platform=tuple((k, tuple(v)) for k, v in runtime["dotenv_platform"].items()),
            venvs=tuple(_venv_from_dict(item) for item in data["venv"]),
            shared=SharedPlan(shared["name"], shared["python"], tuple(shared["requirements"]))
            if shared
            else None,
        )

    @classmethod
    def read(cls, path: Path) -> Plan:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise BuildError(f"cannot read plan {path}: {exc}") from None
        return cls.from_text(text, str(path))

    def write(self, path: Path) -> None:
        path.write_text(self.to_text(), encoding="utf-8")

    def with_wheels(self, wheels: bool) -> Plan:
        from dataclasses import replace

        return replace(self, wheels=wheels)

    def dotenv_files(self, platform_name: str) -> list[str]:
        return dotenv_load_order(self.dotenv, self.dotenv_platform, platform_name)


def _venv_to_dict(venv: VenvPlan) -> dict[str, Any]:
    return {
        "name": venv.name,
        "python": venv.python,
        "python_request": venv.python_request,
        "python_version": venv.python_version,
        "link_shared": venv.link_shared,
        "requirements": list(venv.requirements),
        "editables": list(venv.editables),
        "tool": [
            {"package": t.package, "flags": list(t.flags), "editable": t.editable}
            for t in venv.tools
        ],
    }


def _venv_from_dict(data: dict[str, Any]) -> VenvPlan:
    return VenvPlan(
        name=data["name"],
        python=data["python"],
        python_request=data["python_request"],
        python_version=data["python_version"],
        link_shared=bool(data.get("link_shared", False)),
        requirements=tuple(data["requirements"]),
        editables=tuple(data["editables"]),
        tools=tuple(
            ScriptTool(t["package"], tuple(t["flags"]), bool(t.get("editable", False)))
            for t in data.get("tool", [])
        ),
    )


# --------------------------------------------------------------------------------------------
# Planning: Recipe -> Plan


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
        log.warning("[pip] settings that uv does not use were dropped: %s",
                    _redact(", ".join([*pip_options.dropped, *pip_env.dropped])))
    return (uv_options.anchor_option_paths([*studio_options, *options], base_dir),
            {**studio_env, **env})


def _studio_settings(recipe_sets: set[str], warn: bool) -> tuple[list[str], dict[str, str]]:
    """The studio's pip settings in uv's terms, less those the recipe (``recipe_sets``, by
    ``uv_options.setting_names``) or the process environment gives already."""
    from rezup.tools import uv_options
    from rezup.tools.pip_settings import read_pip_settings

    settings = read_pip_settings()
    if not settings:
        return [], {}
    translated = uv_options.translate_pip_config({key: s.value for key, s in settings.items()},
                                         os.getcwd(), check_locations=True)
    options = [token for name, tokens in uv_options.iter_options(translated.options)
               if not uv_options.setting_names(tokens, ()) & recipe_sets for token in tokens]
    env = uv_options.not_set_in(uv_options.without_settings(translated.env, recipe_sets),
                                os.environ)
    if warn:
        _report_studio(settings, translated, options, env)
    return options, env


def _report_studio(settings: Mapping[str, Setting], translated: Translation,
                   options: list[str], env: dict[str, str]) -> None:
    """One warning line for what uv cannot use, one for missing locations, and one info
    line naming the settings in use and where they come from (names only, never values)."""
    from rezup.tools import uv_options

    def where(key: str) -> str:
        return f"{key} ({settings[key].source})"

    def used(key: str) -> bool:
        alone = uv_options.translate_pip_config({key: settings[key].value}, os.getcwd(),
                                        check_locations=True)
        return bool(set(alone.env) & set(env) or set(alone.options) & set(options))

    if translated.dropped:
        log.warning("pip settings that uv cannot use were ignored: %s",
                    _redact(", ".join(where(key) for key in translated.dropped)))
    if translated.missing:
        log.warning("pip locations that do not exist were ignored: %s",
                    _redact(", ".join(f"{location} ({where(key)})"
                                      for key, location in translated.missing)))
    in_use = [where(key) for key in settings if used(key)]
    if in_use:
        log.info("pip settings of this machine used (translated for uv): %s", ", ".join(in_use))


def _redact(text: str) -> str:
    from rezup.tools.credentials import redact

    return redact(text)


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
            "\n".join(inputs) + "\n", python, options=options, env=env,
            what=f"resolving venv {spec.name!r}", on_line=_named(on_line, spec.name),
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
            "\n".join(recipe.shared.requires) + "\n", python, options=options, env=env,
            what="resolving [shared]", on_line=_named(on_line, "[shared]"),
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


def seed_packages(python_version: str) -> list[str]:
    """What a venv is seeded with, as ``uv venv --seed`` (and virtualenv, which rezup 2.x
    used) does it: pip, plus setuptools and wheel before Python 3.12. ``rez-pip`` and
    ``python -m pip`` need them in every venv."""
    return ["pip"] if major_minor(python_version) >= (3, 12) else ["pip", "setuptools", "wheel"]


def major_minor(python_version: str) -> tuple[int, int]:
    from packaging.version import InvalidVersion, Version

    try:
        release = Version(python_version).release
    except InvalidVersion:
        raise BuildError(f"not a Python version: {python_version!r}") from None
    return release[0], (release[1] if len(release) > 1 else 0)


def _named(on_line: Optional[Callable[[str], None]], name: str
           ) -> Optional[Callable[[str], None]]:
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
            raise RecipeError(f"[{'rez' if tool is recipe.rez else 'extension'}] "
                              f"{tool.name}: local path not found: {tool.url}")
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


_PINNED = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([^\s;,]+)")


def pinned(line: str) -> Optional[tuple[str, str]]:
    """(canonical name, version) of a pinned requirement line (``name==1.0 --hash=...``);
    None for a direct reference (``name @ url``) or anything else."""
    match = _PINNED.match(line)
    if not match or " @ " in line:
        return None
    return canonicalize_name(match.group(1)), match.group(2)


def pinned_version(venv: VenvPlan, package: str) -> Optional[str]:
    """The version ``venv`` pins ``package`` to, if it pins it."""
    wanted = canonicalize_name(package)
    for line in venv.requirements:
        pin = pinned(line)
        if pin and pin[0] == wanted:
            return pin[1]
    return None


def requirements_text(venv: VenvPlan) -> str:
    """The requirements file that installs ``venv`` exactly as planned."""
    lines = list(venv.requirements)
    lines.extend(f"-e {path}" for path in venv.editables)
    return "\n".join(lines) + "\n"


def describe(plan: Plan) -> str:
    """A short human summary of a plan, for the log."""
    parts = []
    for venv in plan.venvs:
        count = len(venv.requirements) + len(venv.editables)
        parts.append(f"venv {venv.name}: Python {venv.python_version}, "
                     f"{plural(count, 'package')}")
    return "; ".join(parts)
