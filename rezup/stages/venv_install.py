"""Installing a revision's venvs: ``uv venv``, the pinned packages, their bytecode, the
production scripts, and the deprecated ``[shared]`` libs of a container.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Optional, Union

from rezup.ground import locations, paths, progress
from rezup.ground.errors import BuildError, step
from rezup.ground.filesystem import new_folder, remove_tree, write_json_atomic
from rezup.ground.wording import plural
from rezup.stages import bytecode, bytecode_later, clone_donors
from rezup.stages.build_site import building_under_lock
from rezup.stages.path_rewrite import CloneError
from rezup.stages.plan import Plan, VenvPlan, requirements_text, seed_packages
from rezup.tools import uv_commands, uv_options
from rezup.tools.production import (
    find_distribution,
    remove_installer_scripts,
    site_packages,
    write_production_marker,
    write_production_scripts,
)

log = logging.getLogger("rezup")


def create_venv(
    name: str,
    version: str,
    path: Path,
    python: str,
    options: list[str],
    env: dict[str, str],
    *,
    seed: bool,
) -> None:
    """``seed``: seed the venv from the index, for a plan that does not pin the seeds (one
    written by an earlier rezup)."""
    with progress.step(
        f"creating venv {name!r} (Python {version})", f"created venv {name!r} (Python {version})"
    ):
        uv_commands.create_venv(path, python, seed=seed, options=options, env=env)


def install_options(plan: Plan, find_links: Optional[Union[Path, str]]) -> list[str]:
    options = list(plan.uv_options)
    return uv_options.offline_options(options, find_links) if find_links is not None else options


def install_venv(
    venv: VenvPlan,
    revision_dir: Path,
    options: list[str],
    env: dict[str, str],
    shared_dir: Optional[Path],
    *,
    seeds_now: bool = False,
) -> Optional[str]:
    """Install one venv's pins and make it production style; return its rez version.
    ``seeds_now``: compile the seed packages too (see ``_compile_venv``)."""
    venv_path = locations.venv_dir(revision_dir, venv.name)
    requirements = revision_dir / f".requirements-{venv.name}.txt"
    with step(f"writing the requirements of venv {venv.name!r}", requirements):
        requirements.write_text(requirements_text(venv), encoding="utf-8")
    count = len(venv.requirements) + len(venv.editables)
    packages = plural(count, "package")
    try:
        with progress.step(
            f"installing {packages} into venv {venv.name!r}, compiling them",
            f"installed {packages} into venv {venv.name!r}",
        ) as installing:
            uv_commands.pip_install(
                locations.venv_python(venv_path),
                requirements,
                options=options,
                env=env,
                what=f"installing venv {venv.name!r}",
                on_line=installing.note,
                compile_bytecode=False,
                cache_first=_only_index_pins(venv),
            )
            _compile_venv(venv, venv_path, revision_dir, env, installing, seeds_now)
    finally:
        requirements.unlink()

    try:
        rez = find_distribution(venv_path, "rez")
    except BuildError:
        rez = None
    if rez is None and venv.name == paths.REZ_VENV:
        raise BuildError("rez is not installed in the rez venv; check [rez] name and url")
    scripts_dir = locations.production_bin_dir(venv_path)
    with (
        step(f"writing the production scripts of venv {venv.name!r}", scripts_dir),
        progress.step(
            f"production scripts of venv {venv.name!r}",
            f"wrote the production scripts of venv {venv.name!r}",
        ),
    ):
        if rez is not None:
            remove_installer_scripts(venv_path, "rez")
            write_production_marker(venv_path, rez.version)
        for tool in venv.tools:
            write_production_scripts(venv_path, tool.package, tool.flags, editable=tool.editable)
        scripts_dir.mkdir(parents=True, exist_ok=True)
        if venv.link_shared and shared_dir is not None:
            (site_packages(venv_path) / "_rezup_shared.pth").write_text(
                f"{shared_dir}\n", encoding="utf-8"
            )
    return rez.version if rez is not None else None


def _only_index_pins(venv: VenvPlan) -> bool:
    """Whether every requirement of ``venv`` is a pin from an index (no editable, no local
    path or URL, which an offline attempt could spend time building only to fail)."""
    return not venv.editables and all(" @ " not in line for line in venv.requirements)


def _compile_venv(
    venv: VenvPlan,
    venv_path: Path,
    revision_dir: Path,
    env: dict[str, str],
    installing: progress.Step,
    seeds_now: bool = False,
) -> None:
    """Bytecode for every source of the venv: an earlier revision's where valid, else new.

    The seed packages (pip, setuptools, wheel) take an earlier revision's bytecode but are not
    compiled before the revision is ready: ``uv venv --seed`` leaves them uncompiled, and
    compiling them (half the files of a rez venv) would make a first revision slower than
    bare uv makes it. They are compiled just after (``compile_seeds_later``); a later
    revision, in any container of the root, reuses their bytecode like any other. A fenced
    build (a shared root) compiles them before: a compiler left running on one host would
    write into a revision another host may be removing, and it can stop only its own host's.
    So does a build with ``REZUP_NO_BACKGROUND`` (``seeds_now``): nothing is left running.
    """
    installing.note("compiling bytecode")
    started = time.monotonic()
    seeds = _seed_sources(venv, venv_path) if os.name != "nt" and not seeds_now else []
    with (
        step(f"compiling the bytecode of venv {venv.name!r}", venv_path),
        contextlib.ExitStack() as claims,
    ):
        donor = bytecode.donor_venv(revision_dir, venv.name)
        if donor is not None:
            try:  # prune and drop leave the donor alone meanwhile
                claims.enter_context(clone_donors.claimed(donor.parent.parent))
            except CloneError:  # being removed: compile instead
                donor = None
        result = bytecode.compile_venv(venv_path, donor, env, later=seeds)
    log.debug("%s", bytecode.describe(result, venv.name, time.monotonic() - started))
    installing.note(result.summary())


def _seed_sources(venv: VenvPlan, venv_path: Path) -> list[str]:
    return bytecode.sources_of(site_packages(venv_path), seed_packages(venv.python_version))


def compile_seeds_later(plan: Plan, revision_dir: Path, *, wait: bool) -> None:
    """Start ``bytecode_later.compile_later`` for the seed packages of each venv of the ready
    ``revision_dir`` that have no bytecode yet (none of the first revision of a Python on this
    filesystem; those a clone's donor was still compiling), and ``wait`` for it
    (``settings.background_allowed``). Windows compiles them before the revision is ready."""
    if os.name == "nt":
        return
    for venv in plan.venvs:
        path = locations.venv_dir(revision_dir, venv.name)
        with contextlib.suppress(BuildError):  # nothing is lost: Python compiles on import
            bytecode_later.compile_later(
                path, _seed_sources(venv, path), dict(plan.uv_env), wait=wait
            )


def ensure_shared_lib(
    plan: Plan, container_dir: Path, options: list[str], env: dict[str, str], scratch: Path
) -> Path:
    """Install the deprecated ``[shared]`` packages once per container, under ``libs/NAME``."""
    assert plan.shared is not None
    root, name = str(container_dir.parent), container_dir.name
    target = locations.libs_dir(root, name) / plan.shared.name
    ready = target / ".rezup_shared.json"
    if ready.is_file():
        return target
    lock_file = locations.lock_file(root, name, f"libs-{plan.shared.name}")
    with building_under_lock(lock_file, f"installing shared libs {plan.shared.name!r}"):
        if ready.is_file():
            return target
        if target.exists():  # left by an interrupted install
            remove_tree(target)
        requirements = scratch / ".requirements-shared.txt"
        requirements.write_text("\n".join(plan.shared.requirements) + "\n", encoding="utf-8")
        try:
            with new_folder(target, staged=False):
                uv_commands.pip_install(
                    Path(plan.shared.python),
                    requirements,
                    options=options,
                    env=env,
                    target=target,
                    what=f"installing shared libs {plan.shared.name!r}",
                )
                write_json_atomic(ready, {"requirements": list(plan.shared.requirements)})
        finally:
            requirements.unlink()
    return target
