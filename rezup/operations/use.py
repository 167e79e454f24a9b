"""Use: which revision ``rezup use NAME`` enters (pulling it first if need be), and entering it.

The choice itself is ``newest.choose_revision``, the same rule the lean start-up path applies;
this module adds what the lean path hands over: pulls, fallbacks and their warnings.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional

from rezup.ground import newest, paths, revision_json, root_settings
from rezup.ground.errors import ContainerError, RemoteRootError, RezupError
from rezup.operations.pull import last_pulled, pull, pull_failure, recent_pull_failure
from rezup.runtime import session
from rezup.stages.disk_state import ContainerDir, RevisionDir

if TYPE_CHECKING:
    from rezup.ground.formats import UseForecast
    from rezup.operations.pull import RemoteContainer

log = logging.getLogger("rezup")


def containers_of(
    name: str, *, local_only: bool = False
) -> tuple[ContainerDir, Optional[RemoteContainer]]:
    """The local container ``name`` and its remote twin (None without a remote root): a
    folder, or a container served over HTTP(S)."""
    local_root, remote_root = root_settings.container_roots(name)
    local = ContainerDir(local_root, name)
    if local_only or remote_root is None:
        return local, None
    return local, remote_container(remote_root, name, local)


def remote_container(remote_root: str, name: str, local: ContainerDir) -> RemoteContainer:
    """Container ``name`` of ``remote_root``, a folder or a URL."""
    if root_settings.is_url(remote_root):
        from rezup.stages.http_remote import UrlContainer

        return UrlContainer(remote_root, name, local)
    return ContainerDir(remote_root, name, remote=True)


def choose(
    local: ContainerDir,
    remote: Optional[RemoteContainer],
    warn: Optional[Callable[[str], Any]],
    *,
    keep: bool = True,
) -> tuple[Optional[str], bool]:
    """``newest.choose_revision`` for the command line: (the revision ``use`` enters, whether
    it is the remote's). A root served over HTTP(S) is asked for its index when this machine
    has no fresh copy (``keep``: the copy is kept, see ``UrlContainer.index``). Raises
    RemoteRootError."""
    from rezup.stages.http_remote import UrlContainer

    if isinstance(remote, UrlContainer):
        listed = remote.index(keep=keep)
        if listed:
            return listed[0][0], True
        remote = None  # nothing published yet: the local revisions, as with a folder root
    stamp, from_remote, _ = newest.choose_revision(
        str(local.revisions()), str(remote.revisions()) if remote else None, warn
    )
    return stamp, from_remote


def revision_for_use(
    name: str, *, local_only: bool = False, revision: Optional[str] = None
) -> tuple[Optional[RevisionDir], bool]:
    """The revision ``rezup use NAME`` enters, and whether it came from the remote.

    A remote revision is pulled if it is not ready here. If that fails, or the remote root
    cannot be read, the newest revision pulled from that remote before is used, with a
    warning; with none, it is an error. ``revision`` (a timestamp) asks for that one: the
    local one if ready, else the remote one, pulled.
    """
    local, remote = containers_of(name, local_only=local_only)
    if revision is not None:
        return _given_revision(local, remote, revision)
    try:
        stamp, from_remote = _choose_or_ask_again(local, remote)
    except RemoteRootError as exc:
        assert remote is not None
        return _fall_back(local, remote, str(exc)), True
    if stamp is None:
        return None, False
    if not from_remote:
        return local.revision(stamp), False
    assert remote is not None
    try:
        failure = recent_pull_failure(local.revision(stamp))
        if failure is not None:  # known to fail: no lock, no waiting, no retry
            raise ContainerError(failure)
        return pull(remote.revision(stamp), local), True
    except RezupError as exc:
        return _fall_back(local, remote, f"cannot pull revision {stamp} of {name}: {exc}"), True


def _choose_or_ask_again(
    local: ContainerDir, remote: Optional[RemoteContainer]
) -> tuple[Optional[str], bool]:
    """``choose``; but where a remote failure an earlier job recorded stops it and nothing
    was pulled from that remote before (nothing to fall back to: the job would fail), the
    remote root is asked again at once rather than in ``REZUP_PULL_RETRY`` seconds."""
    try:
        return choose(local, remote, log.warning)
    except RemoteRootError:
        if (
            remote is None
            or last_pulled(local, remote) is not None
            or not newest.forget_remote_failure(str(local.path()))
        ):
            raise
        return choose(local, remote, log.warning)


def forecast(name: str) -> UseForecast:
    """What ``rezup use NAME`` would enter on this machine now, without pulling anything:
    ``revision`` (a local one), ``pull`` (a remote revision it would pull first), ``failure``
    (why that pull failed lately, when ``revision`` is the fallback), ``warning``."""
    local, remote = containers_of(name)
    warnings: list[str] = []
    try:
        stamp, from_remote = choose(local, remote, warnings.append, keep=False)
    except RemoteRootError as exc:
        fallback = last_pulled(local, remote) if remote else None
        return {
            "revision": fallback.dirname() if fallback else None,
            "pull": None,
            "failure": None,
            "warning": str(exc),
        }
    result: UseForecast = {
        "revision": stamp,
        "pull": None,
        "failure": None,
        "warning": "; ".join(warnings) or None,
    }
    if (
        from_remote
        and remote is not None
        and stamp is not None
        and not local.revision(stamp).is_usable()
    ):
        failure = pull_failure(local.revision(stamp))
        fallback = last_pulled(local, remote)
        result["revision"] = fallback.dirname() if fallback else None
        if failure is None:
            result["pull"] = stamp
        else:
            result["failure"] = {"revision": stamp, **failure}
    return result


def _given_revision(
    local: ContainerDir, remote: Optional[RemoteContainer], stamp: str
) -> tuple[RevisionDir, bool]:
    wanted = float(stamp) if paths.is_timestamp(stamp) else None
    if wanted is not None:
        found = local.get_revision_by_time(wanted)
        if found is not None:
            try:
                return found, bool(revision_json.pulled_from(found.metadata()))
            except ContainerError:
                pass  # broken metadata: pull it again if the remote has it
        if remote is not None:
            try:
                published = remote.get_revision_by_time(wanted)
            except OSError as exc:
                raise ContainerError(
                    f"cannot read the remote root {remote.root()}: {exc}"
                ) from None
            except RemoteRootError as exc:
                raise ContainerError(str(exc)) from None
            if published is not None:
                return pull(published, local), True
    where = " or ".join(str(c.root()) for c in (local, remote) if c is not None)
    raise ContainerError(f"no revision {stamp} of container {local.name()!r} is ready in {where}")


def _fall_back(local: ContainerDir, remote: RemoteContainer, why: str) -> RevisionDir:
    fallback = last_pulled(local, remote)
    if fallback is None:
        raise ContainerError(why)
    log.warning("%s; using %s pulled before", why, fallback.dirname())
    return fallback


def enter(
    revision: RevisionDir,
    using_remote: bool,
    *,
    command: Sequence[str] = (),
    script: Optional[str] = None,
    wait: bool = True,
) -> int:
    """Run ``command``, or ``script`` through the shell, or a shell, in ``revision``."""
    return session.run(
        str(revision.path()),
        revision.session_metadata(),
        revision.container().name(),
        using_remote,
        command=command,
        script=script,
        wait=wait,
    )
