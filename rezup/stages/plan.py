"""Plan: the exact, serialisable description of what a revision is built from.

A Recipe says what the user wants ("rez>=3"); a Plan says what gets installed ("rez==3.4.0"
with hashes), per venv, with which interpreter, flags and installer settings. A revision keeps
the plan it was built from in ``plan.lock``; a remote revision keeps the plan every machine
builds, so all machines get the same versions.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

from packaging.utils import canonicalize_name

from rezup.ground.errors import BuildError
from rezup.ground.paths import PLAN_FILENAME
from rezup.ground.wording import plural
from rezup.stages.recipe_model import dotenv_load_order

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

    @property
    def build_digest(self) -> str:
        """The digest of what the venvs are made of: the plan's but for the container's name,
        so that another container's revision of the same build can be cloned. The deprecated
        ``[shared]`` libs are the container's own (its venvs link to them): such a plan is
        the same build in its own container only."""
        if self.shared is not None:
            return self.digest
        return replace(self, container="").digest

    @classmethod
    def from_text(cls, text: str, label: str = PLAN_FILENAME) -> Plan:
        from rezup.ground.compat import tomllib

        try:
            data = tomllib.loads(text)
            return cls.from_dict(data)
        except (
            tomllib.TOMLDecodeError,
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
            RecursionError,
        ) as exc:
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
        parts.append(f"venv {venv.name}: Python {venv.python_version}, {plural(count, 'package')}")
    return "; ".join(parts)
