"""Which revision ``rezup use`` enters: the newest usable one, through the ``.newest`` cache of
the listing, and a remote root looked at under a deadline.
"""

import os

from rezup.ground import paths, revision_json, root_settings

# On the `rezup use` path: no `from __future__ import annotations` (an import of its own,
# ~0.15 ms) and no typing (milliseconds); annotations naming typing's types are strings.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, Optional


# -- which revision `rezup use` enters ------------------------------------------------------------


def newest_ready(revisions: str) -> "Optional[str]":
    """The newest revision in ``revisions`` whose ``revision.json`` exists (not read)."""
    for name in newest_first(revisions):
        if revision_json.is_ready(os.path.join(revisions, name)):
            return name
    return None


def newest_usable(
    revisions: str, warn: "Optional[Callable[[str], None]]" = None
) -> "tuple[Optional[str], Optional[dict[str, Any]]]":
    """The newest *usable* revision in ``revisions`` and its metadata: ready, and its
    ``revision.json`` readable and well-formed. Each broken one on the way is skipped, with
    ``warn(why)``: one broken revision never stops the use of an older one."""
    for name in newest_first(revisions):
        revision_dir = os.path.join(revisions, name)
        try:
            metadata = revision_json.read_metadata(revision_dir)
        except ValueError as exc:
            if warn is not None:
                warn(f"skipping revision {revision_dir}: {exc}")
            continue
        if metadata is not None:
            return name, metadata
    return None, None


# -- .newest: the head of the listing, so that `use` need not list 10,000 revisions --------------
#
# ``{container}/.newest`` holds the first names of ``revision_names(revisions)`` (newest first,
# down to the newest usable revision), with the inode and the mtime of ``revisions/`` when
# they were listed. While that folder keeps both, no entry was added, removed or renamed in
# it, so the names are still the head of its listing, in the same order. Readers only take
# the names, never a verdict: every one is checked again exactly as the full listing would
# be (ready, readable), and when none of them is usable the rest of the listing follows.
# So ``.newest`` can make the choice faster, never different; a writer that lost a race
# can only leave one that is not trusted (the mtime moved on), and then readers list.
#
# Coarse timestamps: an entry added in the same clock tick as the last change before the
# listing would leave the mtime as it was. The writer therefore creates its file *before*
# it reads the mtime, and the head counts only if that file's own mtime (the filesystem's
# clock, also on NFS) is later than the folder's: every change after it is then stamped
# later still. A filesystem that does not move a folder's mtime when an entry is made in it
# gets no .newest at all. Readers never write it (read-only roots, and nothing to race).

_NEWEST_TAG = "rezup .newest 1"
_NEWEST_HEAD_MAX = 32  # names kept: incomplete or broken revisions above the newest usable


def newest_first(revisions: str) -> "Iterator[str]":
    """The names ``revision_names(revisions)`` gives, in its order, taking the first ones from
    ``.newest`` when it is trusted and listing the folder only if more are asked for."""
    head = _trusted_head(revisions)
    if head:
        yield from head
    seen = frozenset(head or ())
    for name in paths.revision_names(revisions):
        if name not in seen:
            yield name


def _trusted_head(revisions: str) -> "Optional[tuple[str, ...]]":
    """The names ``.newest`` holds, if it describes ``revisions`` as it is now; else None."""
    import marshal

    try:
        with open(os.path.join(os.path.dirname(revisions), paths.NEWEST_FILENAME), "rb") as stream:
            data = marshal.loads(stream.read())
        if type(data) is not tuple or len(data) != 5 or data[0] != _NEWEST_TAG:
            return None
        folder = _folder_stat(revisions)
    except Exception:
        return None
    _, inode, mtime_ns, stamp_ns, head = data
    if (
        inode != folder.st_ino
        or mtime_ns != folder.st_mtime_ns
        or type(stamp_ns) is not int
        or stamp_ns <= mtime_ns
        or type(head) is not tuple
        or not all(type(name) is str and paths.is_timestamp(name) for name in head)
    ):
        return None
    return head


def _folder_stat(path: str) -> "os.stat_result":
    """``stat`` of a folder through an open descriptor: NFS checks a folder's attributes
    again when it is opened (a plain ``stat`` may answer from its cache), and a folder that
    cannot be listed cannot be opened either."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def refresh_newest(revisions: "paths.StrPath") -> bool:
    """Write ``.newest`` for the folder ``revisions`` as it is now; return whether it was.

    Called where a revision becomes ready or goes (``write_metadata``, a publish, removals).
    Never raises: without it readers list the folder, as they do for a root made by an older
    rezup. Writers take a lock on the container folder where they can, so that the last
    writer also listed last.
    """
    revisions = os.fspath(revisions)
    container = os.path.dirname(revisions)
    try:
        lock = _lock_folder(container)
    except Exception:
        return False
    try:
        return _write_newest(revisions, container)
    except Exception:
        return False
    finally:
        if lock is not None:
            os.close(lock)


def _lock_folder(folder: str) -> "Optional[int]":
    """An exclusive ``flock`` on ``folder`` itself (None where there is none, e.g. NFS): held
    for milliseconds, so waiting for it is short; after 2 seconds, go on without it."""
    if os.name == "nt":
        return None
    import fcntl
    import time

    fd = os.open(folder, os.O_RDONLY)
    deadline = time.monotonic() + 2.0
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                break
            time.sleep(0.002)
        except OSError:
            break
    os.close(fd)
    return None


def _write_newest(revisions: str, container: str) -> bool:
    import marshal
    import time

    path = os.path.join(container, paths.NEWEST_FILENAME)
    tmp = os.path.join(container, f"{paths.NEWEST_FILENAME}.{os.getpid()}.tmp")
    _remove(tmp)  # a new file: its mtime is the time of its creation
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        if os.stat(container).st_mtime_ns < os.fstat(fd).st_mtime_ns:
            # making a file in a folder did not move the folder's mtime: a filesystem (some
            # FUSE ones) whose folder mtimes say nothing, so none can be trusted here
            raise OSError("folder mtimes are not kept on this filesystem")
        for _ in range(25):  # up to ~50 ms for the clock to tick past the folder's last change
            stamp_ns = os.fstat(fd).st_mtime_ns
            folder = _folder_stat(revisions)
            if stamp_ns > folder.st_mtime_ns:
                break
            time.sleep(0.002)
            os.utime(fd if os.utime in os.supports_fd else tmp)  # a new stamp: now
        else:  # a clock too coarse (1 s): no .newest, readers list
            raise OSError("the filesystem clock did not move on")
        head = []
        for name in paths.revision_names(revisions)[:_NEWEST_HEAD_MAX]:
            head.append(name)
            try:
                if revision_json.read_metadata(os.path.join(revisions, name)) is not None:
                    break
            except ValueError:
                continue
        os.write(
            fd,
            marshal.dumps(
                (_NEWEST_TAG, folder.st_ino, folder.st_mtime_ns, stamp_ns, tuple(head)),
                revision_json.MARSHAL_VERSION,
            ),
        )
    except BaseException:
        os.close(fd)
        _remove(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    return True


def _remove(path: str) -> None:
    import contextlib

    with contextlib.suppress(OSError):
        os.unlink(path)


def choose_revision(
    local_revisions: str,
    remote_revisions: "Optional[str]",
    warn: "Optional[Callable[[str], None]]" = None,
    remote_index_age: "Optional[float]" = None,
    fall_back: bool = False,
) -> "tuple[Optional[str], bool, Optional[dict[str, Any]]]":
    """The revision ``rezup use`` enters: (timestamp or None, whether it is the remote's, and
    the metadata of a local choice).

    With a remote root, the newest ready remote revision (to be entered as the local revision
    of the same name, pulled first if it is not usable here); else the newest usable local
    one. Raises RemoteRootError when the remote root cannot be read, OSError when the local
    one cannot. A remote root served over HTTP(S) (``remote_revisions`` a URL) is known by the
    index this machine fetched last, taken if it is younger than ``remote_index_age`` seconds
    (``remote_index.max_age()``); else it is a ``StaleIndex`` (the command line
    fetches the index, the lean path hands over to it).

    ``fall_back`` (the lean path): when the remote root cannot be read, the revision pulled
    from it before (``last_pulled_from``), with ``warn(why)``, as the command line does.
    """
    if remote_revisions is not None:
        try:
            wanted = _newest_remote(local_revisions, remote_revisions, remote_index_age)
        except StaleIndex:
            raise
        except Exception as exc:
            if not fall_back:
                raise
            from rezup.ground.errors import RemoteRootError

            if not isinstance(exc, RemoteRootError):
                raise
            try:
                found = last_pulled_from(local_revisions, remote_revisions)
            except LookupError:  # a revision of rezup 2.x: the command line's rule decides
                raise exc from None
            if found is None:
                raise
            if warn is not None:
                warn(f"{exc}; using {found[0]} pulled before")
            return found[0], True, found[1]
        if wanted is not None:
            return wanted, True, None
        remote_root = _root_of(remote_revisions)
        if (
            warn is not None
            and not root_settings.is_url(remote_root)
            and not os.path.isdir(remote_root)
        ):
            what = "is not a folder" if os.path.exists(remote_root) else "does not exist"
            warn(f"the remote root {remote_root} {what}; using local revisions only")
    name, metadata = _newest_local(local_revisions, warn)
    return name, False, metadata


def last_pulled_from(
    local_revisions: str,
    remote_revisions: str,
    published: "Optional[Callable[[str], bool]]" = None,
) -> "Optional[tuple[str, dict[str, Any]]]":
    """The newest usable local revision pulled from the remote ``remote_revisions`` (a folder
    or a URL), and its metadata: its ``pulled_from`` says so, or, for a revision pulled by
    rezup 2.x (which records nothing), ``published(name)`` (the remote has one of its name).
    None if there is none. Without ``published``, a revision of rezup 2.x on the way is a
    LookupError: whoever calls cannot tell (the lean path hands over)."""
    wanted = _revisions_key(remote_revisions)
    for name in newest_first(local_revisions):
        try:
            metadata = revision_json.read_metadata(os.path.join(local_revisions, name))
        except ValueError:
            continue
        if metadata is None:
            continue
        source = revision_json.pulled_from(metadata)
        if source and _revisions_key(_parent(source)) == wanted:
            return name, metadata
        if "session" not in metadata:  # made by rezup 2.x
            if published is None:
                raise LookupError(name)
            if published(name):
                return name, metadata
    return None


def _parent(location: str) -> str:
    """The folder (or URL) a revision folder (or URL) is in."""
    if root_settings.is_url(location):
        return location.rstrip("/").rpartition("/")[0]
    return os.path.dirname(os.path.normpath(location))


def _revisions_key(location: str) -> str:
    """A remote revisions folder or URL as compared: normalised (case too, where the
    filesystem ignores it), without credentials."""
    if root_settings.is_url(location):
        from rezup.ground.remote_index import without_credentials

        return without_credentials(location.rstrip("/"))
    return os.path.normcase(os.path.normpath(location))


def _newest_local(
    local_revisions: str, warn: "Optional[Callable[[str], None]]"
) -> "tuple[Optional[str], Optional[dict[str, Any]]]":
    """``newest_usable`` of the local root within ``remote_timeout``: a local root may be on
    a share too (a shared root), and a job must not hang with it. There is nothing to fall
    back to: past the deadline it is a ContainerError."""
    seconds = remote_timeout()
    try:
        return bounded(newest_usable, local_revisions, warn, seconds=seconds)
    except TimeoutError:
        from rezup.ground.errors import ContainerError

        root = os.path.dirname(os.path.dirname(local_revisions))
        raise ContainerError(
            f"the root {root} did not answer within {seconds:g}s "
            "(REZUP_REMOTE_TIMEOUT): is its file server down?"
        ) from None


# -- a remote root that does not answer ----------------------------------------------------------


class StaleIndex(Exception):
    """This machine has no copy of the index of a remote root served over HTTP(S) younger than
    the age asked for: it is to be fetched (by the command line) before a revision is chosen,
    unless another process fetches it now (``remote_index.await_fetch``)."""

    def __init__(self, local_container: str, url: str) -> None:
        super().__init__("no fresh copy of the index of the remote root")
        self.local_container = local_container  # where the copy is kept
        self.url = url  # the container's URL


DEFAULT_REMOTE_TIMEOUT = 5.0  # seconds a job waits for the remote root to answer
UNANSWERED_FILENAME = ".remote-unanswered"  # in a local container: when the remote hung


def remote_timeout() -> float:
    """``$REZUP_REMOTE_TIMEOUT``: how long a look at a root on the way to a job may take
    (seconds): the remote root, or a local root on a share."""
    if not os.environ.get("REZUP_REMOTE_TIMEOUT"):
        return DEFAULT_REMOTE_TIMEOUT
    from rezup.ground.settings import seconds_from_env

    return seconds_from_env("REZUP_REMOTE_TIMEOUT", DEFAULT_REMOTE_TIMEOUT)


def _root_of(revisions: str) -> str:
    """The root of a container's ``revisions`` folder (or URL)."""
    if root_settings.is_url(revisions):  # as shown in messages: without the credentials it may hold
        from rezup.ground.remote_index import without_credentials

        return without_credentials(revisions.rstrip("/").rsplit("/", 2)[0])
    return os.path.dirname(os.path.dirname(revisions))


def _newest_remote(
    local_revisions: str, remote_revisions: str, index_age: "Optional[float]" = None
) -> "Optional[str]":
    """``newest_ready`` of the remote, within ``remote_timeout``. A share that hangs (its
    server or the network gone under a hard mount) blocks the calls that touch it, so the
    look runs in a thread this process can leave behind (a blocked call on NFS or FUSE ends
    with the process); past the deadline, or within ``REZUP_PULL_RETRY`` of one recorded by
    an earlier job, it is a RemoteRootError (the caller falls back to a local revision).
    A root served over HTTP(S): the newest revision of its index as fetched lately."""
    root = _root_of(remote_revisions)
    local_container = os.path.dirname(local_revisions)
    seconds = remote_timeout()
    refuse_if_failed_lately(local_container, root)
    if root_settings.is_url(remote_revisions):
        from rezup.ground import remote_index

        container = remote_revisions.rstrip("/").rpartition("/")[0]
        revisions = remote_index.fresh_revisions(local_container, container, index_age)
        if revisions is None:
            raise StaleIndex(local_container, container)
        return revisions[0][0] if revisions else None
    try:
        return bounded(newest_ready, remote_revisions, seconds=seconds)
    except TimeoutError:
        record_remote_failure(local_container, root, "")
        from rezup.ground.errors import RemoteRootError

        raise RemoteRootError(
            f"the remote root {root} did not answer within {seconds:g}s (REZUP_REMOTE_TIMEOUT)"
        ) from None
    except OSError as exc:
        from rezup.ground.errors import RemoteRootError

        raise RemoteRootError(
            f"cannot read the remote root {root}: {exc.strerror or exc}"
        ) from None


def refuse_if_failed_lately(local_container: str, root: str) -> None:
    """A RemoteRootError if an earlier job recorded, less than ``REZUP_PULL_RETRY`` seconds
    ago, that the remote root ``root`` did not answer or answered nothing usable."""
    recorded = recent_remote_failure(local_container)
    if recorded is not None:
        from rezup.ground.errors import RemoteRootError

        since, reason = recorded
        reason = reason or f"did not answer within {remote_timeout():g}s"
        raise RemoteRootError(
            f"the remote root {root} {reason} ({since:.0f}s ago); not asked again yet "
            "(REZUP_PULL_RETRY)"
        )


def record_remote_failure(local_container: str, root: str, reason: str) -> None:
    """Record that the remote root ``root`` did not answer (``reason`` empty) or answered
    nothing usable (``reason`` says what), so that the jobs of the next ``REZUP_PULL_RETRY``
    seconds fall back at once instead of each waiting for it."""
    record = os.path.join(local_container, UNANSWERED_FILENAME)
    try:
        os.makedirs(local_container, exist_ok=True)
        with open(record, "w", encoding="utf-8") as stream:
            stream.write(f"{root}\n{reason}\n")
    except OSError:  # a local root that cannot be written: later jobs ask again
        pass


def forget_remote_failure(local_container: str) -> bool:
    """Remove the record of a remote failure; whether there was one."""
    try:
        os.unlink(os.path.join(local_container, UNANSWERED_FILENAME))
    except OSError:
        return False
    return True


def recent_remote_failure(local_container: str) -> "Optional[tuple[float, str]]":
    """(seconds since, what went wrong: "" for no answer) of the remote failure an earlier
    job recorded, if that is less than ``REZUP_PULL_RETRY`` (default 300) ago."""
    import time

    record = os.path.join(local_container, UNANSWERED_FILENAME)
    try:
        age = time.time() - os.stat(record).st_mtime
        with open(record, encoding="utf-8") as stream:
            reason = stream.read().partition("\n")[2].strip()
    except (OSError, ValueError):
        return None
    value = os.environ.get("REZUP_PULL_RETRY", "")
    try:
        retry = float(value) if value else 300.0
    except ValueError:
        retry = 300.0
    if 0 <= age < retry:
        return age, reason
    try:  # noqa: SIM105 - no contextlib on the lean path
        os.unlink(record)
    except OSError:
        pass
    return None


def bounded(call: "Callable[..., Any]", *args: "Any", seconds: float) -> "Any":
    """``call(*args)``, given at most ``seconds``: its result, its exception, or TimeoutError
    (the call goes on in a thread of its own that nobody waits for). ``_thread``: a built-in
    module, nothing to import on the lean path; the thread costs ~0.1 ms."""
    import _thread

    finished = _thread.allocate_lock()
    finished.acquire()
    outcome: list = []

    def run() -> None:
        try:
            outcome.append((True, call(*args)))
        except BaseException as exc:  # handed to the caller
            outcome.append((False, exc))
        finally:
            finished.release()

    _thread.start_new_thread(run, ())
    if not finished.acquire(True, seconds):
        raise TimeoutError(f"no answer within {seconds:g}s")
    ok, value = outcome[0]
    if ok:
        return value
    raise value
