"""Apply a container's environment in one import line (rezup 2.x API, PEP 562)::

    from rezup.util_env import dot_main   # container .main's [env] is now in os.environ

instead of::

    from rezup.util import get_revision
    os.environ.update(get_revision(".main").recipe_env())

``dot_main`` stands for ``.main``; any other name is the container of that name
(``from rezup.util_env import dev``). ``dir(util_env)`` lists the containers. Each import
applies the revision's ``recipe_env()`` (its dotenv files, ``[env]`` and ``REZUP_*``
variables) to ``os.environ`` and binds the name to that dict. An unknown container raises
ContainerError, as in rezup 2.x.
"""

from __future__ import annotations

import os

from rezup.ground import paths


def _container(attribute: str) -> str:
    return paths.DEFAULT_CONTAINER if attribute == "dot_main" else attribute


def __dir__() -> list[str]:
    from rezup.container import iter_containers

    names = (container.name() for container in iter_containers())
    return list(
        dict.fromkeys("dot_main" if name == paths.DEFAULT_CONTAINER else name for name in names)
    )


def __getattr__(name: str) -> dict[str, str]:
    if name.startswith("__") and name.endswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rezup import util

    env = util.get_revision(container=_container(name)).recipe_env()
    os.environ.update(env)
    return env
