"""Build: execute a Plan into a revision folder (local), or publish it (remote).

Order matters for safety: venvs, packages, production scripts and markers first, and
``revision.json`` last, written atomically. Until that file exists the revision is not ready
and nothing uses it; a build that fails removes its folder. A remote revision is assembled in
a hidden folder and renamed into place.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from rezup.ground import mark_ready, newest, paths, progress, revision_json
from rezup.ground.errors import BuildError, LockError, step
from rezup.ground.filesystem import (
    STAGING_PREFIX,
    discard,
    flush_filesystem,
    new_folder,
    remove_tree,
    stale_staging,
    write_json_atomic,
)
from rezup.ground.wording import plural
from rezup.stages import bytecode, clone
from rezup.stages.plan import Plan, VenvPlan, pinned_version, requirements_text, seed_packages
from rezup.stages.recipe_model import Recipe, platform_name
from rezup.tools import uv_commands, uv_options, uv_process
from rezup.tools.build_lock import Held, hold
from rezup.tools.production import (
    find_distribution,
    production_bin_dir,
    remove_installer_scripts,
    site_packages,
    venv_python,
    write_production_marker,
    write_production_scripts,
)
from rezup.tools.pythons import planned_python

log = logging.getLogger("rezup")


@contextlib.contextmanager
def building_under_lock(lock_file: Path, what: str) -> Iterator[Held]:
    """Hold ``lock_file`` while building ``what``; yields the lock, for a fenced build.

    Every uv process started meanwhile inherits a native lock's descriptor: if rezup alone is
    killed, the lock stays held until the uv it started has exited too, so nobody on this
    host rebuilds under it.
    """
    with hold(lock_file, what) as held, uv_process.inheriting_fd(held.fd):
        yield held


class _Target:
    """Where a revision is built (``work``) and the name it is ready under (``final``).

    Under a native lock they are the same folder, built in place. Under a lease (a network
    filesystem), a lease can be taken from a builder that is only slow, so each builder works
    in a folder of its own and the revision becomes ready by one rename of it to ``final``,
    which only one builder can win (a rename onto a folder that is not empty fails): a
    builder that lost its lease, or the race, publishes nothing and removes nothing but its
    own folder.
    """

    def __init__(self, final: Path, held: Optional[Held]) -> None:
        self.final = final
        self.held = held if held is not None and held.lease is not None else None
        self.work = final

    @property
    def fenced(self) -> bool:
        return self.held is not None

    @contextlib.contextmanager
    def folder(self) -> Iterator[Path]:
        """The folder to build in, that exists at ``final`` complete, or not at all."""
        if not self.fenced:
            with _new_revision_folder(self.final):
                yield self.final
            return
        _clear_abandoned(self.final)
        try:
            with new_folder(self.final, staged=True) as work:
                self.work = work
                yield work
        except OSError:
            if self.held is not None and revision_json.is_ready(str(self.final)):
                raise LockError(f"revision {self.final.name} was made ready by another "
                                "builder meanwhile; this build publishes nothing") from None
            raise
        finally:
            self.work = self.final
        newest.refresh_newest(str(self.final.parent))  # after the rename, as for a publish

    def commit(self, metadata: dict[str, Any]) -> None:
        """Write the ready marker (in place), or relocate the work folder for ``final`` and
        write it there, to be renamed into place by ``folder`` unless the lease was lost."""
        with step("writing revision.json (the ready marker)", self.work):
            # the claim file exists before the revision is ready, so that sessions can claim
            # it even where they may not write (a shared root built by an admin)
            Path(paths.claim_file(str(self.work))).touch()
            if self.fenced:  # a shared root: jobs record their claims there (claims.py)
                (self.work / paths.CLAIMS_DIRNAME).mkdir(exist_ok=True)
                clone.relocate(self.work, self.final)
            flush_filesystem(self.work)
            lost = self.held.lost() if self.held is not None else None
            if lost:
                raise LockError(f"this build of revision {self.final.name} lost its lock: "
                                f"{lost}; it publishes nothing (this host was cut off or "
                                "too slow: REZUP_LOCK_LEASE)")
            mark_ready.write_metadata(str(self.work), metadata)


def _clear_abandoned(final: Path) -> None:
    """Remove the folders of earlier builders of ``final`` (the lease is ours now: each of
    them died or lost it). One still written by a builder cut off from the share may not go
    at once; a later build or prune clears it."""
    prefix = f"{STAGING_PREFIX}{final.name}-"
    try:
        folders = [entry.path for entry in os.scandir(final.parent)
                   if entry.name.startswith(prefix)]
    except OSError:
        return
    for folder in folders:
        log.info("removing %s, left by a builder of revision %s that died or lost its lock",
                 os.path.basename(folder), final.name)
        with contextlib.suppress(OSError):
            discard(Path(folder))


# -- local revisions -----------------------------------------------------------------------------


def plan_and_build(
    recipe: Recipe,
    container: str,
    revision_dir: Path,
    *,
    container_dir: Path,
    extra_metadata: Optional[dict[str, Any]] = None,
    held: Optional[Held] = None,
) -> tuple[Plan, dict[str, Any]]:
    """Resolve ``recipe`` and build it into the new folder ``revision_dir``, under the lock
    ``held`` (a lease makes it a fenced build: see ``_Target``).

    The resolve (``uv pip compile``, a few index requests) runs beside the first step of the
    build instead of before it: ``uv venv``, which does not depend on the pins, or, when a
    ready revision was made from the same recipe text, cloning that revision, which is all
    the build there is if the resolve gives the same plan again (see ``_likely_donor``).
    Returns the plan and the revision metadata. On any failure the folder is removed.
    """
    from rezup.stages.plan import installer_settings, make_plan, recipe_pythons, venv_specs

    pythons = recipe_pythons(recipe)
    options, env = installer_settings(recipe, warn=False)
    specs = venv_specs(recipe)
    started = time.monotonic()
    target = _Target(revision_dir, held)

    def create_venvs(pool: ThreadPoolExecutor) -> list[Future]:
        made = []
        for spec in specs:
            python, version = pythons[spec.python_request]
            made.append(pool.submit(  # the plan pins the seeds: no --seed
                _create_venv, spec.name, version, _venv(work, spec.name), python,
                options, env, seed=False,
            ))
        return made

    with step(f"building revision {revision_dir.name}", revision_dir), \
            target.folder() as work:
        # a fenced build makes its venvs in a folder that moves: no clone, whose files
        # would name that folder in places the move does not rewrite
        guess = None if target.fenced else _likely_donor(recipe.text, revision_dir)
        with contextlib.ExitStack() as claim, ThreadPoolExecutor(max_workers=4) as pool:
            cloning: Optional[Future] = None
            if guess is not None:
                with contextlib.suppress(clone.CloneError):  # being removed: no guess
                    claim.enter_context(clone.claimed(guess.donor))
                    cloning = pool.submit(_clone_venvs, guess.donor, work,
                                          [spec.name for spec in specs])
            created = create_venvs(pool) if cloning is None else []
            with progress.step("resolving", "resolved") as resolving:
                plan = make_plan(recipe, container, pythons=pythons, on_line=resolving.note)
            cloned = False
            if cloning is not None:
                assert guess is not None
                cloned = _clone_outcome(cloning, guess, plan)
                if cloned:
                    metadata = _finish_clone(plan, recipe.text, target, guess.donor,
                                             started=started, extra_metadata=extra_metadata)
                else:
                    remove_tree(work / paths.VENV_DIRNAME)
                    created = create_venvs(pool)
            for future in created:
                future.result()
        if not cloned:
            metadata = _fill_revision(plan, recipe.text, target, container_dir=container_dir,
                                      started=started, extra_metadata=extra_metadata)
    if not target.fenced:  # see _compile_venv
        _compile_seeds_later(plan, revision_dir)
    return plan, metadata


def build_revision(
    plan: Plan,
    recipe_text: str,
    revision_dir: Path,
    *,
    container_dir: Path,
    find_links: Optional[Path] = None,
    extra_metadata: Optional[dict[str, Any]] = None,
    held: Optional[Held] = None,
) -> dict[str, Any]:
    """Build ``plan`` into the new folder ``revision_dir``; return the revision metadata.

    The caller holds the revision lock (``held``; a lease makes it a fenced build: see
    ``_Target``). ``find_links`` installs from a wheelhouse with no index at all (an offline
    pull). On any failure the folder is removed.
    """
    started = time.monotonic()
    pythons = {venv.name: planned_python(venv.python, venv.python_request, venv.python_version,
                                         venv.name) for venv in plan.venvs}
    target = _Target(revision_dir, held)

    def create(venv: VenvPlan) -> None:
        _create_venv(venv.name, venv.python_version, _venv(target.work, venv.name),
                     pythons[venv.name], _options(plan, find_links), dict(plan.uv_env),
                     seed=not plan.pinned_seeds)

    with step(f"building revision {revision_dir.name}", revision_dir), \
            target.folder() as work:
        donor = None if target.fenced else clone.identical_revision(
            revision_dir.parent, plan.digest, plan=plan, target=revision_dir)
        if donor is not None and _clone_for(plan, donor, work):
            metadata = _finish_clone(plan, recipe_text, target, donor, started=started,
                                     extra_metadata=extra_metadata)
        else:
            with ThreadPoolExecutor(max_workers=max(1, min(4, len(plan.venvs)))) as pool:
                list(pool.map(create, plan.venvs))
            metadata = _fill_revision(plan, recipe_text, target, container_dir=container_dir,
                                      find_links=find_links, extra_metadata=extra_metadata,
                                      started=started)
    if not target.fenced:  # see _compile_venv
        _compile_seeds_later(plan, revision_dir)
    return metadata


@contextlib.contextmanager
def _new_revision_folder(revision_dir: Path) -> Iterator[None]:
    """``new_folder`` for a local revision, with the container's ``.newest`` written again
    once the folder is made and once a failed build has removed it: every change of the
    revisions folder makes ``.newest`` untrusted (see ``newest.newest_first``), and sessions
    list the folder until it is written again."""
    try:
        with new_folder(revision_dir, staged=False):
            newest.refresh_newest(str(revision_dir.parent))
            yield
    except BaseException:
        newest.refresh_newest(str(revision_dir.parent))
        raise


def _create_venv(name: str, version: str, path: Path, python: str, options: list[str],
                 env: dict[str, str], *, seed: bool) -> None:
    """``seed``: seed the venv from the index, for a plan that does not pin the seeds (one
    written by an earlier rezup)."""
    with progress.step(f"creating venv {name!r} (Python {version})",
                       f"created venv {name!r} (Python {version})"):
        uv_commands.create_venv(path, python, seed=seed, options=options, env=env)


def _venv(revision_dir: Path, name: str) -> Path:
    return Path(paths.venv_dir(str(revision_dir), name))


def _options(plan: Plan, find_links: Optional[Path]) -> list[str]:
    options = list(plan.uv_options)
    return uv_options.offline_options(options, find_links) if find_links is not None else options


def _fill_revision(
    plan: Plan,
    recipe_text: str,
    target: _Target,
    *,
    container_dir: Path,
    started: float,
    find_links: Optional[Path] = None,
    extra_metadata: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    """Install the plan into the venvs made already, then write the ready marker."""
    revision_dir = target.work
    with step("writing the recipe and the plan", revision_dir):
        (revision_dir / paths.RECIPE_FILENAME).write_text(recipe_text, encoding="utf-8")
        plan.write(revision_dir / paths.PLAN_FILENAME)
    options = _options(plan, find_links)
    env = dict(plan.uv_env)
    shared_dir = None
    if plan.shared:
        shared_dir = _ensure_shared_lib(plan, container_dir, options, env, revision_dir)

    def install(venv: VenvPlan) -> Optional[str]:
        return _install_venv(venv, revision_dir, options, env, shared_dir,
                             seeds_now=target.fenced)

    with ThreadPoolExecutor(max_workers=max(1, min(4, len(plan.venvs)))) as pool:
        rez_versions = list(pool.map(install, plan.venvs))

    metadata = revision_json.make_metadata(
        str(target.final),
        plan_digest=plan.digest,
        venvs=[venv.name for venv in plan.venvs],
        python=plan.venvs[0].python_version,
        rez_version=rez_versions[0] or pinned_version(plan.venvs[0], "rez"),
        session=session_metadata(plan),
        build_seconds=round(time.monotonic() - started, 3),
        **(extra_metadata or {}),
    )
    target.commit(metadata)
    return metadata


def _install_venv(
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
    venv_path = _venv(revision_dir, venv.name)
    requirements = revision_dir / f".requirements-{venv.name}.txt"
    with step(f"writing the requirements of venv {venv.name!r}", requirements):
        requirements.write_text(requirements_text(venv), encoding="utf-8")
    count = len(venv.requirements) + len(venv.editables)
    packages = plural(count, "package")
    try:
        with progress.step(f"installing {packages} into venv {venv.name!r}, compiling them",
                           f"installed {packages} into venv {venv.name!r}") as installing:
            uv_commands.pip_install(venv_python(venv_path), requirements, options=options, env=env,
                           what=f"installing venv {venv.name!r}", on_line=installing.note,
                           compile_bytecode=False, cache_first=_only_index_pins(venv))
            _compile_venv(venv, venv_path, revision_dir, env, installing, seeds_now)
    finally:
        requirements.unlink()

    try:
        rez = find_distribution(venv_path, "rez")
    except BuildError:
        rez = None
    if rez is None and venv.name == paths.REZ_VENV:
        raise BuildError("rez is not installed in the rez venv; check [rez] name and url")
    with step(f"writing the production scripts of venv {venv.name!r}",
              production_bin_dir(venv_path)), \
            progress.step(f"production scripts of venv {venv.name!r}",
                          f"wrote the production scripts of venv {venv.name!r}"):
        if rez is not None:
            remove_installer_scripts(venv_path, "rez")
            write_production_marker(venv_path, rez.version)
        for tool in venv.tools:
            write_production_scripts(venv_path, tool.package, tool.flags,
                                     editable=tool.editable)
        production_bin_dir(venv_path).mkdir(parents=True, exist_ok=True)
        if venv.link_shared and shared_dir is not None:
            (site_packages(venv_path) / "_rezup_shared.pth").write_text(
                f"{shared_dir}\n", encoding="utf-8"
            )
    return rez.version if rez is not None else None


def _only_index_pins(venv: VenvPlan) -> bool:
    """Whether every requirement of ``venv`` is a pin from an index (no editable, no local
    path or URL, which an offline attempt could spend time building only to fail)."""
    return not venv.editables and all(" @ " not in line for line in venv.requirements)


def _compile_venv(venv: VenvPlan, venv_path: Path, revision_dir: Path, env: dict[str, str],
                  installing: progress.Step, seeds_now: bool = False) -> None:
    """Bytecode for every source of the venv: an earlier revision's where valid, else new.

    The seed packages (pip, setuptools, wheel) take an earlier revision's bytecode but are not
    compiled before the revision is ready: ``uv venv --seed`` leaves them uncompiled, and
    compiling them (half the files of a rez venv) would make a first revision slower than
    bare uv makes it. They are compiled just after (``_compile_seeds_later``); a later
    revision reuses their bytecode like any other. A fenced build (a shared root) compiles
    them before: a compiler left running on one host would write into a revision another
    host may be removing, and it can stop only its own host's.
    """
    installing.note("compiling bytecode")
    started = time.monotonic()
    seeds = _seed_sources(venv, venv_path) if os.name != "nt" and not seeds_now else []
    with step(f"compiling the bytecode of venv {venv.name!r}", venv_path):
        result = bytecode.compile_venv(
            venv_path, bytecode.donor_venv(revision_dir, venv.name), env, later=seeds)
    log.debug("%s", bytecode.describe(result, venv.name, time.monotonic() - started))
    installing.note(result.summary())


def _seed_sources(venv: VenvPlan, venv_path: Path) -> list[str]:
    return bytecode.sources_of(site_packages(venv_path), seed_packages(venv.python_version))


def _compile_seeds_later(plan: Plan, revision_dir: Path) -> None:
    """Start ``bytecode.compile_later`` for the seed packages of each venv of the ready
    ``revision_dir`` that have no bytecode yet (none of a first revision; those a clone's donor
    was still compiling). Windows compiles them before the revision is ready."""
    if os.name == "nt":
        return
    for venv in plan.venvs:
        path = _venv(revision_dir, venv.name)
        with contextlib.suppress(BuildError):  # nothing is lost: Python compiles on import
            bytecode.compile_later(path, _seed_sources(venv, path), dict(plan.uv_env))


def session_metadata(plan: Plan) -> dict[str, Any]:
    """What ``rezup use`` needs, copied from the plan so that it reads one small JSON file."""
    return {
        "bin_dirs": [paths.production_bin_relpath(venv.name) for venv in plan.venvs],
        "env": [list(item) for item in plan.env],
        "dotenv": plan.dotenv_files(platform_name()),
    }


def _ensure_shared_lib(
    plan: Plan, container_dir: Path, options: list[str], env: dict[str, str], scratch: Path
) -> Path:
    """Install the deprecated ``[shared]`` packages once per container, under ``libs/NAME``."""
    assert plan.shared is not None
    root, name = str(container_dir.parent), container_dir.name
    target = Path(paths.libs_dir(root, name), plan.shared.name)
    ready = target / ".rezup_shared.json"
    if ready.is_file():
        return target
    lock_file = Path(paths.lock_file(root, name, f"libs-{plan.shared.name}"))
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
                    Path(plan.shared.python), requirements, options=options, env=env,
                    target=target, what=f"installing shared libs {plan.shared.name!r}",
                )
                write_json_atomic(ready, {"requirements": list(plan.shared.requirements)})
        finally:
            requirements.unlink()
    return target


# -- clones: a revision whose plan a ready revision has already ---------------------------------


_LIKELY_DONORS = 8  # ready revisions whose recipe is compared with the new one


@dataclass(frozen=True)
class _Guess:
    """A ready revision made from the recipe being built, and the digest of its plan."""

    donor: Path
    plan_digest: str


def _likely_donor(recipe_text: str, revision_dir: Path) -> Optional[_Guess]:
    """The newest ready revision (of the few newest) built from ``recipe_text`` that a revision
    of its plan can be cloned from, if any.

    A recipe that did not change almost always resolves to the plan it resolved to before
    (unless the index has new versions of what it leaves unpinned), so its revision is cloned
    while the resolve runs, and used if the resolve agrees.
    """
    revisions = revision_dir.parent
    looked_at = 0
    for name in paths.revision_names(str(revisions)):
        candidate = revisions / name
        if candidate == revision_dir or not revision_json.is_ready(str(candidate)):
            continue
        looked_at += 1
        if looked_at > _LIKELY_DONORS:
            break
        try:
            same = (candidate / paths.RECIPE_FILENAME).read_text(encoding="utf-8") == \
                recipe_text
            digest = (revision_json.read_metadata(str(candidate)) or {}).get("plan_digest")
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if same and isinstance(digest, str) and \
                clone.can_clone(candidate, digest, target=revision_dir):
            return _Guess(candidate, digest)
    return None


def cloned_note(metadata: dict[str, Any]) -> str:
    """", cloned from revision X" for a revision made as a clone (see ``_finish_clone``)."""
    donor = metadata.get("cloned_from")
    return f", cloned from revision {donor}" if donor else ""


def _clone_venvs(donor: Path, revision_dir: Path, venv_names: list[str]) -> None:
    with progress.step(f"cloning the venvs of revision {donor.name} (same recipe)",
                       f"cloned the venvs of revision {donor.name}"):
        clone.clone_venvs(donor, revision_dir, venv_names)


def _clone_outcome(cloning: Future, guess: _Guess, plan: Plan) -> bool:
    """Whether the clone made beside the resolve is the new revision's: it worked, and the
    resolve gave the donor's plan."""
    try:
        cloning.result()
    except clone.CloneError as exc:
        log.info("revision %s cannot be cloned (%s): building the revision", guess.donor.name,
                 exc)
        return False
    if plan.digest == guess.plan_digest:
        return True
    log.info("the recipe resolves to another plan than revision %s's (new versions on the "
             "index): building the revision", guess.donor.name)
    return False


def _clone_for(plan: Plan, donor: Path, revision_dir: Path) -> bool:
    """Clone ``donor``'s venvs into ``revision_dir`` for ``plan``; False (and nothing made) if
    it cannot be done with certainty."""
    try:
        with clone.claimed(donor):
            _clone_venvs(donor, revision_dir, [venv.name for venv in plan.venvs])
    except clone.CloneError as exc:
        log.info("revision %s cannot be cloned (%s): building the revision", donor.name, exc)
        remove_tree(revision_dir / paths.VENV_DIRNAME)
        return False
    return True


def _finish_clone(plan: Plan, recipe_text: str, target: _Target, donor: Path, *,
                  started: float, extra_metadata: Optional[dict[str, Any]]) -> dict[str, Any]:
    """Write the recipe, the plan and, last, the ready marker of a revision whose venvs were
    cloned from ``donor``: the donor's rez and Python, ``cloned_from`` naming it."""
    revision_dir = target.final
    with step("writing the recipe and the plan", revision_dir):
        (revision_dir / paths.RECIPE_FILENAME).write_text(recipe_text, encoding="utf-8")
        plan.write(revision_dir / paths.PLAN_FILENAME)
    try:
        donor_metadata = revision_json.read_metadata(str(donor)) or {}
    except ValueError:
        donor_metadata = {}
    metadata = revision_json.make_metadata(
        str(revision_dir),
        plan_digest=plan.digest,
        venvs=[venv.name for venv in plan.venvs],
        python=donor_metadata.get("python") or plan.venvs[0].python_version,
        rez_version=donor_metadata.get("rez_version") or pinned_version(plan.venvs[0], "rez"),
        session=session_metadata(plan),
        build_seconds=round(time.monotonic() - started, 3),
        cloned_from=donor.name,
        **(extra_metadata or {}),
    )
    target.commit(metadata)
    log.info("the plan is that of revision %s: revision %s is its clone (its venvs hard-linked, "
             "nothing installed)", donor.name, revision_dir.name)
    return metadata


# -- remote revisions ----------------------------------------------------------------------------


def publish(plan: Plan, recipe_text: str, revision_dir: Path) -> Plan:
    """Publish a remote revision at ``revision_dir``: recipe, plan, wheels if asked, and
    ``revision.json``. Returns the plan as published.

    It is assembled in a hidden folder beside ``revision_dir`` and renamed into place, so a
    reader of the remote root never sees a half-written revision. The plan is written after
    the wheels are collected, because collecting them may add hashes to it (of wheels built
    from sdists); ``plan_digest`` in ``revision.json`` is that of the plan written.
    """
    for leftover in stale_staging(revision_dir.parent):  # of publishes that were killed
        log.info("removing %s, left by a publish that was interrupted", leftover.name)
        with contextlib.suppress(OSError):
            remove_tree(leftover)
    with step(f"publishing revision {revision_dir.name}", revision_dir.parent), \
            new_folder(revision_dir, staged=True) as staging:
        (staging / paths.RECIPE_FILENAME).write_text(recipe_text, encoding="utf-8")
        if plan.wheels:
            from rezup.stages.wheelhouse import collect_wheels

            plan = collect_wheels(plan, staging / paths.WHEELS_DIRNAME)
        plan.write(staging / paths.PLAN_FILENAME)
        metadata = revision_json.make_metadata(
            str(revision_dir),
            plan_digest=plan.digest,
            venvs=[venv.name for venv in plan.venvs],
            python=plan.venvs[0].python_version,
            rez_version=pinned_version(plan.venvs[0], "rez"),
            session=session_metadata(plan),
            remote=True,
        )
        mark_ready.write_metadata(str(staging), metadata)
    newest.refresh_newest(str(revision_dir.parent))  # after the rename: see newest.newest_first
    return plan


def wheelhouse_of(remote_revision_dir: Path, plan: Plan) -> Optional[Path]:
    """The wheelhouse a pull installs from with no index, if the remote revision has one."""
    return remote_revision_dir / paths.WHEELS_DIRNAME if plan.wheels else None

