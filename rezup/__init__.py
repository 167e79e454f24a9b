"""rezup: a uv-powered launcher and environment builder for Rez.

The public names below are the ones the original rezup offered to studio scripts. They are
loaded lazily so that ``import rezup`` (and the ``rezup use`` start-up path) stays cheap.
"""

# no `from __future__ import annotations`: it is an import of its own on the `use` path
__version__ = "3.0.0"

_LAZY = {
    "Container": "rezup.container",
    "Revision": "rezup.container",
    "iter_containers": "rezup.container",
    "get_container_root": "rezup.container",
    "ContainerRecipe": "rezup.recipe",
    "RezupError": "rezup.ground.errors",
    "ContainerError": "rezup.ground.errors",
    "RecipeError": "rezup.ground.errors",
    "BuildError": "rezup.ground.errors",
    "LockError": "rezup.ground.errors",
}

__all__ = ["__version__", "get_rezup_version", *_LAZY]


def get_rezup_version() -> str:
    """``rezup X.Y.Z from /its/folder (python 3.N)`` (rezup 2.x API)."""
    import sys

    return (
        f"rezup {__version__} from {__path__[0]} "
        f"(python {sys.version_info[0]}.{sys.version_info[1]})"
    )


def __getattr__(name: str):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'rezup' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
