"""Standard locks: the PEP 751 ``pylock.<venv>.toml`` that every revision holds, one per venv.

``plan.lock`` stays what rezup reads. The standard lock is for everything else: security and
compliance scanners, ``uv pip install -r pylock.rez.toml`` of the same packages elsewhere,
``rezup export``. Its body is uv's own (``uv pip compile --format pylock.toml`` of the venv's
pins, against the indexes the install uses), checked against the plan: every pin at its
version, no package the plan does not hold, and no file whose hash the plan does not allow
(one the index published after the plan was made is left out, as the install's hash check
leaves it out). rezup appends a ``[tool.rezup]`` table (``tool_table``) for what the standard
cannot say: the container, revision and venv, the Python, the plan.

A revision whose venv has the same inputs as another revision's (the donor of a clone, the
remote revision a pull builds) copies that revision's body instead of asking uv: the table's
``inputs-digest`` says what a body was made from (``inputs_digest``), and a body is copied
only when it is the new venv's.

Every revision holds them: a build that cannot write them fails (``BuildError``), like one
whose install fails. They are made beside the install (``PendingLocks``: uv's cache alone
answers in tens of milliseconds for pins resolved moments ago), with the same indexes and
find-links, so a pull from a wheelhouse with no index writes them too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from packaging.utils import canonicalize_name

from rezup.ground import locations, paths, progress
from rezup.ground.errors import BuildError, step
from rezup.stages.plan import Plan, VenvPlan, pinned

if TYPE_CHECKING:
    from rezup.ground.formats import PylockToolTable

log = logging.getLogger("rezup")

TOOL_FORMAT = 1  # the format of the [tool.rezup] table (its `format` key)
_TABLE_HEADER = "[tool.rezup]"

# Where the standard locks of a new revision may be copied from: a revision folder (a donor,
# the remote revision of a pull), the texts of its lock files by venv, or a function that
# reads one of its files by name (a remote revision served over HTTP: its ``text``), called
# in the locks' own thread. A lock that cannot be read there is made anew.
LockSource = Union[str, "os.PathLike[str]", Mapping[str, str], Callable[[str], str]]


# -- names ---------------------------------------------------------------------------------------


def lock_files(plan: Plan) -> dict[str, str]:
    """``{venv: file name}`` of the plan's venvs (``paths.pylock_filename``). BuildError when
    two venvs would share a name (isolated extensions ``a.b`` and ``a-b``)."""
    names: dict[str, str] = {}
    for venv in plan.venvs:
        name = paths.pylock_filename(venv.name)
        other = next((v for v, n in names.items() if n.lower() == name.lower()), None)
        if other is not None:
            raise BuildError(
                f"venvs {other!r} and {venv.name!r} would share the standard lock {name}; "
                "rename one of the extensions"
            )
        names[venv.name] = name
    return names


# -- what a lock is made from, and the [tool.rezup] table ----------------------------------------


def platform_name() -> str:
    """The platform uv locks for (``linux-x86_64``): it writes the files of this one only."""
    import platform
    import sys

    machine = platform.machine().lower() or "unknown"
    return f"{sys.platform}-{machine}"


def inputs_digest(venv: VenvPlan, plan: Plan) -> str:
    """The digest of what the lock of ``venv`` is made from: its pinned lines (hashes too),
    editables and Python version, the plan's installer options and variables, and the
    platform. Two venvs of one digest have the same lock: one may copy the other's."""
    data = {
        "requirements": list(venv.requirements),
        "editables": list(venv.editables),
        "python": venv.python_version,
        "options": list(plan.uv_options),
        "env": sorted([key, value] for key, value in plan.uv_env),
        "platform": platform_name(),
    }
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def tool_table(plan: Plan, venv: VenvPlan, revision: str) -> PylockToolTable:
    """The ``[tool.rezup]`` table of the lock of ``venv`` in revision ``revision``."""
    from rezup import __version__

    return {
        "format": TOOL_FORMAT,
        "container": plan.container,
        "revision": revision,
        "venv": venv.name,
        "python": venv.python_version,
        "platform": platform_name(),
        "plan-digest": plan.digest,
        "inputs-digest": inputs_digest(venv, plan),
        "rezup-version": __version__,
    }


def lock_text(body: str, table: Mapping[str, Any]) -> str:
    """A lock file: uv's ``body``, then the ``[tool.rezup]`` ``table``."""
    import tomli_w

    text = body.rstrip("\n") + "\n\n" + tomli_w.dumps({"tool": {"rezup": dict(table)}})
    _parse(text, "the standard lock")  # never a file that is not TOML
    return text


def split_lock(text: str) -> tuple[str, dict[str, Any]]:
    """``(body, table)`` of a lock file rezup wrote (``lock_text``); ValueError for another."""
    at = text.rfind(f"\n{_TABLE_HEADER}\n")
    if at < 0:
        raise ValueError(f"no {_TABLE_HEADER} table")
    table = _parse(text, "the lock").get("tool", {}).get("rezup")
    if not isinstance(table, dict):
        raise ValueError(f"{_TABLE_HEADER} is not a table")
    return text[:at].rstrip("\n") + "\n", table


def _parse(text: str, label: str) -> dict[str, Any]:
    from rezup.ground.compat import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{label} is not valid TOML ({exc})") from None


# -- the body: uv's lock, checked against the plan -----------------------------------------------


def compile_input(venv: VenvPlan) -> str:
    """What uv is asked to lock for ``venv``: its pinned lines without their hashes (uv
    ignores them; the plan's are applied to its answer by ``checked_body``), and its
    editables."""
    lines = [_without_hashes(line) for line in venv.requirements]
    lines += [f"-e {path}" for path in venv.editables]
    return "\n".join(lines) + "\n"


def compile_body(
    venv: VenvPlan,
    *,
    python: str,
    options: Sequence[str],
    env: Mapping[str, str],
) -> str:
    """uv's lock of ``venv``'s pins for the interpreter ``python`` with the installer
    ``options`` (the plan's, or those of a wheelhouse), checked (``checked_body``)."""
    from rezup.tools import uv_commands

    text = uv_commands.compile_pylock(
        compile_input(venv),
        python,
        options=list(options),
        env=dict(env),
        what=f"writing the standard lock of venv {venv.name!r}",
        cache_first=True,
        no_deps=True,  # the venv's pins are its closed set, installed with --no-deps
    )
    return checked_body(text, venv)


def checked_body(text: str, venv: VenvPlan) -> str:
    """``text``, a lock uv wrote for ``venv``'s pins, once checked against them: each pinned
    package at its version and no other (but the editables and direct references), and only
    files whose hash the pinned line allows. ``text`` itself when nothing is left out, else
    the lock written again without those files. BuildError when it does not hold the pins."""
    label = f"the standard lock of venv {venv.name!r}"
    try:
        data = _parse(text, label)
    except ValueError as exc:
        raise BuildError(str(exc)) from None
    packages = data.get("packages")
    if not isinstance(packages, list) or not all(isinstance(p, dict) for p in packages):
        raise BuildError(f"{label} has no list of packages")
    if isinstance(data.get("tool"), dict) and "rezup" in data["tool"]:
        raise BuildError(f"{label} has a {_TABLE_HEADER} table already")
    pins: dict[str, tuple[str, set[str]]] = {}
    direct: set[str] = set()
    for line in venv.requirements:
        pin = pinned(line)
        if pin is not None:
            pins[pin[0]] = (pin[1], _hashes(line))
        else:
            direct.add(_direct_name(line))
    seen: set[str] = set()
    changed = False
    for package in packages:
        name = canonicalize_name(str(package.get("name", "")))
        if name in pins:
            version, allowed = pins[name]
            if not _same_version(str(package.get("version", "")), version):
                raise BuildError(
                    f"{label} holds {name} {package.get('version')}; the plan pins {version}"
                )
            if allowed:
                changed |= _keep_allowed(package, allowed, f"{label}: {name}=={version}")
        elif name not in direct and not (venv.editables and "directory" in package):
            raise BuildError(f"{label} holds {name}, which the plan does not pin")
        seen.add(name)
    missing = sorted((set(pins) | direct) - seen)
    if missing:
        raise BuildError(f"{label} lacks {', '.join(missing)}, which the plan pins")
    if not changed:
        return text
    import tomli_w

    return tomli_w.dumps(data)


def _keep_allowed(package: dict[str, Any], allowed: set[str], label: str) -> bool:
    """Leave out the files of ``package`` whose sha256 is not ``allowed``; whether any was.
    BuildError when none is left."""
    changed = False
    wheels = package.get("wheels")
    if isinstance(wheels, list):
        kept = [wheel for wheel in wheels if _sha256(wheel) in allowed]
        if len(kept) != len(wheels):
            changed = True
            if kept:
                package["wheels"] = kept
            else:
                del package["wheels"]
    sdist = package.get("sdist")
    if isinstance(sdist, dict) and _sha256(sdist) not in allowed:
        del package["sdist"]
        changed = True
    if not any(key in package for key in ("wheels", "sdist", "archive", "vcs", "directory")):
        raise BuildError(
            f"{label}: no file the index lists has a hash the plan allows (files replaced "
            "on the index since the plan was made?)"
        )
    return changed


def _sha256(entry: Any) -> Optional[str]:
    hashes = entry.get("hashes") if isinstance(entry, dict) else None
    value = hashes.get("sha256") if isinstance(hashes, dict) else None
    return value.lower() if isinstance(value, str) else None


def _hashes(line: str) -> set[str]:
    """The sha256 digests a pinned line allows (``--hash=sha256:H``)."""
    prefix = "--hash=sha256:"
    return {part[len(prefix) :].lower() for part in line.split() if part.startswith(prefix)}


def _without_hashes(line: str) -> str:
    return " ".join(part for part in line.split() if not part.startswith("--hash="))


def _direct_name(line: str) -> str:
    """The package a direct reference (``name[extra] @ url``) names."""
    return canonicalize_name(line.partition(" @ ")[0].partition("[")[0].strip())


def _same_version(left: str, right: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(left) == Version(right)
    except InvalidVersion:
        return left == right


# -- copies: the locks another revision holds ----------------------------------------------------


def locks_of(revision_dir: Path, plan: Plan) -> dict[str, str]:
    """The text of each standard lock the revision folder ``revision_dir`` holds for a venv of
    ``plan`` (a donor, the remote revision a pull builds); one it lacks (made before rezup
    wrote them) or cannot read is left out."""
    found = {}
    for venv in plan.venvs:
        path = locations.pylock_file(revision_dir, venv.name)
        try:
            found[venv.name] = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            log.debug("cannot read %s (%s): writing the lock anew", path, exc)
    return found


def read_by(read: Callable[[str], str], plan: Plan) -> dict[str, str]:
    """``locks_of`` a revision whose files ``read(file name)`` returns (a remote revision
    served over HTTP); one it cannot read (any error) is left out."""
    found = {}
    for venv in plan.venvs:
        name = paths.pylock_filename(venv.name)
        try:
            found[venv.name] = read(name)
        except Exception as exc:  # a missing file, a server that fails: made anew
            log.debug(
                "cannot read %s of the source revision (%s): writing the lock anew", name, exc
            )
    return found


def _texts(source: LockSource, plan: Plan) -> Mapping[str, str]:
    if isinstance(source, (str, os.PathLike)):
        return locks_of(Path(source), plan)
    if callable(source):
        return read_by(source, plan)
    return source


def copied_body(text: str, venv: VenvPlan, plan: Plan) -> Optional[str]:
    """The body of the lock file ``text`` if it was made from the inputs of ``venv`` of
    ``plan`` (``inputs_digest``) and holds its pins, else None."""
    try:
        body, table = split_lock(text)
        if table.get("inputs-digest") != inputs_digest(venv, plan):
            return None
        return checked_body(body, venv)
    except (ValueError, BuildError) as exc:
        log.debug("the standard lock of venv %r is not copied: %s", venv.name, exc)
        return None


def lock_bodies(
    plan: Plan,
    *,
    pythons: Optional[Mapping[str, str]] = None,
    options: Optional[Sequence[str]] = None,
    env: Optional[Mapping[str, str]] = None,
    sources: Sequence[LockSource] = (),
) -> dict[str, str]:
    """The body of the lock of each venv of ``plan``: copied from the first of ``sources`` that
    holds one made from the same inputs, else compiled by uv for the venv's interpreter
    (``pythons``, by venv; default the plan's) with the installer ``options`` and ``env``
    (default the plan's)."""
    options = list(plan.uv_options) if options is None else list(options)
    env = dict(plan.uv_env) if env is None else dict(env)
    texts = [_texts(source, plan) for source in sources]
    bodies = {}
    for venv in plan.venvs:
        body = None
        for found in texts:
            if venv.name in found:
                body = copied_body(found[venv.name], venv, plan)
                if body is not None:
                    log.debug("copied the standard lock of venv %r", venv.name)
                    break
        if body is None:
            python = (pythons or {}).get(venv.name, venv.python)
            body = compile_body(venv, python=python, options=options, env=env)
        bodies[venv.name] = body
    return bodies


# -- writing them --------------------------------------------------------------------------------


def write_locks(folder: Path, plan: Plan, revision: str, bodies: Mapping[str, str]) -> None:
    """Write the lock of each venv of ``plan`` into the revision folder ``folder`` (built for
    the name ``revision``), from its body."""
    for venv in plan.venvs:
        path = locations.pylock_file(folder, venv.name)
        text = lock_text(bodies[venv.name], tool_table(plan, venv, revision))
        with step(f"writing the standard lock {path.name}", path):
            path.write_text(text, encoding="utf-8")


class PendingLocks:
    """The standard locks of a revision being built, made in a thread of their own from the
    moment its plan is known, so that they cost the build nothing while it installs: see
    ``lock_bodies`` for the arguments. ``write`` waits for them and writes them."""

    def __init__(
        self,
        plan: Plan,
        *,
        pythons: Optional[Mapping[str, str]] = None,
        options: Optional[Sequence[str]] = None,
        env: Optional[Mapping[str, str]] = None,
        sources: Sequence[Optional[LockSource]] = (),
    ) -> None:
        lock_files(plan)  # two venvs of one lock name fail now, not after the install
        self.plan = plan
        self._future: Future[dict[str, str]] = Future()
        arguments = {
            "pythons": dict(pythons) if pythons is not None else None,
            "options": list(options) if options is not None else None,
            "env": dict(env) if env is not None else None,
            "sources": [source for source in sources if source is not None],
        }
        self._thread = threading.Thread(
            target=self._run, args=(arguments,), name="rezup-standard-locks", daemon=True
        )
        self._thread.start()

    def _run(self, arguments: dict[str, Any]) -> None:
        try:
            bodies = lock_bodies(self.plan, **arguments)
        except Exception as exc:  # handed to the builder by write()
            self._future.set_exception(exc)
        else:
            self._future.set_result(bodies)

    def write(self, folder: Path, revision: str) -> None:
        """Wait for the locks, then write them into ``folder`` (the revision ``revision``)."""
        if self._future.done():
            bodies = self._future.result()
        else:
            with progress.step("writing the standard locks", "wrote the standard locks"):
                bodies = self._future.result()
        write_locks(folder, self.plan, revision, bodies)


def write_published(
    folder: Path, plan: Plan, revision: str, compiled: Mapping[str, tuple[str, str]]
) -> None:
    """Write the standard locks of the remote revision ``revision`` being published in
    ``folder``. ``compiled`` holds what the wheelhouse had uv lock already (``{venv: (input,
    lock)}``, see ``wheelhouse.collect_wheels``): a venv whose input was that of its standard
    lock takes it, the others are compiled now."""
    lock_files(plan)
    bodies = {}
    for venv in plan.venvs:
        asked, text = compiled.get(venv.name, (None, None))
        if text is not None and asked == compile_input(venv):
            bodies[venv.name] = checked_body(text, venv)
        else:
            bodies[venv.name] = compile_body(
                venv, python=venv.python, options=plan.uv_options, env=dict(plan.uv_env)
            )
    write_locks(folder, plan, revision, bodies)


# -- reading them back ---------------------------------------------------------------------------


def read_lock(revision_dir: Union[str, os.PathLike[str]], venv: str) -> Optional[str]:
    """The text of the standard lock of ``venv`` in ``revision_dir``; None if it has none."""
    try:
        return locations.pylock_file(revision_dir, venv).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def requirements_export(plan: Plan, venv: VenvPlan, revision: str) -> str:
    """``venv``'s pins as a requirements file with their hashes, one ``--hash`` a line, for
    ``uv pip install --require-hashes -r`` (editables, which cannot be hash-checked, last)."""
    from rezup import __version__

    lines = [
        f"# venv {venv.name!r} of revision {revision} of {plan.container} ({plan.digest}),",
        f"# exported by rezup {__version__}: uv pip install --require-hashes -r THIS_FILE",
    ]
    for line in venv.requirements:
        words = line.split()
        hashes = [word for word in words if word.startswith("--hash=")]
        requirement = " ".join(word for word in words if not word.startswith("--hash="))
        lines.append(" \\\n    ".join([requirement, *hashes]))
    if venv.editables:
        lines.append("# editables: not hash-checked (uv refuses them with --require-hashes)")
        lines.extend(f"-e {path}" for path in venv.editables)
    return "\n".join(lines) + "\n"
