"""The recipe classes of the rezup 2.x API (``rezup.recipe``), defined in the stages."""

from rezup.stages.recipe_files import BaseRecipe, ContainerRecipe, RevisionRecipe
from rezup.stages.recipe_loading import deep_update

__all__ = ["BaseRecipe", "ContainerRecipe", "RevisionRecipe", "deep_update"]
