"""``revision.json``: the ready marker written last, and the metadata of a revision; with its
``revision.marshal`` copy for readers that should not import ``json`` (the lean path).
"""

import os

from rezup.ground import paths

# On the `rezup use` path: no `from __future__ import annotations` (an import of its own,
# ~0.15 ms) and no typing (milliseconds); annotations naming typing's types are strings.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Optional

    from rezup.ground.formats import RevisionMetadata, RevisionSession

# The format of ``revision.json``: its ``format`` key (none in revisions of rezup 2.x and of
# rezup 3 before it: read as they are). Keys are only added within a version; a key renamed
# or removed makes a new one. A newer one than this is not read (``read_metadata``).
METADATA_FORMAT = 1


# -- revision.json: the ready marker and the metadata --------------------------------------------


def is_ready(revision_dir: "paths.StrPath") -> bool:
    """Whether the ready marker exists (it may still be unreadable: see ``read_metadata``)."""
    return os.path.isfile(os.path.join(revision_dir, paths.METADATA_FILENAME))


def read_metadata(revision_dir: "paths.StrPath") -> "Optional[dict[str, Any]]":
    """The metadata of a ready revision; None if it is not ready (no ``revision.json``).

    Raises ValueError (with the reason) when the file exists but is unreadable, not JSON, not
    a JSON object, or of a newer ``format`` than ``METADATA_FORMAT`` (its keys may have been
    renamed: "upgrade rezup"): such a revision is never usable. A document with no ``format``
    (rezup 2.x, early rezup 3) is read as it is; it may lack any key: so the result is typed
    a plain dict, not ``formats.RevisionMetadata`` (what this rezup writes), and readers take
    each key with ``.get``.

    ``revision.marshal`` (see ``write_metadata``) gives the same data without importing
    ``json`` (whose decoder imports ``re``: ~6 ms of a 20 ms ``rezup use``), but only when it
    holds the very bytes ``revision.json`` holds now; anything else is read from the JSON.
    """
    revision_dir = os.fspath(revision_dir)
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
            return _known_format(data)
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
    return _known_format(data)


def _known_format(data: "dict[str, Any]") -> "dict[str, Any]":
    """``data``, if this rezup knows its format (no ``format`` key: an earlier document)."""
    version = data.get("format")
    if version is None or (type(version) is int and 1 <= version <= METADATA_FORMAT):
        return data
    if type(version) is int and version > METADATA_FORMAT:
        raise ValueError(
            f"{paths.METADATA_FILENAME} of format {version}, newer than this rezup "
            f"reads ({METADATA_FORMAT}): upgrade rezup"
        )
    raise ValueError(f"broken {paths.METADATA_FILENAME}: format {version!r} is not a version")


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
    if (
        type(data) is tuple
        and len(data) == 3
        and data[0] == MARSHAL_TAG
        and type(data[1]) is bytes
        and data[1] == raw
        and type(data[2]) is dict
    ):
        return data[2]
    return None


def make_metadata(
    revision_dir: str,
    *,
    plan_digest: str,
    venvs: "list[str]",
    python: str,
    rez_version: "Optional[str]",
    session: "RevisionSession",
    **extra: "Any",
) -> "RevisionMetadata":
    """The content of ``revision.json`` (``formats.RevisionMetadata``). Keys:

    ``format`` (``METADATA_FORMAT``); ``rezup_version``, ``creator``, ``hostname``, ``created``
    (seconds), ``revision_path``; ``plan_digest`` (of ``plan.lock``), ``venvs`` (names, the rez
    venv first), ``python`` (the rez venv's version), ``rez_version``; ``session`` (what
    ``rezup use`` needs: ``bin_dirs`` relative to the revision, ``env`` as [key, value] pairs,
    ``dotenv`` files); and as the case may be ``remote`` (a published remote revision),
    ``pulled_from`` (the remote revision a local one was built from), ``cloned_from`` (the
    revision whose venvs it hard-links), ``build_seconds``.
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
        "format": METADATA_FORMAT,
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
        **extra,  # type: ignore[typeddict-item]  # remote, pulled_from, cloned_from, ...
    }


def session_bin_dirs(metadata: "Mapping[str, Any]") -> "list[str]":
    """Production bin folders (relative to the revision) that a session puts on PATH."""
    session = metadata.get("session") or {}
    dirs = session.get("bin_dirs")
    if dirs is None:  # a revision written by rezup 2.x
        dirs = [paths.production_bin_relpath(name) for name in metadata.get("venvs", [])]
    return list(dirs)


def pulled_from(metadata: "Mapping[str, Any]") -> str:
    """The remote revision folder a local revision was built from ('' if none)."""
    value = metadata.get("pulled_from")
    return value if isinstance(value, str) else ""
