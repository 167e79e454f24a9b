"""The bytecode a build leaves for after the revision is ready: compiled by a process of its
own that outlives the command (``compile_later``), shown by ``status`` (``compiling``) and
stopped by every removal (``stop_compiling``).

Only the seed packages of the first revision of a Python in a root come here
(``venv_install.compile_seeds_later``): compiling them before would make a first revision
slower than bare uv makes it. Later revisions, in any container of the root, take their
bytecode from it (``bytecode``). ``REZUP_NO_BACKGROUND`` makes the command wait for the
process, so that nothing is left running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path

from rezup.ground import locations, paths
from rezup.stages.bytecode import WORKER, invalidation_mode
from rezup.tools.production import site_packages, venv_python_tag

log = logging.getLogger("rezup")


def compile_later(
    venv: Path, sources: Collection[str], env: Mapping[str, str], *, wait: bool = False
) -> bool:
    """Compile those of ``sources`` (relative to ``venv``'s site-packages) that have no pyc
    yet, in a process of its own that outlives this one: at low priority and in a session of
    its own (no terminal's signals reach it). Returns whether one was started. With ``wait``
    (``REZUP_NO_BACKGROUND``) the same process runs at normal priority and this one waits
    for it: nothing is left running when the command returns.

    It works in a ready revision, and writes there only what Python writes itself when it
    imports a module: each pyc whole or not at all. It holds a lock on
    ``{revision}/.compiling-{venv}`` (holding its pid) as long as it runs, so that a removal
    of the revision stops it first (``stop_compiling``): sessions do not wait for it, and
    neither do prune and drop.
    """
    if os.name == "nt":
        return False
    import fcntl

    site = site_packages(venv)
    sources = missing_bytecode(venv, sources)
    if not sources:
        return False
    payload = b"".join(b"m" + os.fsencode(path) + b"\0" for path in sources) + b"\0"
    full_env = {**os.environ, **env}
    full_env.pop("VIRTUAL_ENV", None)
    command = [
        str(locations.venv_python(venv)),
        "-I",
        "-S",
        str(WORKER),
        invalidation_mode(full_env),
        str(site),
    ]
    lock_path = venv.parent.parent / f"{paths.COMPILING_PREFIX}{venv.name}"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        log.debug("cannot compile %d sources of %s later: %s", len(sources), venv, exc)
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # busy: one compiles already
        with tempfile.TemporaryFile() as stdin:
            stdin.write(payload)
            stdin.seek(0)
            process = subprocess.Popen(
                command,
                stdin=stdin,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=tempfile.gettempdir(),
                env=full_env,
                start_new_session=True,
                pass_fds=(fd,),
            )
        os.ftruncate(fd, 0)
        os.write(fd, f"{_host()}:{process.pid}\n".encode())
    except OSError as exc:
        log.debug("cannot compile %d sources of %s later: %s", len(sources), venv, exc)
        return False
    finally:
        os.close(fd)  # the lock stays with the compiler
    if wait:
        process.wait()
        return True
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, process.pid, 10)
    # kept, so that a long-lived caller (the Python API) reaps it: no zombie, no warning
    _background.add(process)
    for earlier in list(_background):
        if earlier.poll() is not None:
            _background.discard(earlier)
    return True


_background: set[subprocess.Popen] = set()  # compilers started by compile_later


def _host() -> str:
    import socket

    return socket.gethostname()


def compiling(revision_dir: Path) -> list[str]:
    """The venvs of ``revision_dir`` whose bytecode a ``compile_later`` process compiles now.

    Its lock is tried shared for an instant: a ``compile_later`` starting at that very instant
    finds it busy and leaves the files to Python (which compiles them on import)."""
    if os.name == "nt":
        return []
    import fcntl

    found = []
    try:
        entries = [e for e in os.scandir(revision_dir) if e.name.startswith(paths.COMPILING_PREFIX)]
    except OSError:
        return []
    for entry in entries:
        try:
            fd = os.open(entry.path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            found.append(entry.name[len(paths.COMPILING_PREFIX) :])
        except OSError:
            pass  # no locks here (a network filesystem): nothing compiles there (fenced)
        finally:
            os.close(fd)
    return sorted(found)


def stop_compiling(revision_dir: Path, timeout: float = 5.0) -> None:
    """Stop the compilers ``compile_later`` started in ``revision_dir`` and wait (at most
    ``timeout`` seconds) until they are gone: the revision is about to be removed."""
    if os.name == "nt":
        return
    import fcntl
    import signal
    import time

    try:
        locks = [
            entry.path
            for entry in os.scandir(revision_dir)
            if entry.name.startswith(paths.COMPILING_PREFIX)
        ]
    except OSError:
        return
    for path in locks:
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            deadline = time.monotonic() + timeout
            signalled = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:  # held: its compiler runs
                    pass
                except OSError:  # no lock to be had here (a network filesystem): let it be
                    break
                if not signalled:
                    # its holder, named in the file: signalled only if it runs on this host
                    first = os.pread(fd, 300, 0).decode(errors="replace").split("\n")[0]
                    host, _, pid = first.strip().rpartition(":")
                    if host == _host() and pid.isdigit():
                        with contextlib.suppress(OSError):
                            os.kill(int(pid), signal.SIGTERM)
                        signalled = True
                if time.monotonic() > deadline:
                    log.debug("the compiler of %s still runs after %ss", path, timeout)
                    break
                time.sleep(0.01)
        finally:
            os.close(fd)


def missing_bytecode(venv: Path, sources: Collection[str]) -> list[str]:
    """The ``sources`` (relative to ``venv``'s site-packages) that have no pyc for its Python;
    all of them when its Python is not known."""
    site = site_packages(venv)
    python = venv_python_tag(venv)
    if python is None:
        return list(sources)
    implementation, version = python
    tag = f"{implementation}-{version.replace('.', '')}"
    missing = []
    for relative in sources:
        folder, name = os.path.split(relative)
        compiled = os.path.join(site, folder, "__pycache__", f"{name[:-3]}.{tag}.pyc")
        if not os.path.exists(compiled):
            missing.append(relative)
    return missing
