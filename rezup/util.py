"""Helpers for scripts (rezup 2.x API): the revision a container gives, and resolving a
rez environment through that revision's own rez.

::

    from rezup import util

    revision = util.get_revision()                             # from container .main
    env = util.resolve_environ(revision, ["pkg_a", "pkg_b"])   # what the context sets
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional, Union

from rezup.container import Container, Revision
from rezup.ground.errors import ContainerError

__all__ = ["ResolveError", "get_revision", "locate_rez_lib", "resolve_environ"]

_MARK = "::rezup.environ::"

# Run by the revision's rez-python: resolve the requests (or load an .rxt file) and print the
# context's environment as JSON between two marks (rez may print warnings around it).
_RESOLVE = f"""
import json, os, sys
from rez.resolved_context import ResolvedContext
args = sys.argv[1:]
if len(args) == 1 and os.path.isfile(args[0]):
    context = ResolvedContext.load(args[0])
else:
    context = ResolvedContext(args)
if not context.success:
    sys.stderr.write("resolve failed: " + " ".join(str(context.failure_description).split()))
    sys.exit(3)
sys.stdout.write({_MARK!r} + json.dumps(context.get_environ()) + {_MARK!r})
"""


class ResolveError(ContainerError, subprocess.CalledProcessError):
    """rez could not resolve the request. A ContainerError, and (as in rezup 2.x) a
    CalledProcessError with rez's output."""

    def __init__(self, message: str, returncode: int, cmd: list[str], output: str) -> None:
        ContainerError.__init__(self, message)
        subprocess.CalledProcessError.__init__(self, returncode, cmd, output)
        self.message = message

    def __str__(self) -> str:
        return self.message


def get_revision(
    container: Optional[str] = None, create: bool = False, fallback: bool = True
) -> Revision:
    """The revision of ``container`` (default ``.main``) a script should use: local, ready.

    A local container gives its newest ready revision (``create``: made first if there is
    none). A remote one gives the local twin of its newest revision; if that is not pulled
    here, ``create`` pulls it, and ``fallback`` gives the newest local revision made up to
    that time instead (with a warning) when it is not pulled, or its pull fails.
    """
    found = Container(container)
    try:
        latest = found.get_latest_revision()
    except OSError as exc:
        raise ContainerError(
            f"cannot read the revisions of {found.name()!r} in "
            f"{found.revisions()}: {exc.strerror or exc}"
        ) from None
    if latest is None:
        if found.is_remote() or not create:
            raise ContainerError(f"no ready revision in container {found.name()!r}: {found.path()}")
        latest = found.new_revision()
    revision = latest.pull(check_out=create, fallback=fallback)
    if revision is None:
        raise ContainerError(
            f"revision {latest.dirname()} of {found.name()!r} is not pulled "
            "here; pull it with create=True or `rezup use`"
        )
    return revision


def resolve_environ(
    revision: Revision, requests_or_rxt: Union[Sequence[Any], str, os.PathLike]
) -> dict[str, str]:
    """The environment a rez context sets, resolved by the revision's own rez.

    ``requests_or_rxt``: package requests (a list, or one string of them separated by
    spaces), or the path of an ``.rxt`` file. rez runs as the revision's ``rez-python``, in
    the revision's session environment, so package commands see the recipe's ``[env]``.
    Returns ``ResolvedContext.get_environ()``: what the context sets (``PATH``, ``REZ_*``,
    the packages' variables), not the whole environment. Raises ResolveError.
    """
    from rezup.runtime import session

    local = revision if not revision.is_remote() else revision.pull()
    if local is None or not local.is_ready():
        raise ContainerError(f"revision {revision.path()} is not ready to be used")
    rez_python = _rez_python(local)
    if isinstance(requests_or_rxt, (str, os.PathLike)):
        text = os.fspath(requests_or_rxt)
        args = [text] if os.path.isfile(text) else text.split()
    else:
        args = [str(request) for request in requests_or_rxt]
    env = session.session_environ(
        local.session_metadata(), str(local.path()), local.container().name(), local.is_pulled()
    )
    command = [str(rez_python), "-B", "-c", _RESOLVE, *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    start, _, rest = done.stdout.partition(_MARK)
    found, marked, _ = rest.partition(_MARK)
    if done.returncode != 0 or not marked:
        reason = _last_words(done.stderr) or _last_words(start) or f"exit {done.returncode}"
        raise ResolveError(
            f"cannot resolve {' '.join(args)!r} in revision {local.dirname()} "
            f"of {local.container().name()!r}: {reason}",
            done.returncode or 1,
            command,
            done.stdout + done.stderr,
        )
    return json.loads(found)


def _rez_python(revision: Revision) -> Path:
    suffix = ".exe" if os.name == "nt" else ""
    for bin_dir in revision.production_bin_dirs():
        candidate = bin_dir / f"rez-python{suffix}"
        if os.access(candidate, os.X_OK):
            return candidate
    raise ContainerError(f"rez-python not found in revision {revision.path()}")


def _last_words(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def locate_rez_lib(container: Optional[str] = None, create: bool = False) -> Optional[Path]:
    """The folder that holds the ``rez`` package of ``container``'s revision (rezup 2.0)."""
    return get_revision(container, create=create).locate_rez_lib()
