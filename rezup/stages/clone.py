"""Clone: make a revision whose plan is identical to a ready one's from that one's venvs.

Two builds of one plan on one machine install the same files: uv hard-links them from its cache
and compiles the same bytecode. So when the plan digest of a new revision equals that of a
ready revision of the same container (same interpreters, same filesystem), its venvs can be
made from that *donor*: every file hard-linked, except the few that name the donor's absolute
path (script headers, activation scripts, the production scripts), which are written anew with
the path replaced. Compiled bytecode is linked as it is: Python re-points a code object's file
name to the source it loads it for (``importlib`` calls ``_imp._fix_co_filename``), so
``__file__`` and tracebacks name the new revision.

A clone holds what a build at the new path would hold, or nothing: whatever this module
cannot vouch for raises ``CloneError`` (a BuildError, in ``path_rewrite``), and the caller
builds normally instead.

What the caller does, under the new revision's build lock::

    donor = clone_donors.identical_revision(container.revisions(), plan.digest, plan=plan,
                                            target=new)
    if donor is not None:
        with clone_donors.claimed(donor):     # prune and drop leave the donor alone meanwhile
            # create the folder `new`, write rezup.toml and plan.lock
            clone_venvs(donor, new, [venv.name for venv in plan.venvs])
        # touch the claim file, flush the filesystem, write revision.json last (rez_version
        # and python as in the donor's, session from the plan)

On ``CloneError`` the venvs ``clone_venvs`` made are gone again; the caller removes the rest
of the new folder (or builds into it) and builds normally.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from rezup.ground import locations, paths
from rezup.ground.errors import one_line
from rezup.stages.path_rewrite import CloneError, PathRewriter, inside, write_file
from rezup.tools.production import pyvenv_version

log = logging.getLogger("rezup")


# -- cloning -------------------------------------------------------------------------------------

# The longest "#!" line production.posix_shebang writes as one (longer ones go through /bin/sh).
_SHEBANG_LIMIT = 127
# link(2) failures after which a copy is as good as a link: too many links to the inode
# (EMLINK), protected_hardlinks refusing a file of another user (EPERM), no hard links here.
_COPY_INSTEAD = frozenset({errno.EMLINK, errno.EPERM, errno.EOPNOTSUPP})


@dataclass
class _Stats:
    linked: int = 0
    copied: int = 0
    rewritten: list[str] = field(default_factory=list)
    dropped_bytecode: int = 0


def clone_venvs(source_revision: Path, target_revision: Path, venv_names: Sequence[str]) -> None:
    """Make the venvs ``venv_names`` of the revision folder ``target_revision`` from those of
    ``source_revision``.

    Folders are made anew, symbolic links too (one that points into the source revision
    points into the target), and regular files are hard-linked, except:

    - files that name the source revision's path (script headers, activation scripts, a
      ``.pth`` or ``RECORD`` that mentions it), written anew with the path replaced; a
      rewritten ``.py`` file's compiled bytecode is left out (Python compiles it again);
    - the production folder ``bin/rez/`` (scripts and marker), written anew whole, and empty
      files (uv's venv ``.lock``: a shared inode would be a shared lock), created anew;
    - a file that cannot be linked because of too many links, the kernel's protection of
      another user's files or a filesystem without hard links: copied (same bytes, mode
      and times, so compiled bytecode stays valid).

    Every file is read and searched for the path but compiled bytecode of a source that is
    beside it (``__pycache__``), whose file name Python re-points on load. Raises CloneError
    on any doubt (a binary file or a ``#!`` line that would outgrow the kernel's limit naming
    the path, a file that vanished or changed meanwhile: hold
    ``clone_donors.claimed(source)``, another filesystem, ...), after removing the venvs it
    made. Ends with one check per venv, in parallel: its Python runs with the new venv as
    ``sys.prefix`` and imports rez (in the rez venv, which must have it) from inside it.
    """
    if os.name == "nt":
        raise CloneError("revisions are not cloned on Windows")
    source = Path(os.path.abspath(source_revision))
    target = Path(os.path.abspath(target_revision))
    rewriter = PathRewriter(source, target)
    venvs_folder = target / paths.VENV_DIRNAME
    made_folder = not venvs_folder.exists()
    made: list[Path] = []
    stats = _Stats()
    try:
        venvs_folder.mkdir(exist_ok=True)
        for name in venv_names:
            src = locations.venv_dir(source, name)
            dst = locations.venv_dir(target, name)
            if not src.is_dir():
                raise CloneError(f"the revision {source} has no venv {name!r}")
            if os.path.lexists(dst):
                raise CloneError(f"{dst} exists already")
            made.append(dst)
            _Cloner(src, dst, rewriter, stats).run()
        _check_venvs(target, venv_names)
    except BaseException as exc:
        _undo(made, venvs_folder if made_folder else None)
        if isinstance(exc, CloneError) or not isinstance(exc, Exception):
            raise
        raise CloneError(f"cloning revision {source.name}: {one_line(exc)}") from exc
    log.debug(
        "cloned venvs %s of revision %s: %d files linked, %d copied, %d rewritten (%s), "
        "%d compiled files left out",
        ", ".join(venv_names),
        source.name,
        stats.linked,
        stats.copied,
        len(stats.rewritten),
        ", ".join(stats.rewritten),
        stats.dropped_bytecode,
    )


def _undo(made: list[Path], venvs_folder: Optional[Path]) -> None:
    from rezup.ground.filesystem import remove_tree

    for path in made:
        with contextlib.suppress(OSError):
            remove_tree(path)
    if venvs_folder is not None:
        with contextlib.suppress(OSError):
            venvs_folder.rmdir()


class _Cloner:
    """Clones one venv folder ``src`` to ``dst``."""

    def __init__(self, src: Path, dst: Path, rewriter: PathRewriter, stats: _Stats) -> None:
        self.src = str(src)
        self.dst = str(dst)
        self.rewriter = rewriter
        self.stats = stats
        self.source_revision = str(rewriter.source)
        self.production = os.path.join(self.src, paths.BIN_DIRNAME, paths.PRODUCTION_DIRNAME)
        self.modes: list[tuple[str, int]] = []  # folders whose mode is set last

    def run(self) -> None:
        self.folder(self.src, self.dst, os.lstat(self.src), sources=None)
        for path, mode in reversed(self.modes):  # a read-only folder only once it is filled
            os.chmod(path, mode)

    def folder(
        self, src: str, dst: str, info: os.stat_result, sources: Optional[tuple[set[str], set[str]]]
    ) -> None:
        """``sources``: for a ``__pycache__`` folder, the module names beside it that have a
        source file, and those whose source was rewritten."""
        os.mkdir(dst, 0o700)
        self.modes.append((dst, stat.S_IMODE(info.st_mode)))
        with os.scandir(src) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
        names = {entry.name for entry in entries}
        modules = {name[:-3] for name in names if name.endswith(".py")}
        rewritten: set[str] = set()
        folders = []
        fresh = src == self.production
        for entry in entries:
            target = os.path.join(dst, entry.name)
            if entry.is_symlink():
                self.symlink(entry.path, target)
            elif entry.is_dir(follow_symlinks=False):
                folders.append(entry)
            elif entry.is_file(follow_symlinks=False):
                if sources is not None and not entry.name.endswith(".pyc"):
                    continue  # the temporary file of a pyc being written (Python, rezup)
                bytecode_of = _bytecode_module(entry.name) if sources is not None else None
                if bytecode_of is not None and sources is not None and bytecode_of in sources[0]:
                    if bytecode_of in sources[1]:
                        self.stats.dropped_bytecode += 1  # stale: compiled from the old text
                    else:
                        self.link(entry.path, target, None)
                    continue
                if self.file(entry.path, target, fresh) and entry.name.endswith(".py"):
                    rewritten.add(entry.name[:-3])
            else:
                raise CloneError(f"{entry.path} is not a file, a folder or a symbolic link")
        for entry in folders:
            inner = (modules, rewritten) if entry.name == "__pycache__" else None
            self.folder(
                entry.path, os.path.join(dst, entry.name), entry.stat(follow_symlinks=False), inner
            )

    def symlink(self, src: str, dst: str) -> None:
        link = os.readlink(src)
        if os.path.isabs(link):
            new = self.rewriter.rewrite(os.fsencode(link), src)
            link = os.fsdecode(new)
        elif not inside(
            os.path.normpath(os.path.join(os.path.dirname(src), link)), self.source_revision
        ):
            raise CloneError(f"{src} points outside its revision by a relative path")
        os.symlink(link, dst)

    def file(self, src: str, dst: str, fresh: bool) -> bool:
        """Clone one regular file; return whether it was rewritten."""
        with open(src, "rb") as stream:
            info = os.fstat(stream.fileno())
            data = stream.read()
        if self.rewriter.names_source(data):
            if b"\0" in data:
                raise CloneError(f"{src} is a binary file that names the revision's path")
            new = self.rewriter.rewrite(data, src)
            if _shebang_length(new) > _SHEBANG_LIMIT >= _shebang_length(data):
                raise CloneError(f"{src}: the new path makes its #! line too long")
            write_file(dst, new, info, keep_times=False)
            self.stats.rewritten.append(os.path.relpath(dst, os.path.dirname(self.dst)))
            return True
        if fresh or not data:
            write_file(dst, data, info, keep_times=True)
            self.stats.copied += 1
            return False
        self.link(src, dst, info, data)
        return False

    def link(
        self, src: str, dst: str, info: Optional[os.stat_result], data: Optional[bytes] = None
    ) -> None:
        """Hard-link ``src`` (read as ``info`` and ``data``, if it was read) to ``dst``."""
        try:
            os.link(src, dst, follow_symlinks=False)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise CloneError(f"{src} vanished while it was cloned") from None
            if exc.errno == errno.EXDEV:
                raise CloneError(f"{src} is on another filesystem") from None
            if exc.errno not in _COPY_INSTEAD:
                raise
            if data is None or info is None:
                with open(src, "rb") as stream:
                    info = os.fstat(stream.fileno())
                    data = stream.read()
            write_file(dst, data, info, keep_times=True)
            self.stats.copied += 1
            return
        if info is not None and os.lstat(dst).st_ino != info.st_ino:
            raise CloneError(f"{src} changed while it was cloned")
        self.stats.linked += 1


def _bytecode_module(name: str) -> Optional[str]:
    """``mod`` for a compiled file ``mod.cpython-311[.opt-1].pyc``, else None."""
    return name.partition(".")[0] if name.endswith(".pyc") else None


def _shebang_length(data: bytes) -> int:
    if not data.startswith(b"#!"):
        return 0
    return len(data.split(b"\n", 1)[0].rstrip(b"\r"))


# -- the check -----------------------------------------------------------------------------------

# Run by each cloned venv's Python (-I: no environment, no user site, no current folder).
_PROBE = """\
import sys
print(sys.prefix)
print("%d.%d" % sys.version_info[:2])
try:
    import rez
except ImportError:
    print("")
else:
    print(rez.__file__)
"""


def _check_venvs(revision: Path, venv_names: Sequence[str]) -> None:
    """Each venv's Python says its prefix is the new venv and (where rez is) imports rez from
    inside it; the rez venv must have rez and its production marker. One process per venv."""
    running = []
    for name in venv_names:
        venv = paths.venv_dir(revision, name)
        python = paths.venv_python(venv)
        running.append(
            (
                name,
                venv,
                subprocess.Popen(
                    [python, "-I", "-B", "-c", _PROBE],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    stdin=subprocess.DEVNULL,
                    cwd=str(revision),
                    text=True,
                ),
            )
        )
    problems = []
    for name, venv, process in running:
        try:
            out, err = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            problems.append(f"venv {name!r}: its Python did not answer")
            continue
        problem = _probe_problem(name, venv, process.returncode, out, err)
        if problem:
            problems.append(problem)
    if problems:
        raise CloneError("the clone does not work: " + "; ".join(problems))


def _probe_problem(name: str, venv: str, code: int, out: str, err: str) -> Optional[str]:
    lines = out.splitlines()
    if code != 0 or len(lines) != 3:
        last = err.strip().splitlines()[-1:] or [f"exit code {code}"]
        return f"venv {name!r}: its Python failed ({last[0]})"
    prefix, version, rez_file = lines
    real_venv = os.path.realpath(venv)
    if os.path.realpath(prefix) != real_venv:
        return f"venv {name!r}: its Python runs with prefix {prefix}"
    built_for = pyvenv_version(Path(venv)) or ""
    if built_for.split(".")[:2] != version.split("."):
        return f"venv {name!r}: made for Python {built_for}, its Python is {version}"
    if rez_file and not inside(os.path.realpath(rez_file), os.path.join(real_venv, "lib")):
        return f"venv {name!r}: rez imports from {rez_file}"
    if name == paths.REZ_VENV:
        if not rez_file:
            return "venv 'rez': rez does not import"
        marker = os.path.join(paths.production_bin_dir(venv), paths.PRODUCTION_MARKER)
        if not os.path.isfile(marker):
            return "venv 'rez': the production marker is missing"
    return None
