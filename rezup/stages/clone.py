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
cannot vouch for raises ``CloneError`` (a BuildError), and the caller builds normally instead.

What the caller does, under the new revision's build lock::

    donor = identical_revision(container.revisions(), plan.digest, plan=plan, target=new)
    if donor is not None:
        with claimed(donor):                  # prune and drop leave the donor alone meanwhile
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
import hashlib
import logging
import os
import re
import stat
import string
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional
from urllib.parse import quote

from rezup.ground import paths, revision_json
from rezup.ground.errors import BuildError, RevisionGoneError, one_line
from rezup.tools.production import pyvenv_version

if TYPE_CHECKING:
    from rezup.stages.plan import Plan

log = logging.getLogger("rezup")


class CloneError(BuildError):
    """A revision cannot be cloned with certainty: build it normally instead."""


# -- choosing the donor --------------------------------------------------------------------------


def identical_revision(
    revisions_dir: Path,
    plan_digest: str,
    *,
    plan: Optional[Plan] = None,
    target: Optional[Path] = None,
    allow_editables: bool = False,
    limit: int = 32,
) -> Optional[Path]:
    """The newest ready revision in ``revisions_dir`` that a revision of plan ``plan_digest``
    can be cloned from (see ``clone_venvs``), or None.

    It must be ready (``revision.json`` readable; never one being built, retired or in a
    container being dropped), name ``plan_digest`` in ``revision.json`` and hold that very
    ``plan.lock``, and each of its venvs must run on the interpreter the plan names (it exists,
    and has the plan's minor version) and be on the filesystem of ``target`` (the new
    revision's folder, which need not exist yet; default: ``revisions_dir``). ``plan`` is the
    new plan (read from the donor's ``plan.lock`` when not given).

    A plan with editable installs, or with a local package that has no hash, is never cloned
    unless ``allow_editables``: their files may have changed since the donor was built
    (entry points, metadata), which a new build would pick up and a clone would not.

    Only the ``limit`` newest ready revisions are looked at, so that a container of thousands
    of revisions costs no more than a few reads of ``revision.json``.
    """
    if os.name == "nt":  # the production scripts are .exe launchers that embed the path
        return None
    revisions_dir = Path(revisions_dir)
    if (revisions_dir.parent / paths.DROPPED_MARKER).exists():  # a drop is under way
        return None
    try:
        device = _device(Path(target) if target is not None else revisions_dir)
        names = paths.revision_names(str(revisions_dir))
    except OSError:
        return None
    for name in names:
        candidate = revisions_dir / name
        if target is not None and os.path.abspath(candidate) == os.path.abspath(target):
            continue
        if not revision_json.is_ready(str(candidate)):
            continue
        if limit <= 0:
            break
        limit -= 1
        why_not = _unfit(candidate, plan_digest, plan, device, allow_editables)
        if why_not is None:
            return candidate
        log.debug("revision %s cannot be cloned: %s", name, why_not)
    return None


def can_clone(revision: Path, plan_digest: str, *, target: Path) -> bool:
    """Whether a revision of plan ``plan_digest`` at ``target`` can be cloned from the ready
    ``revision`` (as ``identical_revision`` judges each of its candidates)."""
    if os.name == "nt" or (revision.parent.parent / paths.DROPPED_MARKER).exists():
        return False
    try:
        device = _device(Path(target))
    except OSError:
        return False
    why_not = _unfit(revision, plan_digest, None, device, False)
    if why_not is not None:
        log.debug("revision %s cannot be cloned: %s", revision.name, why_not)
    return why_not is None


def _device(path: Path) -> int:
    """The filesystem of ``path``, or of its nearest existing parent."""
    path = Path(os.path.abspath(path))
    for candidate in (path, *path.parents):
        try:
            return os.stat(candidate).st_dev
        except FileNotFoundError:
            continue
    raise FileNotFoundError(errno.ENOENT, "no such folder", str(path))


def _unfit(revision: Path, plan_digest: str, plan: Optional[Plan], device: int,
           allow_editables: bool) -> Optional[str]:
    """Why ``revision`` cannot be the donor of a revision of ``plan_digest``; None if it can."""
    from rezup.stages.plan import Plan

    try:
        metadata = revision_json.read_metadata(str(revision))
    except ValueError as exc:
        return str(exc)
    if metadata is None:
        return "not ready"
    if (revision / paths.RETIRED_METADATA_FILENAME).exists():
        return "retired"
    if metadata.get("remote"):
        return "a remote revision (no venvs)"
    if metadata.get("plan_digest") != plan_digest:
        return "another plan"
    try:
        text = (revision / paths.PLAN_FILENAME).read_bytes()
    except OSError as exc:
        return f"cannot read its plan: {one_line(exc)}"
    if "sha256:" + hashlib.sha256(text).hexdigest() != plan_digest:
        return f"its {paths.PLAN_FILENAME} is not the plan its {paths.METADATA_FILENAME} names"
    if plan is None:
        try:
            plan = Plan.from_text(text.decode("utf-8"), str(revision / paths.PLAN_FILENAME))
        except (BuildError, UnicodeDecodeError) as exc:
            return str(exc)
    if metadata.get("venvs") != [venv.name for venv in plan.venvs]:
        return "its venvs are not the plan's"
    for venv in plan.venvs:
        if (venv.editables or any(_unhashed_local(line) for line in venv.requirements)) \
                and not allow_editables:
            return f"venv {venv.name!r} installs local sources that may have changed since"
        why_not = _venv_unfit(Path(paths.venv_dir(str(revision), venv.name)), venv.python,
                              venv.python_version, device)
        if why_not is not None:
            return f"venv {venv.name!r}: {why_not}"
    return None


def _unhashed_local(requirement: str) -> bool:
    """A local file or folder (``name @ file:...``) pinned by no hash: its content may change."""
    return "@ file:" in requirement and "--hash=" not in requirement


def _venv_unfit(venv: Path, python: str, python_version: str, device: int) -> Optional[str]:
    try:
        if os.stat(venv).st_dev != device:
            return "on another filesystem"
    except OSError as exc:
        return one_line(exc)
    interpreter = paths.venv_python(str(venv))
    if not os.path.exists(python):
        return f"the plan's Python {python} does not exist"
    if not os.path.exists(interpreter):
        return "its Python is gone"
    if os.path.realpath(interpreter) != os.path.realpath(python):
        return f"it runs {os.path.realpath(interpreter)}, not the plan's {python}"
    built_for = pyvenv_version(venv)
    if built_for is None or built_for.split(".")[:2] != python_version.split(".")[:2]:
        return f"made for Python {built_for}, the plan is for {python_version}"
    return None


@contextlib.contextmanager
def claimed(revision: Path) -> Iterator[None]:
    """Hold a shared claim on the donor ``revision`` while it is cloned, as a session does:
    prune and drop leave a claimed revision alone. CloneError if it is being removed."""
    from rezup.runtime.session import claim

    try:
        fd = claim(str(revision))
    except RevisionGoneError as exc:
        raise CloneError(str(exc)) from None
    if fd is not None:
        os.set_inheritable(fd, False)  # the claim is this process's, not its children's
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


# -- cloning -------------------------------------------------------------------------------------

# What a path may hold for a byte search to find every mention of it: a character that JSON,
# a URL or a shell would escape could be written in some other form.
_PLAIN_PATH_CHARS = frozenset(string.ascii_letters + string.digits + "/._-+~@,=")
# A mention of the source path followed by one of these names another path that starts alike.
_NAME_CHAR = rb"[A-Za-z0-9_.+\-]"
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


class _PathRewriter:
    """Finds and replaces the source revision's path (as given, resolved, URL-quoted)."""

    def __init__(self, source: Path, target: Path) -> None:
        pairs: dict[str, str] = {}
        for old, new in ((str(source), str(target)),
                         (os.path.realpath(source), os.path.realpath(target))):
            for path in (old, new):
                if not set(path) <= _PLAIN_PATH_CHARS:
                    raise CloneError(f"the path {path!r} has characters that files may hold "
                                     "in another form")
            if _inside(new, old) or _inside(old, new):
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


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


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
    the path, a file that vanished or changed meanwhile: hold ``claimed(source)``, another
    filesystem, ...), after removing the venvs it made. Ends with one check per venv, in
    parallel: its Python runs with the new venv as ``sys.prefix`` and imports rez (in the rez
    venv, which must have it) from inside it.
    """
    if os.name == "nt":
        raise CloneError("revisions are not cloned on Windows")
    source = Path(os.path.abspath(source_revision))
    target = Path(os.path.abspath(target_revision))
    rewriter = _PathRewriter(source, target)
    venvs_folder = target / paths.VENV_DIRNAME
    made_folder = not venvs_folder.exists()
    made: list[Path] = []
    stats = _Stats()
    try:
        venvs_folder.mkdir(exist_ok=True)
        for name in venv_names:
            src = Path(paths.venv_dir(str(source), name))
            dst = Path(paths.venv_dir(str(target), name))
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
    log.debug("cloned venvs %s of revision %s: %d files linked, %d copied, %d rewritten (%s), "
              "%d compiled files left out", ", ".join(venv_names), source.name, stats.linked,
              stats.copied, len(stats.rewritten), ", ".join(stats.rewritten),
              stats.dropped_bytecode)


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

    def __init__(self, src: Path, dst: Path, rewriter: _PathRewriter, stats: _Stats) -> None:
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

    def folder(self, src: str, dst: str, info: os.stat_result,
               sources: Optional[tuple[set[str], set[str]]]) -> None:
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
                if bytecode_of is not None and bytecode_of in sources[0]:
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
            self.folder(entry.path, os.path.join(dst, entry.name),
                        entry.stat(follow_symlinks=False), inner)

    def symlink(self, src: str, dst: str) -> None:
        link = os.readlink(src)
        if os.path.isabs(link):
            new = self.rewriter.rewrite(os.fsencode(link), src)
            link = os.fsdecode(new)
        elif not _inside(os.path.normpath(os.path.join(os.path.dirname(src), link)),
                         self.source_revision):
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
            _write(dst, new, info, keep_times=False)
            self.stats.rewritten.append(os.path.relpath(dst, os.path.dirname(self.dst)))
            return True
        if fresh or not data:
            _write(dst, data, info, keep_times=True)
            self.stats.copied += 1
            return False
        self.link(src, dst, info, data)
        return False

    def link(self, src: str, dst: str, info: Optional[os.stat_result],
             data: Optional[bytes] = None) -> None:
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
            _write(dst, data, info, keep_times=True)
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


def _write(path: str, data: bytes, info: os.stat_result, *, keep_times: bool) -> None:
    """A new file at ``path`` holding ``data``, with the mode (and times) of ``info``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "wb") as stream:
        stream.write(data)
    os.chmod(path, stat.S_IMODE(info.st_mode))
    if keep_times:
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


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
        venv = paths.venv_dir(str(revision), name)
        python = paths.venv_python(venv)
        running.append((name, venv, subprocess.Popen(
            [python, "-I", "-B", "-c", _PROBE], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=str(revision), text=True,
        )))
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
    if rez_file and not _inside(os.path.realpath(rez_file), os.path.join(real_venv, "lib")):
        return f"venv {name!r}: rez imports from {rez_file}"
    if name == paths.REZ_VENV:
        if not rez_file:
            return "venv 'rez': rez does not import"
        marker = os.path.join(paths.production_bin_dir(venv), paths.PRODUCTION_MARKER)
        if not os.path.isfile(marker):
            return "venv 'rez': the production marker is missing"
    return None


# -- relocation: a revision built in a folder of its builder's own, moved into place ------------


def relocate(folder: Path, final: Path) -> list[str]:
    """Make the venvs built in ``folder`` right for ``final``, the name they will be renamed
    to (a fenced build on a shared root: see ``build``). Returns the files rewritten.

    Only what names a venv's own path is rewritten: scripts and activation files in ``bin/``
    (the production scripts in ``bin/rez/`` too), ``pyvenv.cfg``, and in site-packages the
    ``.pth`` and ``.egg-link`` files and each distribution's ``RECORD`` and
    ``direct_url.json``; symbolic links into ``folder`` are re-pointed. Compiled bytecode
    names its source too, but Python re-points that on load. Raises CloneError where a path
    cannot be rewritten with certainty.
    """
    from rezup.tools.production import site_packages

    rewriter = _PathRewriter(Path(os.path.abspath(folder)), Path(os.path.abspath(final)))
    rewritten: list[str] = []
    venvs = folder / paths.VENV_DIRNAME
    for venv in sorted(venvs.iterdir()) if venvs.is_dir() else []:
        candidates = [venv / "pyvenv.cfg"]
        for bin_dir in (venv / "bin", venv / "Scripts"):
            if bin_dir.is_dir():
                candidates.extend(bin_dir.rglob("*"))
        with contextlib.suppress(BuildError):
            packages = site_packages(venv)
            for pattern in ("*.pth", "*.egg-link", "*.dist-info/RECORD",
                            "*.dist-info/direct_url.json"):
                candidates.extend(packages.glob(pattern))
        changed = [path for path in candidates if _relocate_one(path, rewriter, folder, final)]
        rewritten += [str(path.relative_to(folder)) for path in changed]
        if changed:
            with contextlib.suppress(BuildError):
                _rehash_records(site_packages(venv), {os.path.abspath(p) for p in changed})
    return rewritten


def _rehash_records(packages: Path, changed: set[str]) -> None:
    """Give the ``RECORD`` lines of the files in ``changed`` (console scripts written again
    for the revision's place) the hash and size of what they now hold, as an installer
    writing them there would have."""
    import base64

    for record in packages.glob("*.dist-info/RECORD"):
        lines = record.read_text(encoding="utf-8").splitlines()
        updated = []
        for line in lines:
            path, sep, _ = line.partition(",")
            target = os.path.abspath(packages / path) if sep else ""
            if target in changed:
                data = Path(target).read_bytes()
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                line = f"{path},sha256={digest.decode()},{len(data)}"
            updated.append(line)
        if updated != lines:
            info = record.stat()
            record.unlink()
            _write(str(record), ("\n".join(updated) + "\n").encode(), info, keep_times=False)


def _relocate_one(path: Path, rewriter: _PathRewriter, folder: Path, final: Path) -> bool:
    if path.is_symlink():
        target = os.readlink(path)
        if not _inside(target, str(folder)):
            return False
        path.unlink()
        os.symlink(str(final) + target[len(str(folder)):], path)
        return True
    if not path.is_file():
        return False
    data = path.read_bytes()
    if not rewriter.names_source(data):
        return False
    info = path.stat()
    new = rewriter.rewrite(data, str(path))
    path.unlink()
    _write(str(path), new, info, keep_times=False)
    return True
