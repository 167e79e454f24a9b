"""In-use claims: who runs in a revision, and removing one only when nobody does.

Every session and every ``rezup use -- CMD`` job holds a *shared* ``flock`` on its revision's
claim file (``session.claim``), on a descriptor that the command inherits across ``exec`` and
passes to its children: the kernel drops the claim when the last of them exits, ``kill -9``
included, and no rezup process stays behind. A remover takes the same lock *exclusively*,
without waiting: if it gets it, nobody runs there and nobody can start while it holds it.

Where such locks do not exclude across machines (a network filesystem, where rezup also uses
leases for builds), a free claim proves nothing beyond this host. Revisions built there have a
claims folder: each job also writes a record ``HOST#PID#START`` (``session.claim``). The host
that wrote a record can tell whether its process still runs (boot id, PID namespace, start
time); any other host counts it as in use until it is older than the longest job
(``REZUP_MAX_JOB_AGE``, default 7 days), then expires it. A remover first creates
``.removing`` in the folder, then reads the records; a job first writes its record, then looks
for ``.removing``: whichever comes second sees the other, so a job never runs in a revision
being removed. A revision on a network filesystem without a claims folder (built by an older
rezup) still counts as in use, unless ``REZUP_LOCK=native`` says the filesystem's locks work
across machines.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

from rezup.ground import hosts, locations, paths

DEFAULT_MAX_JOB_AGE = 7 * 86400.0  # seconds after which another host's job claim expires


def max_job_age() -> float:
    """``$REZUP_MAX_JOB_AGE``: the longest a job runs; another host's claim older than this
    is taken for one whose host died or rebooted."""
    from rezup.ground.settings import parse_duration

    value = os.environ.get("REZUP_MAX_JOB_AGE", "").strip()
    return parse_duration(value, "REZUP_MAX_JOB_AGE") if value else DEFAULT_MAX_JOB_AGE


def trusted(revision_dir: Path) -> bool:
    """Whether a free claim in ``revision_dir`` proves that no process on any machine uses it."""
    if os.name == "nt":  # no flock; Windows refuses to delete files in use anyway
        return True
    from rezup.ground.lock_policy import NETWORK_FILESYSTEMS, filesystem_type, lock_choice

    choice = lock_choice()
    if choice == "native":
        return True
    return choice != "soft" and filesystem_type(revision_dir) not in NETWORK_FILESYSTEMS


@contextlib.contextmanager
def exclusive(revision_dir: Path, create: bool = True) -> Iterator[bool]:
    """Hold the revision's claim exclusively if nobody holds it; yield whether it was taken.

    While it is held, no new session can claim the revision (theirs fails without waiting,
    and they then find it gone). ``create``: make the claim file if it is missing (a remover
    must, so that a session starting meanwhile locks the same file); without it a missing
    file means nobody claims the revision. A claim that cannot be checked is not taken.
    """
    if os.name == "nt":
        yield True
        return
    import fcntl

    path = paths.claim_file(revision_dir)
    try:  # flock works on a read-only descriptor, so read-only roots can be checked too
        fd = os.open(path, os.O_RDONLY | (os.O_CREAT if create else 0), 0o644)
    except FileNotFoundError:  # no claim file (or no revision folder): nobody claims it
        yield True
        return
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def is_claimed(revision_dir: Path) -> bool:
    """Whether a session or job runs in the revision now (or, where claims cannot be trusted,
    may run)."""
    if not trusted(revision_dir):
        records = live_records(revision_dir)
        if records is None or records:
            return True
    with exclusive(revision_dir, create=False) as free:
        return not free


def live_records(revision_dir: Path, *, expire: bool = False) -> Optional[list[str]]:
    """The job claims recorded in the revision's claims folder that may still run (file
    names, ``HOST#PID#START``); None without a claims folder. ``expire``: remove the records
    of ended jobs of this host and those older than ``max_job_age`` (a remover does)."""
    folder = locations.claims_dir(revision_dir)
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return None
    except OSError:
        return None
    oldest = time.time() - max_job_age()
    live = []
    for entry in entries:
        if entry.name == paths.REMOVING_FILENAME:
            continue
        if _record_live(entry, oldest):
            live.append(entry.name)
        elif expire:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
    return live


def _record_live(entry: os.DirEntry, oldest: float) -> bool:
    host, _, rest = entry.name.partition("#")
    pid_text, _, started = rest.partition("#")
    try:
        with open(entry.path, encoding="utf-8", errors="replace") as stream:
            boot, _, namespace = stream.read().partition("\n")
        written = entry.stat().st_mtime
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot be read: it may run
    if pid_text.isdigit() and hosts.is_this_host(host, boot.strip(), namespace.strip()):
        return hosts.process_alive(int(pid_text), started)
    return written >= oldest


@contextlib.contextmanager
def removing(revision_dir: Path) -> Iterator[Optional[list[str]]]:
    """For a remover on a shared root: mark the revision as being removed, then yield the
    job claims that may still run (empty: free to remove), or None without a claims folder
    (nobody can tell). Jobs that start meanwhile see the mark and go elsewhere; it is taken
    away again unless the revision was removed."""
    mark = locations.claims_dir(revision_dir) / paths.REMOVING_FILENAME
    try:
        fd = os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileNotFoundError:
        yield None
        return
    except OSError:  # another remover is at it, or it cannot be written: not free
        yield [paths.REMOVING_FILENAME]
        return
    os.close(fd)
    try:
        yield live_records(revision_dir, expire=True)
    finally:
        with contextlib.suppress(OSError):
            mark.unlink()


def holders(revision_dir: Path) -> list[int]:
    """PIDs of the processes that claimed the revision, where the kernel says (Linux)."""
    if not sys.platform.startswith("linux"):
        return []
    try:
        stat = os.stat(paths.claim_file(revision_dir))
        with open("/proc/locks", encoding="ascii", errors="replace") as stream:
            table = stream.read()
    except OSError:
        return []
    wanted = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    pids = set()
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  READ 1234 fd:01:5678 0 EOF" (waiters have "->" after the id)
        if "->" in fields or len(fields) < 6 or fields[1] != "FLOCK":
            continue
        if fields[5] == wanted and fields[4].isdigit() and fields[4] != "0":
            pids.add(int(fields[4]))
    return sorted(pids)
