"""In-use claims: who runs in a revision, and removing one only when nobody does.

Every session and every ``rezup use -- CMD`` job holds a *shared* ``flock`` on its revision's
claim file (``session.claim``), on a descriptor that the command inherits across ``exec`` and
passes to its children: the kernel drops the claim when the last of them exits, ``kill -9``
included, and no rezup process stays behind. A remover takes the same lock *exclusively*,
without waiting: if it gets it, nobody runs there and nobody can start while it holds it.

Where such locks do not exclude across machines (a network filesystem, where rezup also uses
soft build locks), a free claim proves nothing, so every revision there counts as in use
unless ``REZUP_LOCK=native`` says the filesystem's locks work across machines.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from rezup import layout


def trusted(revision_dir: Path) -> bool:
    """Whether a free claim in ``revision_dir`` proves that no process on any machine uses it."""
    if os.name == "nt":  # no flock; Windows refuses to delete files in use anyway
        return True
    from rezup.lockfile import NETWORK_FILESYSTEMS, filesystem_type, lock_choice

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

    path = layout.claim_file(str(revision_dir))
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
        return True
    with exclusive(revision_dir, create=False) as free:
        return not free


def holders(revision_dir: Path) -> list[int]:
    """PIDs of the processes that claimed the revision, where the kernel says (Linux)."""
    if not sys.platform.startswith("linux"):
        return []
    try:
        stat = os.stat(layout.claim_file(str(revision_dir)))
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
