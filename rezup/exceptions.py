"""The errors of rezup under their rezup 2.x module name (``rezup.exceptions``)."""

from rezup.ground.errors import (
    BuildError,
    ContainerError,
    LockError,
    RecipeError,
    RezupError,
    UsageError,
)

__all__ = ["BuildError", "ContainerError", "LockError", "RecipeError", "RezupError", "UsageError"]
