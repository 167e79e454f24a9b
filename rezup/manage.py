"""High-level operations on containers: add, pull, pick a revision for use, drop.

These are what the CLI calls and what a Python user of the API would call too.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Optional

from rezup.container import Container, Revision, local_root, remote_root
from rezup.errors import ContainerError, RezupError, UsageError
from rezup.recipe import ContainerRecipe, read_root_settings, recipe_path_for

log = logging.getLogger("rezup")

WHEELS_DIRNAME = "wheels"


def add(
    name: str,
    recipe_file: Optional[os.PathLike] = None,
    *,
    remote: bool = False,
    wheels: bool = False,
    dry_run: bool = False,
):
    """Make a new revision of container ``name`` from its recipe.

    Returns the Plan when ``dry_run``, else the new Revision (remote or local).
    """
    from rezup.plan import describe, make_plan

    recipe = ContainerRecipe(name, path=recipe_file).load()
    if wheels and not remote:
        raise UsageError("--wheels goes with --remote (a wheelhouse is for machines that pull)")
    if remote:
        root = remote_root(recipe.root_remote)
        if root is None:
            raise UsageError(
                "no remote root: set [root] remote in the recipe or $REZUP_ROOT_REMOTE"
            )
        container = Container.at(name, root, remote=True)
    else:
        container = local_container(name, recipe_file)

    log.info("resolving %s from %s", name, recipe.source or "the default recipe")
    if not (dry_run or remote):
        return build_new_local_revision(container, recipe)
    started = time.monotonic()
    plan = make_plan(recipe, name, work_dir=_work_dir())
    log.info("resolved in %.1fs: %s", time.monotonic() - started, describe(plan))
    if dry_run:
        return plan
    return write_remote_revision(container, plan.with_wheels(wheels), recipe.text)


def local_container(name: str, recipe_file: Optional[os.PathLike] = None) -> Container:
    """The local container ``name`` as its recipe (or ``recipe_file``) places it."""
    recipe = ContainerRecipe(name, path=recipe_file).load()
    return Container.at(name, local_root(recipe.root_local))


def _work_dir() -> Path:
    """A folder with no project files, so uv reads no ``pyproject.toml``/``uv.toml`` by accident."""
    import tempfile

    return Path(tempfile.gettempdir())


def build_new_local_revision(container: Container, recipe) -> Revision:
    """Resolve ``recipe`` and build it as a new revision of ``container``, under its lock."""
    from rezup.build import plan_and_build
    from rezup.lock import hold
    from rezup.plan import describe

    dirname = container.new_revision_name()
    revision = Revision(container, dirname)
    started = time.monotonic()
    with hold(revision.lock_file(), f"building revision {dirname} of {container.name()}"):
        clear_abandoned_revisions(container, keep=dirname)
        log.info("building revision %s of %s in %s", dirname, container.name(), container.root())
        plan, _ = plan_and_build(recipe, container.name(), revision.path(),
                                 container_path=container.path(), work_dir=_work_dir())
    log.info("revision %s of %s is ready (%.1fs): %s", dirname, container.name(),
             time.monotonic() - started, describe(plan))
    return revision


def clear_abandoned_revisions(container: Container, keep: str) -> None:
    """Remove revision folders that are not ready and whose build lock nobody holds.

    They are what a killed build leaves behind; they are never used, only in the way.
    """
    from rezup.build import remove_tree
    from rezup.lock import is_held

    for revision in container.iter_revision():
        if revision.dirname() == keep or revision.is_ready():
            continue
        if not is_held(revision.lock_file()):
            log.info("removing incomplete revision %s (its build was interrupted)",
                     revision.dirname())
            remove_tree(revision.path())


def write_remote_revision(container: Container, plan, recipe_text: str) -> Revision:
    """Publish a remote revision: recipe, plan, wheels if asked, and revision.json.

    It is assembled in a hidden temporary folder in the same ``revisions/`` folder and renamed
    into place, so a reader of the remote root never sees a half-written revision.
    """
    from rezup.build import base_metadata, remove_tree, session_metadata, write_json_atomic
    from rezup.plan import PLAN_FILENAME

    dirname = container.new_revision_name()
    final = container.revisions() / dirname
    staging = container.revisions() / f".incoming-{dirname}-{os.getpid()}"
    staging.mkdir(parents=True)
    try:
        (staging / "rezup.toml").write_text(recipe_text, encoding="utf-8")
        plan.write(staging / PLAN_FILENAME)
        if plan.wheels:
            download_wheels(plan, staging / WHEELS_DIRNAME)
        metadata = base_metadata(plan, final)
        metadata["remote"] = True
        metadata["session"] = session_metadata(plan)
        write_json_atomic(staging / "revision.json", metadata)
        os.rename(staging, final)
    except BaseException:
        remove_tree(staging)
        raise
    log.info("remote revision %s of %s published in %s", dirname, container.name(),
             container.root())
    return Revision(container, dirname)


def download_wheels(plan, target: Path) -> None:
    """Fill ``target`` with a wheel for every pinned requirement of ``plan``."""
    from rezup.wheelhouse import collect_wheels

    collect_wheels(plan, target)


def pull(remote_revision: Revision, local: Container) -> Revision:
    """The local twin of ``remote_revision``, built from its plan if not ready yet.

    Many processes may ask at once: one builds under the revision lock, the others wait and
    then find it ready. A partial folder left by a killed build is cleared first.
    """
    revision = Revision(local, remote_revision.dirname())
    if revision.is_ready():
        return revision
    from rezup.build import build_local_revision, remove_tree
    from rezup.lock import hold

    dirname = remote_revision.dirname()
    with hold(revision.lock_file(), f"pulling revision {dirname} of {local.name()}"):
        if revision.is_ready():
            return revision
        if revision.path().exists():
            log.info("clearing incomplete revision %s (an earlier build was interrupted)",
                     dirname)
            remove_tree(revision.path())
        plan = remote_revision.plan()
        wheels = remote_revision.path() / WHEELS_DIRNAME
        started = time.monotonic()
        log.info("pulling revision %s of %s from %s", dirname, local.name(),
                 remote_revision.container().root())
        build_local_revision(
            plan,
            remote_revision.recipe_text(),
            revision.path(),
            container_path=local.path(),
            find_links=wheels if plan.wheels else None,
            extra_metadata={"pulled_from": str(remote_revision.path())},
        )
        log.info("revision %s of %s is ready (%.1fs)", dirname, local.name(),
                 time.monotonic() - started)
    return revision


def revision_for_use(name: str, *, local_only: bool = False) -> tuple[Optional[Revision], bool]:
    """The revision ``rezup use NAME`` enters, and whether it came from the remote.

    Fast path: no lock and no heavy import when the revision is ready already.
    """
    local_setting, remote_setting = read_root_settings(recipe_path_for(name))
    local = Container.at(name, local_root(local_setting))
    remote_path = None if local_only else remote_root(remote_setting)
    if remote_path is not None:
        remote = Container.at(name, remote_path, remote=True)
        latest = remote.get_latest_revision()
        if latest is not None:
            try:
                return pull(latest, local), True
            except RezupError as exc:
                fallback = _last_pulled(local, remote)
                if fallback is None:
                    raise ContainerError(
                        f"cannot pull revision {latest.dirname()} of {name}: {exc}"
                    ) from None
                log.warning(
                    "cannot pull revision %s of %s (%s); using %s pulled before",
                    latest.dirname(), name, exc, fallback.dirname(),
                )
                return fallback, True
    return local.get_latest_revision(), False


def _last_pulled(local: Container, remote: Container) -> Optional[Revision]:
    """Newest ready local revision that was pulled from ``remote``."""
    for revision in local.iter_revision():
        if not revision.is_ready():
            continue
        source = revision.metadata().get("pulled_from")
        if source and Path(source).parent == remote.revisions():
            return revision
    return None


def drop_container(container: Container) -> None:
    """Remove a container, unless one of its revisions is being built.

    The folder is first renamed out of the way (one atomic step), then deleted, so nobody
    sees a half-deleted container.
    """
    from rezup.build import remove_tree
    from rezup.lock import is_held

    if not container.is_exists():
        raise ContainerError(f"no container named {container.name()!r} in {container.root()}")
    locks = container.locks()
    if locks.is_dir():
        for lock_file in sorted(locks.glob("*.lock")):
            if is_held(lock_file):
                raise ContainerError(
                    f"container {container.name()!r} is being built (lock {lock_file}); "
                    "try again when that build is done"
                )
    doomed = container.root() / f".{container.name()}.dropped-{os.getpid()}-{time.time():.0f}"
    os.rename(container.path(), doomed)
    remove_tree(doomed)

