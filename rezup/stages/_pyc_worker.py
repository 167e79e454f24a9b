"""Bytecode of a new venv: an earlier revision's ``.pyc`` where it is valid, else compiled.

rezup (``rezup.stages.bytecode``) runs this file with the venv's own interpreter, as
``python -I -S _pyc_worker.py MODE SITE [DONOR]``, several at once. That interpreter may be
any Python rezup builds venvs for, so this file uses the standard library only and nothing
newer than Python 3.7. rezup never imports it.

MODE is a ``py_compile.PycInvalidationMode`` name. stdin brings batches of paths of ``.py``
files relative to SITE (a site-packages folder): each path preceded by one byte, ``c`` (reuse
or compile), ``r`` (reuse only) or ``m`` (compile if it has no pyc yet), and ended by a NUL
byte; each batch ended by one more NUL.
For each file, the ``.pyc`` of the same file under DONOR (the site-packages of an earlier
revision's venv) is taken when it is valid for the new source: hard-linked, or copied with the
new source's mtime and size in its header when the sources are equal files but not the same
one. Every other ``c`` file is compiled as ``uv pip install --compile-bytecode`` would (errors
ignored, as uv and pip do); an ``r`` file is left alone. After each batch, one line on stdout:
how many files were linked, copied, compiled, failed to compile, and left alone. The worker
ends at the end of stdin.
"""

import compileall
import contextlib
import importlib.util
import os
import py_compile
import sys
import warnings

MASK = 0xFFFFFFFF
FLAGS = {"TIMESTAMP": 0, "UNCHECKED_HASH": 0b01, "CHECKED_HASH": 0b11}  # PEP 552
LINKED, COPIED, COMPILED, FAILED, LEFT = range(5)


def main():
    mode_name, site = sys.argv[1], sys.argv[2]
    donor = sys.argv[3] if len(sys.argv) > 3 else None
    modes = getattr(py_compile, "PycInvalidationMode", None)  # None before Python 3.7
    options = {}
    if modes is not None:
        mode = modes[mode_name]
        # as uv does: compile_file would keep a timestamp pyc of matching mtime in a hash mode
        options = {"invalidation_mode": mode, "force": mode is not modes.TIMESTAMP}
    else:
        donor = None  # another header layout: reuse nothing
    made: set[str] = set()  # __pycache__ folders known to exist
    for batch in batches(sys.stdin.buffer):
        counts = [0, 0, 0, 0, 0]
        for raw in batch:
            kind, relative = raw[:1], os.fsdecode(raw[1:])
            source = os.path.join(site, relative)
            outcome = None
            if donor is not None:
                outcome = reuse(source, os.path.join(donor, relative), mode_name, made)
            if outcome is None and kind == b"m" and not os.path.isdir(site):
                return  # the revision is being removed: nothing to compile any more
            if (
                outcome is None
                and kind != b"c"
                and (kind == b"r" or os.path.exists(importlib.util.cache_from_source(source)))
            ):
                outcome = LEFT
            elif outcome is None:
                ok = compileall.compile_file(source, quiet=2, **options)
                outcome = COMPILED if ok else FAILED
            counts[outcome] += 1
        sys.stdout.write(" ".join(map(str, counts)) + "\n")
        sys.stdout.flush()


def batches(stream):
    """The batches of paths on ``stream``, each as soon as it is complete."""
    pending = b""
    while True:
        chunk = stream.read1(65536)
        if not chunk:
            return
        pending += chunk
        while True:
            end = pending.find(b"\0\0")
            if end < 0:
                break
            yield pending[:end].split(b"\0")
            pending = pending[end + 2 :]


def reuse(source, donor_source, mode_name, made):
    """LINKED or COPIED when the donor's pyc now serves ``source``, None when it cannot."""
    target = importlib.util.cache_from_source(source)
    if os.path.lexists(target):  # the wheel shipped one: compile_file judges it
        return None
    donor_pyc = importlib.util.cache_from_source(donor_source)
    try:
        new, old = os.stat(source), os.stat(donor_source)
        same_file = (new.st_ino, new.st_dev) == (old.st_ino, old.st_dev)
        if not same_file and not same_bytes(source, donor_source, new, old):
            return None
        if mode_name == "TIMESTAMP":  # what the pyc must record, and what the donor's does
            wanted, recorded = stamp(new), stamp(old)
        else:
            with open(source, "rb") as stream:
                wanted = recorded = importlib.util.source_hash(stream.read())
        folder = os.path.dirname(target)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        if wanted == recorded:
            try:
                os.link(donor_pyc, target)
            except OSError:  # another filesystem, or not ours to link (protected_hardlinks)
                pass
            else:  # checked once linked: no other process can change what we now hold
                if valid(read_header(target), mode_name, recorded):
                    return LINKED
                os.unlink(target)
                return None
        with open(donor_pyc, "rb") as stream:
            data = stream.read()
        if not valid(data[:16], mode_name, recorded):
            return None
        write_atomic(target, data[:8] + wanted + data[16:], new.st_mode)
        return COPIED
    except OSError:
        return None


def stamp(stat):
    """The second half of a timestamp pyc's header: the source's mtime and size."""
    return (int(stat.st_mtime) & MASK).to_bytes(4, "little") + (stat.st_size & MASK).to_bytes(
        4, "little"
    )


def valid(header, mode_name, recorded):
    return (
        len(header) == 16
        and header[:4] == importlib.util.MAGIC_NUMBER
        and int.from_bytes(header[4:8], "little") == FLAGS[mode_name]
        and header[8:16] == recorded
    )


def read_header(path):
    with open(path, "rb") as stream:
        return stream.read(16)


def same_bytes(left, right, left_stat, right_stat):
    if left_stat.st_size != right_stat.st_size:
        return False
    with open(left, "rb") as one, open(right, "rb") as other:
        return one.read() == other.read()


def write_atomic(path, data, source_mode):
    """Write ``path`` whole or not at all, with the mode Python gives the pycs it writes."""
    temporary = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, (source_mode | 0o200) & 0o666)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyntaxWarnings of compiled sources, as uv does
        main()
