"""High-level operations on containers: add, pull, pick a revision for use, drop.

These are what the CLI calls and what a Python user of the API would call too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Optional

from rezup.container import (
    METADATA_FILENAME,
    RECIPE_FILENAME,
    Container,
    Revision,
    local_root,
    remote_root,
)
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
        container = Container.at(name, local_root(recipe.root_local))

    log.info("resolving %s from %s", name, recipe.source or "the default recipe")
    if not (dry_run or remote):
        return build_new_local_revision(container, recipe)
    started = time.monotonic()
    plan = make_plan(recipe, name)
    log.info("resolved in %.1fs: %s", time.monotonic() - started, describe(plan))
    if dry_run:
        return plan
    return write_remote_revision(container, plan.with_wheels(wheels), recipe.text)


def local_container(name: str, recipe_file: Optional[os.PathLike] = None) -> Container:
    """The local container ``name`` as its recipe (or ``recipe_file``) places it."""
    recipe = ContainerRecipe(name, path=recipe_file).load()
    return Container.at(name, local_root(recipe.root_local))


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
                                 container_path=container.path())
    log.info("revision %s of %s is ready (%.1fs): %s", dirname, container.name(),
             time.monotonic() - started, describe(plan))
    return revision


def clear_abandoned_revisions(container: Container, keep: str) -> None:
    """Remove revision folders that are not ready and whose build lock nobody holds.

    They are what a killed build leaves behind; they are never used, only in the way. Each is
    removed under its own lock, after checking again that it did not just become ready.
    """
    from rezup.build import remove_tree
    from rezup.lock import try_hold

    for revision in container.iter_revision():
        if revision.dirname() == keep or revision.is_ready():
            continue
        with try_hold(revision.lock_file()) as taken:
            if taken and not revision.is_ready():
                log.info("removing incomplete revision %s (its build was interrupted)",
                         revision.dirname())
                remove_tree(revision.path())


def first_revision(name: str) -> Revision:
    """The newest ready local revision of ``name``, made from its recipe if there is none.

    Under a container lock, so that many first runs at once (a new farm node starting many
    jobs) make one revision, not one each.
    """
    from rezup.lock import hold

    container = local_container(name)
    with hold(container.locks() / "first-revision.lock", f"creating the first revision of {name}"):
        existing = container.get_latest_revision()
        if existing is not None:
            return existing
        return add(name)


def write_remote_revision(container: Container, plan, recipe_text: str) -> Revision:
    """Publish a remote revision: recipe, plan, wheels if asked, and revision.json.

    It is assembled in a hidden temporary folder in the same ``revisions/`` folder and renamed
    into place, so a reader of the remote root never sees a half-written revision. The plan is
    written after the wheels are collected, because collecting them may add hashes to it (of
    wheels built from sdists); revision.json's ``plan_digest`` is that of the plan written.
    """
    from rezup.build import base_metadata, remove_tree, session_metadata, write_json_atomic
    from rezup.plan import PLAN_FILENAME

    dirname = container.new_revision_name()
    final = container.revisions() / dirname
    staging = container.revisions() / f".incoming-{dirname}-{os.getpid()}"
    staging.mkdir(parents=True)
    try:
        (staging / RECIPE_FILENAME).write_text(recipe_text, encoding="utf-8")
        if plan.wheels:
            from rezup.wheelhouse import collect_wheels

            plan = collect_wheels(plan, staging / WHEELS_DIRNAME)
        plan.write(staging / PLAN_FILENAME)
        metadata = base_metadata(plan, final)
        metadata["remote"] = True
        metadata["session"] = session_metadata(plan)
        write_json_atomic(staging / METADATA_FILENAME, metadata)
        os.rename(staging, final)
    except BaseException:
        remove_tree(staging)
        raise
    log.info("remote revision %s of %s published in %s", dirname, container.name(),
             container.root())
    return Revision(container, dirname)


PULL_RETRY_DEFAULT = 300.0  # seconds a failed pull is not tried again


def pull_retry_after() -> float:
    from rezup.lock import seconds_from_env

    return seconds_from_env("REZUP_PULL_RETRY", PULL_RETRY_DEFAULT)


def _failure_file(revision: Revision) -> Path:
    return revision.container().locks() / f"{revision.dirname()}.failed"


def recent_pull_failure(revision: Revision) -> Optional[str]:
    """Why pulling ``revision`` failed, if it failed less than ``REZUP_PULL_RETRY`` ago.

    A pull that fails (index down, a pin gone) would otherwise be tried again by every job on
    every machine, each waiting for the one before it to fail.
    """
    path = _failure_file(revision)
    try:
        age = time.time() - path.stat().st_mtime
        reason = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return reason if age < pull_retry_after() else None


def pull(remote_revision: Revision, local: Container) -> Revision:
    """The local twin of ``remote_revision``, built from its plan if not ready yet.

    Many processes may ask at once: one builds under the revision lock, the others wait and
    then find it ready. A partial folder left by a killed build is cleared first. If the build
    fails, the reason is recorded and the pull is not tried again for ``REZUP_PULL_RETRY``
    seconds: the waiting processes and later jobs get the same error at once.
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
        failure = recent_pull_failure(revision)
        if failure is not None:
            raise ContainerError(f"{failure} (failed less than {pull_retry_after():.0f}s ago)")
        if revision.path().exists():
            log.info("clearing incomplete revision %s (an earlier build was interrupted)",
                     dirname)
            remove_tree(revision.path())
        plan = remote_revision.plan()
        wheels = remote_revision.path() / WHEELS_DIRNAME
        started = time.monotonic()
        log.info("pulling revision %s of %s from %s", dirname, local.name(),
                 remote_revision.container().root())
        try:
            build_local_revision(
                plan,
                remote_revision.recipe_text(),
                revision.path(),
                container_path=local.path(),
                find_links=wheels if plan.wheels else None,
                extra_metadata={"pulled_from": str(remote_revision.path())},
            )
        except RezupError as exc:
            _failure_file(revision).write_text(f"{exc}\n", encoding="utf-8")
            raise
        with contextlib.suppress(FileNotFoundError):
            _failure_file(revision).unlink()
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
        try:
            latest = remote.get_latest_revision()
        except OSError as exc:  # the shared filesystem is down: run what was pulled before
            fallback = _last_pulled(local, remote)
            if fallback is None:
                raise ContainerError(f"cannot read the remote root {remote_path}: {exc}") from None
            log.warning("cannot read the remote root %s (%s); using %s pulled before",
                        remote_path, exc, fallback.dirname())
            return fallback, True
        if latest is not None:
            try:
                failure = recent_pull_failure(Revision(local, latest.dirname()))
                if failure is not None:  # known to fail: no lock, no waiting, no retry
                    raise ContainerError(failure)
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

    Every revision lock is taken first (so no build of a known revision can be under way), the
    folder is renamed out of the way in one atomic step, then deleted: nobody sees a
    half-deleted container. The temporary name is not a valid container name, so a leftover
    (a delete that failed half-way) is never listed or entered, and the next drop clears it.
    """
    from rezup.build import remove_tree
    from rezup.lock import try_hold

    if not container.is_exists():
        raise ContainerError(f"no container named {container.name()!r} in {container.root()}")
    root = container.root()
    for leftover in root.glob(".dropped#*"):
        with contextlib.suppress(OSError):
            remove_tree(leftover)
    names = set()
    if container.locks().is_dir():
        names = {entry.name.rsplit(".", 1)[0] for entry in container.locks().iterdir()
                 if entry.name.endswith((".lock", ".softlock"))}
    doomed = root / f".dropped#{container.name()}#{os.getpid()}#{time.time():.0f}"
    with contextlib.ExitStack() as stack:
        for name in sorted(names):
            lock_file = container.locks() / f"{name}.lock"
            if not stack.enter_context(try_hold(lock_file)):
                raise ContainerError(
                    f"container {container.name()!r} is being built (lock {lock_file}); "
                    "try again when that build is done"
                )
        os.rename(container.path(), doomed)
    remove_tree(doomed)
