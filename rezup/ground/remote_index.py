"""A remote root served over HTTP(S): its index of ready revisions, and this machine's copy.

A web server lists no folders, so a remote root served over HTTP(S) says which revisions it
has in one small file per container, written last by ``rezup add --remote``::

    {root}/{container}/index.json      {"format": "rezup-remote-index", "version": 1, ...}

Each machine keeps the index it fetched last in its local container (``.remote-index``, with
the time it was fetched): for ``REZUP_REMOTE_INDEX_MAX_AGE`` seconds (default 5) every job takes
it from there, so a burst of jobs asks the server once. Fetching is the command line's job
(``rezup.stages.http_remote``); this module only names, reads and writes the files, so the lean
``rezup use`` path can take a fresh copy without loading anything else.

On the ``rezup use`` start-up path: imports only ``os`` at module level, works in ``str``.
"""

import os

# On the `rezup use` path: no `from __future__ import annotations` (an import of its own,
# ~0.15 ms) and no typing (milliseconds); annotations naming typing's types are strings.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

INDEX_FILENAME = "index.json"  # in a container of a published root: its ready revisions
INDEX_FORMAT = "rezup-remote-index"
INDEX_VERSION = 1
FIND_LINKS_FILENAME = "index.html"  # in a revision's wheelhouse: a link to every wheel
CACHE_FILENAME = ".remote-index"  # in a local container: the index fetched last
FETCH_LOCK = "remote-index"  # {local container}/.locks/remote-index.lock: one fetch at a time
DEFAULT_MAX_AGE = 5.0  # seconds a fetched index is used before it is asked for again

_CACHE_TAG = "rezup .remote-index 1"


def without_credentials(url: str) -> str:
    """``url`` without the ``user:password@`` it may hold: what messages show and what a
    pulled revision records (``pulled_from``), never a password."""
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}{sep}{host.rpartition('@')[2]}{slash}{path}" if sep else url


def container_url(root_url: str, name: str) -> str:
    return f"{root_url.rstrip('/')}/{name}"


def index_url(container: str) -> str:
    return f"{container}/{INDEX_FILENAME}"


def max_age() -> float:
    """``$REZUP_REMOTE_INDEX_MAX_AGE``: seconds a fetched index serves the jobs that follow
    (0: every job asks the server)."""
    if not os.environ.get("REZUP_REMOTE_INDEX_MAX_AGE"):
        return DEFAULT_MAX_AGE
    from rezup.ground.settings import seconds_from_env

    return seconds_from_env("REZUP_REMOTE_INDEX_MAX_AGE", DEFAULT_MAX_AGE)


def cache_file(local_container: str) -> str:
    return os.path.join(local_container, CACHE_FILENAME)


def read_cache(local_container: str, url: str) -> "Optional[tuple[float, tuple]]":
    """(when it was fetched, its revisions) of the index of ``url`` that this machine fetched
    last; None if there is none, or it was of another URL or is unreadable (URLs are kept
    and compared without their credentials). Each revision is a
    tuple ``(name, has_plan, has_wheels)``, newest first."""
    import marshal

    url = without_credentials(url)
    try:
        with open(cache_file(local_container), "rb") as stream:
            data = marshal.loads(stream.read())
    except Exception:
        return None
    if (
        type(data) is not tuple
        or len(data) != 4
        or data[0] != _CACHE_TAG
        or data[1] != url
        or type(data[2]) is not float
        or type(data[3]) is not tuple
    ):
        return None
    return data[2], data[3]


def fresh_revisions(
    local_container: str, url: str, seconds: "Optional[float]" = None
) -> "Optional[tuple]":
    """The revisions of the cached index of ``url`` if it was fetched less than ``seconds``
    (``max_age()``) ago, else None."""
    import time

    cached = read_cache(local_container, url)
    if cached is None:
        return None
    fetched, revisions = cached
    age = time.time() - fetched
    limit = max_age() if seconds is None else seconds
    return revisions if 0 <= age < limit else None


def write_cache(local_container: str, url: str, revisions: "list[tuple[str, bool, bool]]") -> None:
    """Keep the index of ``url`` just fetched (atomically: readers see the old or the new)."""
    import marshal
    import time

    from rezup.ground.revision_json import MARSHAL_VERSION

    os.makedirs(local_container, exist_ok=True)
    path = cache_file(local_container)
    tmp = f"{path}.{os.getpid()}.tmp"
    data = (_CACHE_TAG, without_credentials(url), time.time(), tuple(revisions))
    try:
        with open(tmp, "wb") as stream:
            stream.write(marshal.dumps(data, MARSHAL_VERSION))
        os.replace(tmp, path)
    except BaseException:
        try:  # noqa: SIM105 - no contextlib on the lean path
            os.unlink(tmp)
        except OSError:
            pass
        raise


# -- one fetch at a time -------------------------------------------------------------------------
#
# When this machine's copy is too old, one process fetches the index (the command line, which
# reaches the server as uv would) while holding ``FETCH_LOCK``; the others wait for it, then
# take its copy on the lean path. The process that takes the lock on the lean path keeps it and
# hands it to the command line it goes on to load (``adopt_fetch_lock``): taking it again
# there would let the jobs of a burst, all finding it free, each fetch the index.

_held_fetch_lock: "Optional[tuple[str, int]]" = None  # (lock file, descriptor): handed over


def fetch_lock_file(local_container: str) -> str:
    from rezup.ground import paths

    return os.path.join(local_container, paths.LOCKS_DIRNAME, f"{FETCH_LOCK}.lock")


def await_fetch(local_container: str, url: str, seconds: float) -> bool:
    """Whether this machine has a fresh copy of the index of ``url`` once the process
    fetching it now (if any) is done, waiting up to ``seconds`` for it. False when this process
    is to fetch it: it then holds the lock, for ``adopt_fetch_lock``, unless no lock can be
    had here (no ``fcntl``, a folder that cannot be written, the time is up)."""
    global _held_fetch_lock
    import time

    try:
        import fcntl

        path = fetch_lock_file(local_container)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except (ImportError, OSError):
        return False
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:  # another process fetches it
            if time.monotonic() > deadline:
                os.close(fd)
                return False
            time.sleep(0.005)
        except OSError:  # a filesystem without locks
            os.close(fd)
            return False
    if fresh_revisions(local_container, url) is not None:  # fetched while this one waited
        os.close(fd)
        return True
    _held_fetch_lock = (os.path.abspath(path), fd)
    return False


def adopt_fetch_lock(path: str) -> "Optional[int]":
    """The descriptor of the fetch lock ``path`` if this process took it on the lean path (it
    holds it: close it to release it), else None."""
    global _held_fetch_lock
    held = _held_fetch_lock
    if held is None or held[0] != os.path.abspath(path):
        return None
    _held_fetch_lock = None
    return held[1]


def release_fetch_lock(path: str) -> None:
    """Release the fetch lock ``path`` if this process took it on the lean path and it is no
    longer needed (the copy was fetched by another process meanwhile, or a failure recorded)."""
    fd = adopt_fetch_lock(path)
    if fd is not None:
        os.close(fd)


def parse_index(data: bytes, container: str) -> "list[tuple[str, bool, bool]]":
    """The revisions an ``index.json`` lists, newest first, as ``(name, has_plan,
    has_wheels)``. ValueError, naming what is wrong, for anything but such an index of
    ``container`` (a server may answer an error page, or nonsense, with status 200)."""
    import json

    try:
        document: Any = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("its index.json is not JSON") from None
    if not isinstance(document, dict) or document.get("format") != INDEX_FORMAT:
        raise ValueError("its index.json is not a rezup index")
    if document.get("version") != INDEX_VERSION:
        raise ValueError(
            f"its index.json is of version {document.get('version')!r}, this rezup reads "
            f"{INDEX_VERSION}"
        )
    if document.get("container") != container:
        raise ValueError(f"its index.json is of container {document.get('container')!r}")
    entries = document.get("revisions")
    if not isinstance(entries, list):
        raise ValueError("its index.json has no list of revisions")
    from rezup.ground import paths

    revisions = []
    for entry in entries:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not paths.is_timestamp(name):
            raise ValueError(f"its index.json lists a revision named {name!r}")
        revisions.append((name, entry.get("plan") is True, entry.get("wheels") is True))
    revisions.sort(key=lambda revision: float(revision[0]), reverse=True)
    return revisions
