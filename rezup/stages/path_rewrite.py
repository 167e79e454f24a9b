"""Rewriting a revision's path in the files of its venvs, for a clone (``clone``) and for a
relocation (``relocation``), and the error of both: ``CloneError``.
"""

from __future__ import annotations

import os
import re
import stat
import string
from pathlib import Path
from urllib.parse import quote

from rezup.ground.errors import BuildError


class CloneError(BuildError):
    """A revision cannot be cloned with certainty: build it normally instead."""


# What a path may hold for a byte search to find every mention of it: a character that JSON,
# a URL or a shell would escape could be written in some other form.
_PLAIN_PATH_CHARS = frozenset(string.ascii_letters + string.digits + "/._-+~@,=")
# A mention of the source path followed by one of these names another path that starts alike.
_NAME_CHAR = rb"[A-Za-z0-9_.+\-]"


class PathRewriter:
    """Finds and replaces the source revision's path (as given, resolved, URL-quoted)."""

    def __init__(self, source: Path, target: Path) -> None:
        pairs: dict[str, str] = {}
        for old, new in (
            (str(source), str(target)),
            (os.path.realpath(source), os.path.realpath(target)),
        ):
            for path in (old, new):
                if not set(path) <= _PLAIN_PATH_CHARS:
                    raise CloneError(
                        f"the path {path!r} has characters that files may hold in another form"
                    )
            if inside(new, old) or inside(old, new):
                raise CloneError(f"cannot clone {old} into {new}: one is inside the other")
            pairs[old] = new
            pairs[quote(old)] = quote(new)
        self.source = source
        self.needles = sorted((old.encode() for old in pairs), key=len, reverse=True)
        self.replacements = {old.encode(): new.encode() for old, new in pairs.items()}
        alternatives = b"|".join(re.escape(needle) for needle in self.needles)
        self.mention = re.compile(b"(?:" + alternatives + b")(?!" + _NAME_CHAR + b")")
        self.lookalike = re.compile(b"(?:" + alternatives + b")(?=" + _NAME_CHAR + b")")

    def names_source(self, data: bytes) -> bool:
        return any(needle in data for needle in self.needles)

    def rewrite(self, data: bytes, where: str) -> bytes:
        if self.lookalike.search(data):
            raise CloneError(f"{where} names a path that begins like {self.source}")
        return self.mention.sub(lambda match: self.replacements[match.group(0)], data)


def inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def write_file(path: str, data: bytes, info: os.stat_result, *, keep_times: bool) -> None:
    """A new file at ``path`` holding ``data``, with the mode (and times) of ``info``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "wb") as stream:
        stream.write(data)
    os.chmod(path, stat.S_IMODE(info.st_mode))
    if keep_times:
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
