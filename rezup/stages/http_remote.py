"""A remote root served over HTTP(S): its containers and revisions, read through the index that
``rezup add --remote`` publishes (``rezup.ground.remote_index``).

A revision served this way is only text (its recipe, its plan, ``revision.json``) and, when
published with ``--wheels``, a wheelhouse with a page of links to its wheels. rezup fetches the
text itself, reaching the server as uv would (credentials in the URL, netrc, uv's credentials
store, keyring; proxies; ``SSL_CERT_FILE``): ``rezup.tools.credentials.Downloader``. Wheels are
uv's to fetch (``--find-links`` to that page), never rezup's.

``UrlContainer`` and ``UrlRevision`` answer what pulls, ``use``, ``status`` and ``inspect`` ask of
a remote ``ContainerDir`` and ``RevisionDir``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from rezup.ground import newest, paths, remote_index, root_settings
from rezup.ground.errors import BuildError, ContainerError, RemoteRootError, one_line

if TYPE_CHECKING:
    from rezup.stages.disk_state import ContainerDir
    from rezup.stages.plan import Plan

log = logging.getLogger("rezup")

INDEX_MAX_BYTES = 4 << 20  # an index of 10,000 revisions is ~0.5 MB: more is not an index
_Entry = tuple[str, bool, bool]  # (name, has_plan, has_wheels), as in remote_index

# what a read-only command read of each container's index (or why it could not), so one that
# looks more than once (status: does it exist, its revisions, what `use` would enter) asks once
_read_lately: dict[str, Any] = {}


class UrlContainer:
    """A container of a remote root served over HTTP(S), seen from this machine, whose local
    twin is ``local`` (where the index fetched last is kept)."""

    def __init__(self, root: str, name: str, local: ContainerDir) -> None:
        self._name = paths.check_container_name(name)
        self._root = root.rstrip("/")
        self._shown = remote_index.without_credentials(self._root)  # in messages and records
        self._url = remote_index.container_url(self._root, self._name)
        self._local = local
        self._entries: Optional[list[_Entry]] = None

    def __repr__(self) -> str:
        return f"UrlContainer(name={self._name!r}, url={self.path()!r})"

    def name(self) -> str:
        return self._name

    def root(self) -> str:
        """The root's URL, as shown: without the credentials it may hold."""
        return self._shown

    def path(self) -> str:
        return remote_index.without_credentials(self._url)

    def revisions(self) -> str:
        return root_settings.remote_revisions(self._shown, self._name)

    def revisions_url(self) -> str:
        """The URL its revisions are fetched from (with the root's credentials, if any)."""
        return root_settings.remote_revisions(self._root, self._name)

    def index_url(self) -> str:
        return remote_index.index_url(self._url)

    def is_remote(self) -> bool:
        return True

    def is_exists(self) -> bool:
        """Whether the server has an index of this container."""
        try:
            self.index(keep=False)
        except RemoteRootError:
            return False
        return True

    def index(self, *, keep: bool = True) -> list[_Entry]:
        """The revisions the server's index lists, newest first: this machine's copy while
        it is younger than ``REZUP_REMOTE_INDEX_MAX_AGE``, else fetched again.

        ``keep``: the copy fetched is kept for the jobs that follow, a failure is recorded for
        them (``REZUP_PULL_RETRY``), and one process of a burst fetches while the others wait
        for it. Without it (read-only commands) nothing is written. Raises RemoteRootError.
        """
        if self._entries is not None:
            return self._entries
        local = str(self._local.path())
        fresh = remote_index.fresh_revisions(local, self._url)
        if fresh is not None:
            # a lock the lean path took to fetch, found needless: fetched meanwhile
            remote_index.release_fetch_lock(str(self._local.lock_file(remote_index.FETCH_LOCK)))
            self._entries = list(fresh)
        elif not keep:
            self._entries = self._read_index_once()
        else:
            with _one_fetch_at_a_time(self._local):
                fresh = remote_index.fresh_revisions(local, self._url)  # a waited-for fetch
                self._entries = list(fresh) if fresh is not None else self._fetch_and_keep()
        return self._entries

    def _fetch_and_keep(self) -> list[_Entry]:
        local = str(self._local.path())
        newest.refuse_if_failed_lately(local, self._shown)
        try:
            entries = self._fetch_index()
        except _IndexUnusable as exc:
            newest.record_remote_failure(local, self._shown, exc.reason)
            raise
        try:
            remote_index.write_cache(local, self._url, entries)
        except OSError as exc:  # a local root that cannot be written: later jobs ask again
            log.debug("cannot keep the index of %s: %s", self._shown, exc)
        return entries

    def _fetch_index(self) -> list[_Entry]:
        """The index as the server has it now: none (404) is an empty one, as a remote folder
        without this container has no revisions (nothing published yet, or published by a
        rezup that wrote no index). Raises _IndexUnusable."""
        try:
            data = fetch(
                self.index_url(),
                seconds=newest.remote_timeout(),
                setting="REZUP_REMOTE_TIMEOUT",
                limit=INDEX_MAX_BYTES,
            )
            entries = remote_index.parse_index(data, self._name)
        except _Unusable as exc:
            if exc.status != 404:
                raise _IndexUnusable(self._shown, exc.reason) from None
            entries = []
        except ValueError as exc:
            raise _IndexUnusable(self._shown, f"answered nonsense: {exc}") from None
        return entries

    def _read_index_once(self) -> list[_Entry]:
        """``_fetch_index`` for read-only commands: asked once a process (``status`` looks
        whether it exists, at its revisions and at what ``use`` would enter)."""
        found = _read_lately.get(self._url)
        if found is None:
            try:
                found = self._fetch_index()
            except _IndexUnusable as exc:
                found = exc
            _read_lately[self._url] = found
        if isinstance(found, _IndexUnusable):
            raise found
        return found

    def revision(self, dirname: str) -> UrlRevision:
        for name, has_plan, _ in self._entries or ():
            if name == dirname:
                return UrlRevision(self, name, has_plan=has_plan, listed=True)
        return UrlRevision(self, dirname)

    def iter_revision(
        self, validate: bool = True, latest_first: bool = True
    ) -> Iterator[UrlRevision]:
        """The revisions of the index (all ready: the index lists no other)."""
        entries = self.index(keep=False)
        for name, has_plan, _ in entries if latest_first else reversed(entries):
            yield UrlRevision(self, name, has_plan=has_plan, listed=True)

    def get_latest_revision(self, only_ready: bool = True) -> Optional[UrlRevision]:
        return next(self.iter_revision(), None)

    def get_revision_by_time(
        self, timestamp: Any, fallback: bool = False, only_ready: bool = True
    ) -> Optional[UrlRevision]:
        wanted = timestamp.timestamp() if isinstance(timestamp, datetime) else float(timestamp)
        for revision in self.iter_revision():
            if revision.seconds() == wanted or (fallback and revision.seconds() <= wanted):
                return revision
        return None


class UrlRevision:
    """A revision of a remote root served over HTTP(S)."""

    def __init__(
        self, container: UrlContainer, dirname: str, *, has_plan: bool = True, listed: bool = False
    ) -> None:
        self._container = container
        self._dirname = dirname
        self._has_plan = has_plan
        self._listed = listed
        self._url = f"{container.revisions_url()}/{dirname}"  # what is fetched
        self._metadata: Optional[dict[str, Any]] = None

    def __repr__(self) -> str:
        return f"UrlRevision(container={self._container.name()!r}, dirname={self._dirname!r})"

    def container(self) -> UrlContainer:
        return self._container

    def dirname(self) -> str:
        return self._dirname

    def path(self) -> str:
        return remote_index.without_credentials(self._url)

    def location(self) -> str:
        """What a revision pulled from it records as ``pulled_from`` (no credentials)."""
        return remote_index.without_credentials(self._url)

    def seconds(self) -> float:
        return float(self._dirname)

    def timestamp(self) -> datetime:
        return paths.revision_time(self._dirname)

    def is_remote(self) -> bool:
        return True

    def is_ready(self) -> bool:
        """Listed in the index: the index lists ready revisions only."""
        return self._listed

    def is_usable(self) -> bool:
        return self._listed

    def has_plan(self) -> bool:
        """Whether it holds a plan (rezup 2.x published recipes only)."""
        return self._has_plan

    def state(self) -> Optional[str]:
        return "ready" if self._listed else None

    def text(self, filename: str) -> str:
        """The text of one of its files. Raises ContainerError."""
        from rezup.tools.credentials import http_timeout

        url = f"{self._url}/{filename}"
        try:
            data = fetch(url, seconds=http_timeout(os.environ), setting="UV_HTTP_TIMEOUT")
            return data.decode("utf-8")
        except _Unusable as exc:
            raise ContainerError(f"cannot fetch {_shown(url)}: the server {exc.reason}") from None
        except UnicodeDecodeError:
            raise ContainerError(f"cannot fetch {_shown(url)}: not UTF-8 text") from None

    def recipe_text(self) -> str:
        return self.text(paths.RECIPE_FILENAME)

    def plan(self) -> Plan:
        from rezup.stages.plan import Plan

        return Plan.from_text(self.text(paths.PLAN_FILENAME), label=f"{self.path()}/plan.lock")

    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            try:
                metadata = json.loads(self.text(paths.METADATA_FILENAME))
            except ValueError:
                raise ContainerError(
                    f"revision {self.path()} has a {paths.METADATA_FILENAME} that is not JSON"
                ) from None
            if not isinstance(metadata, dict):
                raise ContainerError(
                    f"revision {self.path()} has a {paths.METADATA_FILENAME} that is not an object"
                )
            self._metadata = metadata
        return self._metadata

    def wheelhouse(self, plan: Plan) -> Optional[str]:
        """The page of links to its wheels a pull installs from with no index, if it has a
        wheelhouse."""
        if not plan.wheels:
            return None
        return f"{self._url}/{paths.WHEELS_DIRNAME}/{remote_index.FIND_LINKS_FILENAME}"


class _IndexUnusable(RemoteRootError):
    """The index of a root served over HTTP(S) cannot be had: ``reason`` says why."""

    def __init__(self, root: str, reason: str) -> None:
        super().__init__(f"the remote root {root} {reason}")
        self.reason = reason


class _Unusable(Exception):
    """The server did not answer, or answered nothing usable: ``reason`` says which, as a
    predicate of "the remote root ..."; ``status`` is the HTTP status it answered, if any."""

    def __init__(self, reason: str, status: Optional[int] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def fetch(url: str, *, seconds: float, setting: str, limit: Optional[int] = None) -> bytes:
    """The body of ``url`` (at most ``limit`` bytes), within ``seconds`` in all (the value of
    the setting named ``setting``). Raises _Unusable saying what went wrong (never the
    password of the URL)."""
    import http.client

    from rezup.tools.credentials import redact

    def get() -> bytes:
        with _downloader(url, seconds).open(url) as response:
            data = response.read(-1 if limit is None else limit + 1)
        if limit is not None and len(data) > limit:
            raise _Unusable(f"answered nonsense: more than {limit} bytes for {_shown(url)}")
        return data

    try:
        return newest.bounded(get, seconds=seconds)
    except TimeoutError:
        raise _Unusable(f"did not answer within {seconds:g}s ({setting})") from None
    except _Unusable:
        raise
    except BuildError as exc:  # asked for credentials that were not found or refused
        raise _Unusable(f"refused the request: {one_line(exc)}") from None
    except (http.client.HTTPException, ValueError) as exc:  # not HTTP at all (TLS port...)
        raise _Unusable(f"answered nonsense: {type(exc).__name__} for {_shown(url)}") from None
    except OSError as exc:
        text = str(exc)
        if text.startswith("HTTP "):  # the downloader's refusal: "HTTP 404 Not Found"
            status = text.split()[1]
            raise _Unusable(
                f"answered {text} for {_shown(url)}", int(status) if status.isdigit() else None
            ) from None
        reason = getattr(exc, "reason", None) or exc.strerror or exc
        raise _Unusable(f"cannot be reached: {redact(str(reason))}") from None


def _shown(url: str) -> str:
    return remote_index.without_credentials(url)


def _downloader(url: str, seconds: float):
    from rezup.tools.credentials import CredentialFinder, Downloader

    env = dict(os.environ)
    keyring = env.get("UV_KEYRING_PROVIDER") == "subprocess"
    return Downloader(CredentialFinder([url], env, keyring=keyring), env, timeout=seconds)


@contextlib.contextmanager
def _one_fetch_at_a_time(local: ContainerDir) -> Iterator[None]:
    """While held, the other processes of this machine that want the index wait, then take
    the copy this one fetched. A lock that cannot be had (a folder that cannot be written,
    a filesystem without locks) is gone without: each process then asks the server."""
    from filelock import FileLock, Timeout

    path = str(local.lock_file(remote_index.FETCH_LOCK))
    handed_over = remote_index.adopt_fetch_lock(path)  # taken on the lean path, held since
    if handed_over is not None:
        try:
            yield
        finally:
            os.close(handed_over)
        return
    try:
        local.locks().mkdir(parents=True, exist_ok=True)
        lock = FileLock(path, timeout=newest.remote_timeout())
        lock.acquire()
    except (OSError, Timeout):
        yield
        return
    try:
        yield
    finally:
        lock.release()
