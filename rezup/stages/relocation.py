"""Relocation: a revision built in a folder of its builder's own (a fenced build on a shared
root: see ``build_site``), made right for the name it is renamed to.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from rezup.ground import paths
from rezup.ground.errors import BuildError
from rezup.stages.path_rewrite import PathRewriter, inside, write_file


def relocate(folder: Path, final: Path) -> list[str]:
    """Make the venvs built in ``folder`` right for ``final``, the name they will be renamed
    to (a fenced build on a shared root: see ``build_site``). Returns the files rewritten.

    Only what names a venv's own path is rewritten: scripts and activation files in ``bin/``
    (the production scripts in ``bin/rez/`` too), ``pyvenv.cfg``, and in site-packages the
    ``.pth`` and ``.egg-link`` files and each distribution's ``RECORD`` and
    ``direct_url.json``; symbolic links into ``folder`` are re-pointed. Compiled bytecode
    names its source too, but Python re-points that on load. Raises CloneError where a path
    cannot be rewritten with certainty.
    """
    from rezup.tools.production import site_packages

    rewriter = PathRewriter(Path(os.path.abspath(folder)), Path(os.path.abspath(final)))
    rewritten: list[str] = []
    venvs = folder / paths.VENV_DIRNAME
    for venv in sorted(venvs.iterdir()) if venvs.is_dir() else []:
        candidates = [venv / "pyvenv.cfg"]
        for bin_dir in (venv / "bin", venv / "Scripts"):
            if bin_dir.is_dir():
                candidates.extend(bin_dir.rglob("*"))
        with contextlib.suppress(BuildError):
            packages = site_packages(venv)
            for pattern in (
                "*.pth",
                "*.egg-link",
                "*.dist-info/RECORD",
                "*.dist-info/direct_url.json",
            ):
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
            write_file(str(record), ("\n".join(updated) + "\n").encode(), info, keep_times=False)


def _relocate_one(path: Path, rewriter: PathRewriter, folder: Path, final: Path) -> bool:
    if path.is_symlink():
        target = os.readlink(path)
        if not inside(target, str(folder)):
            return False
        path.unlink()
        os.symlink(str(final) + target[len(str(folder)) :], path)
        return True
    if not path.is_file():
        return False
    data = path.read_bytes()
    if not rewriter.names_source(data):
        return False
    info = path.stat()
    new = rewriter.rewrite(data, str(path))
    path.unlink()
    write_file(str(path), new, info, keep_times=False)
    return True
