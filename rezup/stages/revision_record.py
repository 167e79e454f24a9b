"""What a revision folder records about itself: the recipe as written, the plan built from it,
and the metadata of ``revision.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from rezup.ground import paths, revision_json
from rezup.stages.plan import Plan, pinned_version
from rezup.stages.recipe_model import platform_name

if TYPE_CHECKING:
    from rezup.ground.formats import RevisionMetadata, RevisionSession


def write_recipe_and_plan(folder: Path, recipe_text: str, plan: Plan) -> None:
    """The recipe file as written and the plan built from it, into the revision ``folder``."""
    (folder / paths.RECIPE_FILENAME).write_text(recipe_text, encoding="utf-8")
    plan.write(folder / paths.PLAN_FILENAME)


def revision_metadata(
    revision_dir: Path,
    plan: Plan,
    *,
    python: Optional[str] = None,
    rez_version: Optional[str] = None,
    **more: Any,
) -> RevisionMetadata:
    """The metadata of ``revision.json`` of the revision at ``revision_dir`` built from
    ``plan``: ``python`` and ``rez_version`` as given, else as the plan's first venv pins
    them; ``more`` adds keys (``build_seconds``, ``cloned_from``, ``remote``, ...)."""
    return revision_json.make_metadata(
        str(revision_dir),
        plan_digest=plan.digest,
        venvs=[venv.name for venv in plan.venvs],
        python=python or plan.venvs[0].python_version,
        rez_version=rez_version or pinned_version(plan.venvs[0], "rez"),
        session=session_metadata(plan),
        **more,
    )


def session_metadata(plan: Plan) -> RevisionSession:
    """What ``rezup use`` needs, copied from the plan so that it reads one small JSON file."""
    return {
        "bin_dirs": [paths.production_bin_relpath(venv.name) for venv in plan.venvs],
        "env": [list(item) for item in plan.env],
        "dotenv": plan.dotenv_files(platform_name()),
    }
