"""``revision.json``: the ready marker written last, and the metadata of a revision; with its
``revision.marshal`` copy for readers that should not import ``json`` (the lean path).
"""

import os

from rezup.ground import paths

# On the `rezup use` path: no `from __future__ import annotations` (an import of its own,
# ~0.15 ms) and no typing (milliseconds); annotations naming typing's types are strings.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional



# -- revision.json: the ready marker and the metadata --------------------------------------------


def is_ready(revision_dir: str) -> bool:
    """Whether the ready marker exists (it may still be unreadable: see ``read_metadata``)."""
    return os.path.isfile(os.path.join(revision_dir, paths.METADATA_FILENAME))


def read_metadata(revision_dir: str) -> "Optional[dict[str, Any]]":
    """The metadata of a ready revision; None if it is not ready (no ``revision.json``).

    Raises ValueError (with the reason) when the file exists but is unreadable, not JSON, or
    not a JSON object: such a revision is never usable.

    ``revision.marshal`` (see ``write_metadata``) gives the same data without importing
    ``json`` (whose decoder imports ``re``: ~6 ms of a 20 ms ``rezup use``), but only when it
    holds the very bytes ``revision.json`` holds now; anything else is read from the JSON.
    """
    path = os.path.join(revision_dir, paths.METADATA_FILENAME)
    try:
        with open(path, "rb") as stream:
            raw = stream.read()
    except FileNotFoundError:
        return None
    except OSError:
        raw = None  # the JSON reader below says why
    if raw is not None:
        data = _marshalled_metadata(revision_dir, raw)
        if data is not None:
            return data
    import json

    try:
        with open(path, encoding="utf-8") as stream:
            data = json.load(stream)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"cannot read {paths.METADATA_FILENAME}: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"broken {paths.METADATA_FILENAME}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"broken {paths.METADATA_FILENAME}: not a JSON object")
    return data


MARSHAL_TAG = "rezup revision.json 1"
MARSHAL_VERSION = 4  # every Python rezup runs on (3.9+) reads it


def _marshalled_metadata(revision_dir: str, raw: bytes) -> "Optional[dict[str, Any]]":
    """The data of ``revision.marshal`` if it is the parsed form of ``raw`` (the bytes of
    ``revision.json`` now), else None: missing, unreadable, from an unknown format or
    another Python's marshal, or written for other content of ``revision.json``."""
    import marshal  # built in, and loaded already by the interpreter's start-up

    try:
        with open(os.path.join(revision_dir, paths.METADATA_MARSHAL_FILENAME), "rb") as stream:
            data = marshal.loads(stream.read())
    except Exception:  # any failure only means: read the JSON
        return None
    if type(data) is tuple and len(data) == 3 and data[0] == MARSHAL_TAG and \
            type(data[1]) is bytes and data[1] == raw and type(data[2]) is dict:
        return data[2]
    return None


def make_metadata(
    revision_dir: str,
    *,
    plan_digest: str,
    venvs: "list[str]",
    python: str,
    rez_version: "Optional[str]",
    session: "dict[str, Any]",
    **extra: "Any",
) -> "dict[str, Any]":
    """The content of ``revision.json``. Keys:

    ``rezup_version``, ``creator``, ``hostname``, ``created`` (seconds), ``revision_path``;
    ``plan_digest`` (of ``plan.lock``), ``venvs`` (names, the rez venv first), ``python`` (the
    rez venv's version), ``rez_version``; ``session`` (what ``rezup use`` needs: ``bin_dirs``
    relative to the revision, ``env`` as [key, value] pairs, ``dotenv`` files); and as the case
    may be ``remote`` (a published remote revision), ``pulled_from`` (the remote revision a
    local one was built from), ``build_seconds``.
    """
    import getpass
    import socket
    import time

    from rezup import __version__

    try:
        creator = getpass.getuser()
    except Exception:  # no user name in some containers
        creator = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return {
        "rezup_version": __version__,
        "creator": creator,
        "hostname": socket.gethostname(),
        "created": time.time(),
        "revision_path": revision_dir,
        "plan_digest": plan_digest,
        "venvs": list(venvs),
        "python": python,
        "rez_version": rez_version,
        "session": session,
        **extra,
    }


def session_bin_dirs(metadata: "dict[str, Any]") -> "list[str]":
    """Production bin folders (relative to the revision) that a session puts on PATH."""
    session = metadata.get("session") or {}
    dirs = session.get("bin_dirs")
    if dirs is None:  # a revision written by rezup 2.x
        dirs = [paths.production_bin_relpath(name) for name in metadata.get("venvs", [])]
    return list(dirs)


def pulled_from(metadata: "dict[str, Any]") -> str:
    """The remote revision folder a local revision was built from ('' if none)."""
    value = metadata.get("pulled_from")
    return value if isinstance(value, str) else ""
