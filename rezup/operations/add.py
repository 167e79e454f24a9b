"""Add: make a new revision of a container from its recipe (local build, or remote publish)."""

from __future__ import annotations

import logging
import os
import time
from typing import Optional, Union

from rezup.ground import paths, progress, root_settings
from rezup.ground.errors import UsageError
from rezup.operations.prune import clean_after_build
from rezup.stages.build import cloned_note, plan_and_build
from rezup.stages.build_site import building_under_lock
from rezup.stages.cleanup import clear_incomplete, finish_pending, revive
from rezup.stages.disk_state import ContainerDir, RevisionDir
from rezup.stages.plan import Plan, describe
from rezup.stages.recipe_files import ContainerRecipe
from rezup.stages.recipe_model import Recipe
from rezup.stages.recipe_validation import python_request
from rezup.stages.remote_publish import publish
from rezup.stages.resolve import make_plan

log = logging.getLogger("rezup")


def add(
    name: str,
    recipe_file: Optional[Union[str, os.PathLike]] = None,
    *,
    remote: bool = False,
    wheels: bool = False,
    dry_run: bool = False,
    python: Optional[str] = None,
) -> Union[Plan, RevisionDir]:
    """Make a new revision of container ``name`` from its recipe (or ``recipe_file``).

    ``python`` (a version or a path) replaces the recipe's interpreter: of the rez venv, and
    of isolated extensions that name none. Returns the Plan when ``dry_run``, else the new
    revision (remote or local).
    """
    recipe = ContainerRecipe(name, path=recipe_file).load()
    if python is not None:
        recipe = with_python(recipe, python)
    if wheels and not remote:
        raise UsageError("--wheels goes with --remote (a wheelhouse is for machines that pull)")
    if remote:
        root = root_settings.remote_root(recipe.root_remote)
        if root is None:
            raise UsageError(
                "no remote root: set [root] remote in the recipe or $REZUP_ROOT_REMOTE"
            )
        if root_settings.is_url(root):
            raise UsageError(
                f"the remote root {root} is served over HTTP, and rezup publishes to a folder: "
                "run `rezup add --remote` with REZUP_ROOT_REMOTE (or [root] remote) set to the "
                "folder the server serves"
            )
        container = ContainerDir(root, name, remote=True)
    else:
        container = ContainerDir(root_settings.local_root(recipe.root_local), name)

    log.info("resolving %s from %s", name, recipe.source or "the default recipe")
    if not (dry_run or remote):
        return build_new_local_revision(container, recipe)
    if dry_run:
        return _resolve(recipe, name)
    return publish_revision(container, recipe, wheels=wheels)


def _resolve(recipe: Recipe, name: str) -> Plan:
    with progress.step("resolving", "resolved") as resolving:
        plan = make_plan(recipe, name, on_line=resolving.note)
        resolving.note(describe(plan))
    return plan


def with_python(recipe: Recipe, python: str) -> Recipe:
    """``recipe`` with ``python`` as the interpreter of its venvs that name none (the rez venv
    always)."""
    from dataclasses import replace

    from rezup.ground.errors import UsageError

    if not python.strip():
        raise UsageError("--python needs a version or a path")
    python = python_request(python, os.getcwd())
    extensions = tuple(
        replace(ext, python=ext.python or python) if ext.isolation else ext
        for ext in recipe.extensions
    )
    return replace(recipe, rez=replace(recipe.rez, python=python), extensions=extensions)


def publish_revision(
    container: ContainerDir, recipe: Recipe, *, wheels: bool = False
) -> RevisionDir:
    """Resolve ``recipe`` and publish it as a new revision of the remote ``container``."""
    plan = _resolve(recipe, container.name())
    revision = container.revision(container.new_revision_name())
    publish(plan.with_wheels(wheels), recipe.text, revision.path())
    log.info(
        "remote revision %s of %s published in %s",
        revision.dirname(),
        container.name(),
        container.root(),
    )
    return revision


def local_container(
    name: str, recipe_file: Optional[Union[str, os.PathLike]] = None
) -> ContainerDir:
    """The local container ``name`` as its recipe (or ``recipe_file``) places it."""
    local, _ = root_settings.container_roots(name, str(recipe_file) if recipe_file else None)
    return ContainerDir(local, name)


def build_new_local_revision(container: ContainerDir, recipe: Recipe) -> RevisionDir:
    """Resolve ``recipe`` and build it as a new revision of ``container``, under its lock.

    On the way it finishes removals that waited for their revisions to be free, clears what
    killed builds left, and afterwards applies ``REZUP_CLEAN_AFTER``.
    """
    finish_pending(container.root())
    revision = container.revision(container.new_revision_name())
    dirname = revision.dirname()
    started = time.monotonic()
    with building_under_lock(
        revision.lock_file(), f"building revision {dirname} of {container.name()}"
    ) as held:
        revive(container)
        clear_incomplete(container, keep=dirname)
        log.info("building revision %s of %s in %s", dirname, container.name(), container.root())
        plan, metadata = plan_and_build(
            recipe, container.name(), revision.path(), container_dir=container.path(), held=held
        )
    log.info(
        "revision %s of %s is ready (%.1fs%s): %s",
        dirname,
        container.name(),
        time.monotonic() - started,
        cloned_note(metadata),
        describe(plan),
    )
    clean_after_build(container)
    return revision


def first_revision(name: str) -> RevisionDir:
    """The newest ready local revision of ``name``, made from its recipe if there is none.

    Under a container lock, so that many first runs at once (a new farm node starting many
    jobs) make one revision, not one each.
    """
    container = local_container(name)
    lock_file = container.lock_file(paths.FIRST_REVISION_LOCK)
    with building_under_lock(lock_file, f"creating the first revision of {name}"):
        existing = container.get_latest_revision()
        if existing is not None:
            return existing
        revision = add(name)
        assert isinstance(revision, RevisionDir)
        return revision
