"""Build: execute a Plan into a revision folder.

Order matters for safety: venvs, packages, production scripts and markers first, and
``revision.json`` last, written atomically. Until that file exists the revision is not ready
and nothing uses it; a build that fails removes its folder.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import shutil
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

from rezup import __version__
from rezup.container import METADATA_FILENAME, RECIPE_FILENAME, VENV_DIRNAME
from rezup.errors import BuildError
from rezup.plan import PLAN_FILENAME, Plan, VenvPlan, requirements_text
from rezup.production import (
    BIN_DIRNAME,
    find_distribution,
    production_bin_dir,
    remove_installer_scripts,
    venv_python,
    write_production_marker,
    write_production_scripts,
)
from rezup.recipe import Recipe

log = logging.getLogger("rezup")



def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to a temporary file beside ``path`` and move it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=2, sort_keys=True)
        stream.write("\n")
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(tmp, path)
    if os.name != "nt":  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def flush_filesystem(path: Path) -> None:
    """Force what was written under ``path`` (by uv, in other processes) to disk.

    The ready marker must never reach the disk before the files it vouches for: after a power
    loss, a ``revision.json`` whose venv files were still in the page cache would be a broken
    revision that looks ready. Linux flushes only ``path``'s filesystem (``syncfs``); elsewhere
    everything is flushed.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(path, os.O_RDONLY)
            try:
                if libc.syncfs(fd) == 0:
                    return
            finally:
                os.close(fd)
        except (OSError, AttributeError):
            pass
    if hasattr(os, "sync"):
        os.sync()


def remove_tree(path: Path) -> None:
    """Remove a folder, also when parts are read-only (as installed files can be)."""
    if not path.exists() and not path.is_symlink():
        return

    def make_writable_and_retry(func, target, _exc_info):
        # removing an entry needs write access to its folder, not to the entry itself
        os.chmod(os.path.dirname(target), 0o700)
        if os.path.isdir(target) and not os.path.islink(target):
            os.chmod(target, 0o700)
        func(target)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=lambda f, p, e: make_writable_and_retry(f, p, e))
    else:
        shutil.rmtree(path, onerror=make_writable_and_retry)


def base_metadata(plan: Plan, path: Path) -> dict[str, Any]:
    return {
        "rezup_version": __version__,
        "creator": _user(),
        "hostname": socket.gethostname(),
        "revision_path": str(path),
        "created": time.time(),
        "plan_digest": plan.digest,
        "venvs": [venv.name for venv in plan.venvs],
        "python": plan.venvs[0].python_version,
        "rez_version": _pinned_version(plan.venvs[0], "rez"),
    }


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def _pinned_version(venv: VenvPlan, package: str) -> Optional[str]:
    for line in venv.requirements:
        name, sep, rest = line.partition("==")
        if sep and name.strip().lower() == package:
            return rest.split()[0].split(";")[0].strip()
    return None


def build_local_revision(
    plan: Plan,
    recipe_text: str,
    path: Path,
    *,
    container_path: Path,
    find_links: Optional[Path] = None,
    extra_metadata: Optional[dict[str, Any]] = None,
    venvs_ready: bool = False,
) -> dict[str, Any]:
    """Build ``plan`` into the (absent) folder ``path``; return the revision metadata.

    The caller holds the revision lock. ``find_links`` installs from a wheelhouse with no
    index at all (an offline pull). ``venvs_ready``: ``plan_and_build`` made the folder and the
    empty venvs already. On any failure the folder is removed.
    """
    if path.exists() and not venvs_ready:
        raise BuildError(f"revision folder already exists: {path}")
    started = time.monotonic()
    path.mkdir(parents=True, exist_ok=venvs_ready)
    try:
        (path / RECIPE_FILENAME).write_text(recipe_text, encoding="utf-8")
        plan.write(path / PLAN_FILENAME)
        options = list(plan.uv_options)
        if find_links is not None:
            from rezup.uv import offline_options

            options = offline_options(options, find_links)
        env = dict(plan.uv_env)

        shared_dir = None
        if plan.shared:
            shared_dir = _ensure_shared_lib(plan, container_path, options, env, path)

        def build_one(venv: VenvPlan) -> dict[str, Any]:
            return _build_venv(venv, path, options, env, shared_dir, create=not venvs_ready)

        with ThreadPoolExecutor(max_workers=max(1, min(4, len(plan.venvs)))) as pool:
            venv_info = list(pool.map(build_one, plan.venvs))

        metadata = base_metadata(plan, path)
        rez_info = venv_info[0]
        metadata["rez_version"] = rez_info.get("rez_version") or metadata["rez_version"]
        metadata["session"] = session_metadata(plan)
        metadata["build_seconds"] = round(time.monotonic() - started, 3)
        if extra_metadata:
            metadata.update(extra_metadata)
        flush_filesystem(path)
        write_json_atomic(path / METADATA_FILENAME, metadata)
        return metadata
    except BaseException:
        remove_tree(path)
        raise


def plan_and_build(
    recipe: Recipe, container: str, path: Path, *, container_path: Path
) -> tuple[Plan, dict[str, Any]]:
    """Resolve ``recipe`` and build it into ``path``, creating the venvs while uv resolves.

    ``uv venv`` does not depend on the pins, so it runs beside ``uv pip compile`` instead of
    after it. Returns the plan and the revision metadata. On any failure the folder is removed.
    """
    from rezup import uv
    from rezup.plan import find_pythons, installer_settings, make_plan, venv_specs

    pythons = find_pythons(recipe)
    options, env = installer_settings(recipe, warn=False)
    path.mkdir(parents=True)
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            created = []
            for spec in venv_specs(recipe):
                python, version = pythons[spec.python_request]
                log.info("creating venv %r (Python %s)", spec.name, version)
                created.append(pool.submit(
                    uv.create_venv, path / VENV_DIRNAME / spec.name, python, options=options,
                    env=env,
                ))
            plan = make_plan(recipe, container, pythons=pythons)
            for future in created:
                future.result()
    except BaseException:
        remove_tree(path)  # the pool has waited for every venv by now
        raise
    metadata = build_local_revision(plan, recipe.text, path, container_path=container_path,
                                    venvs_ready=True)
    return plan, metadata


def session_metadata(plan: Plan) -> dict[str, Any]:
    """What ``rezup use`` needs, copied from the plan so that it reads one small JSON file."""
    return {
        "bin_dirs": [
            f"{VENV_DIRNAME}/{venv.name}/{BIN_DIRNAME}/rez" for venv in plan.venvs
        ],
        "env": [list(item) for item in plan.env],
        "dotenv": plan.dotenv_files(_platform_name()),
    }


def _platform_name() -> str:
    return {"win32": "windows", "darwin": "darwin"}.get(sys.platform, "linux")


def _build_venv(
    venv: VenvPlan,
    revision_path: Path,
    options: list[str],
    env: dict[str, str],
    shared_dir: Optional[Path],
    create: bool = True,
) -> dict[str, Any]:
    from rezup import uv

    venv_path = revision_path / VENV_DIRNAME / venv.name
    if create:
        python = interpreter_for(venv)
        log.info("creating venv %r (Python %s)", venv.name, venv.python_version)
        uv.create_venv(venv_path, python, options=options, env=env)
    requirements = revision_path / f".requirements-{venv.name}.txt"
    requirements.write_text(requirements_text(venv), encoding="utf-8")
    try:
        uv.pip_install(
            venv_python(venv_path), requirements, options=options, env=env,
            what=f"installing venv {venv.name!r}",
        )
    finally:
        requirements.unlink()

    info: dict[str, Any] = {}
    try:
        rez = find_distribution(venv_path, "rez")
    except BuildError:
        rez = None
    if rez is None and venv.name == "rez":
        raise BuildError("rez is not installed in the rez venv; check [rez] name and url")
    if rez is not None:
        remove_installer_scripts(venv_path, "rez")
        write_production_marker(venv_path, rez.version)
        info["rez_version"] = rez.version
    for tool in venv.tools:
        write_production_scripts(venv_path, tool.package, tool.flags, editable=tool.editable)
    production_bin_dir(venv_path).mkdir(parents=True, exist_ok=True)
    if venv.link_shared and shared_dir is not None:
        from rezup.production import site_packages

        (site_packages(venv_path) / "_rezup_shared.pth").write_text(
            f"{shared_dir}\n", encoding="utf-8"
        )
    return info


def interpreter_for(venv: VenvPlan) -> str:
    """The interpreter to build ``venv`` with: the planned path, or the same version found here.

    A plan made on another machine names that machine's interpreter. If this machine has none
    there, the recipe's request is looked up again. Either way it must be the minor version
    the plan was resolved for: pins and wheels are only right for that one.
    """
    from rezup import uv
    from rezup.plan import python_version_of

    if Path(venv.python).exists():
        path = venv.python
    elif venv.python_request:
        path = uv.find_python(venv.python_request)
    else:
        raise BuildError(
            f"the plan's Python {venv.python} does not exist on this machine; give the recipe "
            "an explicit 'python' that every machine has"
        )
    found = python_version_of(path)
    if found.split(".")[:2] != venv.python_version.split(".")[:2]:
        raise BuildError(
            f"the plan needs Python {venv.python_version} for venv {venv.name!r}; "
            f"this machine has {found} at {path}"
        )
    return path


def _ensure_shared_lib(
    plan: Plan, container_path: Path, options: list[str], env: dict[str, str], scratch: Path
) -> Path:
    """Install the deprecated ``[shared]`` packages once per container, under ``libs/NAME``."""
    from rezup import uv
    from rezup.lock import hold

    assert plan.shared is not None
    target = container_path / "libs" / plan.shared.name
    ready = target / ".rezup_shared.json"
    if ready.is_file():
        return target
    with hold(container_path / ".locks" / f"libs-{plan.shared.name}.lock",
              f"installing shared libs {plan.shared.name!r}"):
        if ready.is_file():
            return target
        remove_tree(target)
        target.mkdir(parents=True)
        requirements = scratch / ".requirements-shared.txt"
        requirements.write_text("\n".join(plan.shared.requirements) + "\n", encoding="utf-8")
        try:
            uv.pip_install(
                Path(plan.shared.python), requirements, options=options, env=env,
                target=target, what=f"installing shared libs {plan.shared.name!r}",
            )
        except BaseException:
            remove_tree(target)
            raise
        finally:
            requirements.unlink()
        write_json_atomic(ready, {"requirements": list(plan.shared.requirements)})
    return target
