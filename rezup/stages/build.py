"""Build: execute a Plan into a local revision folder, by installing its venvs or by cloning
those of a ready revision with the same plan.

Order matters for safety: venvs, packages, production scripts, markers and the standard
locks (``standard_locks``, made beside the install) first, and ``revision.json`` last, written
atomically. Until that file exists the revision is not ready and nothing uses it; a build
that fails removes its folder. Where the folder is and how it becomes ready is
``build_site``; installing a venv, ``venv_install``; the donor of a clone, ``clone_donors``;
a remote revision, ``remote_publish``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from rezup.ground import locations, paths, progress, revision_json
from rezup.ground.errors import step
from rezup.ground.filesystem import remove_tree
from rezup.ground.settings import background_allowed
from rezup.stages import clone, clone_donors, donor_index, standard_locks
from rezup.stages.build_site import BuildSite
from rezup.stages.path_rewrite import CloneError
from rezup.stages.plan import Plan, VenvPlan
from rezup.stages.recipe_model import Recipe
from rezup.stages.revision_record import revision_metadata, write_recipe_and_plan
from rezup.stages.venv_install import (
    compile_seeds_later,
    create_venv,
    ensure_shared_lib,
    install_options,
    install_venv,
)
from rezup.tools.build_lock import Held
from rezup.tools.pythons import planned_python

if TYPE_CHECKING:
    from rezup.ground.formats import RevisionMetadata

log = logging.getLogger("rezup")


def plan_and_build(
    recipe: Recipe,
    container: str,
    revision_dir: Path,
    *,
    container_dir: Path,
    extra_metadata: Optional[dict[str, Any]] = None,
    held: Optional[Held] = None,
) -> tuple[Plan, RevisionMetadata]:
    """Resolve ``recipe`` and build it into the new folder ``revision_dir``, under the lock
    ``held`` (a lease makes it a fenced build: see ``build_site.BuildSite``).

    The resolve (``uv pip compile``, a few index requests) runs beside the first step of the
    build instead of before it: ``uv venv``, which does not depend on the pins, or, when a
    ready revision was made from the same recipe text, cloning that revision, which is all
    the build there is if the resolve gives the same plan again (see
    ``clone_donors.likely_donor``). Returns the plan and the revision metadata. On any
    failure the folder is removed.
    """
    from rezup.stages.installer_settings import installer_settings
    from rezup.stages.resolve import make_plan, recipe_pythons, venv_specs

    background = background_allowed()  # a wrong value fails now, not once the revision is ready
    pythons = recipe_pythons(recipe)
    options, env = installer_settings(recipe, warn=False)
    specs = venv_specs(recipe)
    started = time.monotonic()
    site = BuildSite(revision_dir, held)

    def create_venvs(pool: ThreadPoolExecutor) -> list[Future]:
        made = []
        for spec in specs:
            python, version = pythons[spec.python_request]
            made.append(
                pool.submit(  # the plan pins the seeds: no --seed
                    create_venv,
                    spec.name,
                    version,
                    locations.venv_dir(work, spec.name),
                    python,
                    options,
                    env,
                    seed=False,
                )
            )
        return made

    with step(f"building revision {revision_dir.name}", revision_dir), site.folder() as work:
        # a fenced build makes its venvs in a folder that moves: no clone, whose files
        # would name that folder in places the move does not rewrite
        guess = None if site.fenced else clone_donors.likely_donor(recipe.text, revision_dir)
        with contextlib.ExitStack() as claim, ThreadPoolExecutor(max_workers=4) as pool:
            cloning: Optional[Future] = None
            if guess is not None:
                with contextlib.suppress(CloneError):  # being removed: no guess
                    claim.enter_context(clone_donors.claimed(guess.donor))
                    cloning = pool.submit(
                        _clone_into, guess.donor, work, [spec.name for spec in specs], claim=False
                    )
            created = create_venvs(pool) if cloning is None else []
            with progress.step("resolving", "resolved") as resolving:
                plan = make_plan(recipe, container, pythons=pythons, on_line=resolving.note)
            locks = standard_locks.PendingLocks(plan, sources=[guess.donor if guess else None])
            cloned = False
            if cloning is not None:
                assert guess is not None
                cloned = cloning.result() and _same_plan(guess, plan, revision_dir)
                if cloned:
                    metadata = _finish_clone(
                        plan,
                        recipe.text,
                        site,
                        guess.donor,
                        locks,
                        started=started,
                        extra_metadata=extra_metadata,
                    )
                else:
                    remove_tree(work / paths.VENV_DIRNAME)
                    created = create_venvs(pool)
            for future in created:
                future.result()
        if not cloned:
            metadata = _fill_revision(
                plan,
                recipe.text,
                site,
                locks,
                container_dir=container_dir,
                started=started,
                extra_metadata=extra_metadata,
                background=background,
            )
    _enter_in_index(revision_dir, plan, recipe.text)
    if not site.fenced:  # see venv_install.compile_venv
        compile_seeds_later(plan, revision_dir, wait=not background)
    return plan, metadata


def build_revision(
    plan: Plan,
    recipe_text: str,
    revision_dir: Path,
    *,
    container_dir: Path,
    find_links: Optional[Union[Path, str]] = None,
    extra_metadata: Optional[dict[str, Any]] = None,
    held: Optional[Held] = None,
    lock_source: Optional[standard_locks.LockSource] = None,
) -> RevisionMetadata:
    """Build ``plan`` into the new folder ``revision_dir``; return the revision metadata.

    The caller holds the revision lock (``held``; a lease makes it a fenced build: see
    ``build_site.BuildSite``). ``find_links`` installs from a wheelhouse with no index at all
    (an offline pull). ``lock_source``: a revision of the same plan whose standard locks are
    copied (the remote revision of a pull: its folder, its lock files' texts by venv, or a
    function that reads its files; one it does not hold is made: see
    ``standard_locks.LockSource``). On any failure the folder is removed.
    """
    started = time.monotonic()
    background = background_allowed()  # a wrong value fails now, not once the revision is ready
    pythons = {
        venv.name: planned_python(venv.python, venv.python_request, venv.python_version, venv.name)
        for venv in plan.venvs
    }
    site = BuildSite(revision_dir, held)

    def create(venv: VenvPlan) -> None:
        create_venv(
            venv.name,
            venv.python_version,
            locations.venv_dir(site.work, venv.name),
            pythons[venv.name],
            install_options(plan, find_links),
            dict(plan.uv_env),
            seed=not plan.pinned_seeds,
        )

    with step(f"building revision {revision_dir.name}", revision_dir), site.folder() as work:
        donor = (
            None
            if site.fenced
            else clone_donors.identical_revision(
                revision_dir.parent, plan.digest, plan=plan, target=revision_dir
            )
        )
        locks = standard_locks.PendingLocks(
            plan,
            pythons=pythons,
            options=install_options(plan, find_links),
            env=dict(plan.uv_env),
            sources=[lock_source, donor],
        )
        if donor is not None and _clone_into(
            donor, work, [venv.name for venv in plan.venvs], claim=True
        ):
            metadata = _finish_clone(
                plan,
                recipe_text,
                site,
                donor,
                locks,
                started=started,
                extra_metadata=extra_metadata,
            )
        else:
            with ThreadPoolExecutor(max_workers=max(1, min(4, len(plan.venvs)))) as pool:
                list(pool.map(create, plan.venvs))
            metadata = _fill_revision(
                plan,
                recipe_text,
                site,
                locks,
                container_dir=container_dir,
                find_links=find_links,
                extra_metadata=extra_metadata,
                started=started,
                background=background,
            )
    _enter_in_index(revision_dir, plan, recipe_text)
    if not site.fenced:  # see venv_install.compile_venv
        compile_seeds_later(plan, revision_dir, wait=not background)
    return metadata


def _enter_in_index(revision_dir: Path, plan: Plan, recipe_text: str) -> None:
    """Make the ready revision a donor for later builds in any container of the root."""
    venv_names = [venv.name for venv in plan.venvs]
    keys = donor_index.revision_keys(revision_dir, plan.build_digest, recipe_text, venv_names)
    donor_index.register(revision_dir, keys)


def _fill_revision(
    plan: Plan,
    recipe_text: str,
    site: BuildSite,
    locks: standard_locks.PendingLocks,
    *,
    container_dir: Path,
    started: float,
    find_links: Optional[Union[Path, str]] = None,
    extra_metadata: Optional[dict[str, Any]] = None,
    background: bool = True,
) -> RevisionMetadata:
    """Write the recipe and the plan, install the plan into the venvs made already, then write
    the standard ``locks`` and the ready marker. The recipe comes first: a revision being
    built is "valid" from then on (rezup 2.x's meaning, ``RevisionDir.is_valid``). Without
    ``background`` (and in a fenced build) the seed packages are compiled with the rest, on
    every core, before it is ready."""
    revision_dir = site.work
    with step("writing the recipe and the plan", revision_dir):
        write_recipe_and_plan(revision_dir, recipe_text, plan)
    options = install_options(plan, find_links)
    env = dict(plan.uv_env)
    shared_dir = None
    if plan.shared:
        shared_dir = ensure_shared_lib(plan, container_dir, options, env, revision_dir)

    def install(venv: VenvPlan) -> Optional[str]:
        seeds_now = site.fenced or not background
        return install_venv(venv, revision_dir, options, env, shared_dir, seeds_now=seeds_now)

    with ThreadPoolExecutor(max_workers=max(1, min(4, len(plan.venvs)))) as pool:
        rez_versions = list(pool.map(install, plan.venvs))
    return _make_ready(
        plan,
        site,
        locks,
        started=started,
        extra_metadata=extra_metadata,
        rez_version=rez_versions[0],
    )


def _make_ready(
    plan: Plan,
    site: BuildSite,
    locks: standard_locks.PendingLocks,
    *,
    started: float,
    extra_metadata: Optional[dict[str, Any]],
    python: Optional[str] = None,
    rez_version: Optional[str] = None,
    **more: Any,
) -> RevisionMetadata:
    """Write the standard ``locks`` (once made) and the ready marker of a revision whose recipe,
    plan and venvs are in place (see ``revision_record.revision_metadata``, with the build's
    time); return the metadata."""
    locks.write(site.work, site.final.name)
    made = revision_metadata(
        site.final,
        plan,
        python=python,
        rez_version=rez_version,
        build_seconds=round(time.monotonic() - started, 3),
        **more,
        **(extra_metadata or {}),
    )
    site.commit(made)
    return made


# -- clones: a revision whose plan a ready revision has already ---------------------------------


def cloned_note(metadata: RevisionMetadata) -> str:
    """ ", cloned from revision X [of CONTAINER]" for a revision made as a clone (see
    ``_finish_clone``)."""
    donor = metadata.get("cloned_from")
    container = metadata.get("cloned_from_container")
    of = f" of {container}" if container else ""
    return f", cloned from revision {donor}{of}" if donor else ""


def _other_container(donor: Path, revision_dir: Path) -> Optional[str]:
    """The container of ``donor`` if it is not that of ``revision_dir``."""
    container = donor.parent.parent.name
    return None if container == revision_dir.parent.parent.name else container


def _label(donor: Path, revision_dir: Path) -> str:
    """ "X", or "X of CONTAINER" for a donor in another container than ``revision_dir``'s."""
    container = _other_container(donor, revision_dir)
    return f"{donor.name} of {container}" if container else donor.name


def _clone_into(donor: Path, revision_dir: Path, venv_names: list[str], *, claim: bool) -> bool:
    """Clone ``donor``'s venvs ``venv_names`` into ``revision_dir`` (holding a claim on it
    meanwhile if ``claim``: else the caller holds one); False (and no venv made) if it cannot
    be done with certainty."""
    try:
        with (
            clone_donors.claimed(donor) if claim else contextlib.nullcontext(),
            progress.step(
                f"cloning the venvs of revision {_label(donor, revision_dir)} (same recipe)",
                f"cloned the venvs of revision {_label(donor, revision_dir)}",
            ),
        ):
            clone.clone_venvs(donor, revision_dir, venv_names)
    except CloneError as exc:
        log.info(
            "revision %s cannot be cloned (%s): building the revision",
            _label(donor, revision_dir),
            exc,
        )
        remove_tree(revision_dir / paths.VENV_DIRNAME)
        return False
    return True


def _same_plan(guess: clone_donors.DonorGuess, plan: Plan, revision_dir: Path) -> bool:
    """Whether the resolve gave the plan of the revision cloned beside it."""
    if plan.build_digest == guess.build_digest:
        return True
    log.info(
        "the recipe resolves to another plan than revision %s's (new versions on the "
        "index): building the revision",
        _label(guess.donor, revision_dir),
    )
    return False


def _finish_clone(
    plan: Plan,
    recipe_text: str,
    site: BuildSite,
    donor: Path,
    locks: standard_locks.PendingLocks,
    *,
    started: float,
    extra_metadata: Optional[dict[str, Any]],
) -> RevisionMetadata:
    """Make ready a revision whose venvs were cloned from ``donor``: the donor's rez and
    Python, ``cloned_from`` naming it (and ``cloned_from_container``, another container), and
    the standard ``locks`` (the donor's, copied, when it has them)."""
    try:
        donor_metadata = revision_json.read_metadata(donor) or {}
    except ValueError:
        donor_metadata = {}
    other = _other_container(donor, site.final)
    with step("writing the recipe and the plan", site.work):
        write_recipe_and_plan(site.work, recipe_text, plan)
    metadata = _make_ready(
        plan,
        site,
        locks,
        started=started,
        extra_metadata=extra_metadata,
        python=donor_metadata.get("python"),
        rez_version=donor_metadata.get("rez_version"),
        cloned_from=donor.name,
        **({"cloned_from_container": other} if other else {}),
    )
    log.info(
        "the plan is that of revision %s: revision %s is its clone (its venvs hard-linked, "
        "nothing installed)",
        _label(donor, site.final),
        site.final.name,
    )
    return metadata
