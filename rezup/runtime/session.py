"""Session: compose the environment of a revision and launch a command or a shell in it.

The environment is built in this order: the process environment, then the revision's dotenv
files, then its ``[env]`` table (``${VAR}`` expanded against what is there so far), then
``REZUP_CONTAINER``, ``REZUP_USING_REMOTE`` and ``REZUP_REVISION``, with the production bin
folders first on PATH.

This module is on the ``rezup use NAME -- CMD`` start-up path: it takes a revision folder and
its metadata (never a container object) and imports only ``os``, ``sys`` and ``ground``'s lean
modules at module level (python-dotenv only when the revision lists dotenv files, the shell
module only for shells).
"""

import os
import sys

from rezup.ground import paths, revision_json

# On the `rezup use` path: no `from __future__ import annotations` (an import of its own,
# ~0.15 ms) and no typing (milliseconds); annotations naming typing's types are strings.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, Optional


def split_command(argv: "list[str]") -> "tuple[list[str], list[str]]":
    """Split ``argv`` at the first ``--``: rezup's own arguments, and the user's command."""
    if "--" in argv:
        index = argv.index("--")
        return argv[:index], argv[index + 1 :]
    return argv, []


def current_session() -> str:
    """The container of the rezup session this process runs in ('' outside any)."""
    return os.environ.get("REZUP_CONTAINER", "")


def refuse_nested_session() -> None:
    """Refuse an interactive session inside another (a command or a script may run)."""
    current = current_session()
    if current:
        from rezup.ground.errors import UsageError

        raise UsageError(
            f"already inside a rezup session of container {current!r}; exit it first (or "
            "run a command in another container: rezup use NAME -- CMD)"
        )


# -- the environment -----------------------------------------------------------------------------


_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME_CHARS = _NAME_START | frozenset("0123456789")


def expand_vars(value: str, env: "Mapping[str, str]") -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}`` from ``env``; unknown or empty variables
    become the default, or ''. ``VAR`` is an ASCII letter or ``_`` then letters, digits and
    ``_``; the default runs to the first ``}``. Anything else is left as it is.

    The same as ``re.sub(r"\\$\\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\\}", ...)`` (tested
    against it), without importing ``re`` on the ``rezup use`` path.
    """
    if "${" not in value:
        return value
    parts = []
    done = 0  # value[:done] is in parts
    start = value.find("${")
    while start >= 0:
        end = _expansion_end(value, start)
        if end < 0:  # not an expansion: look again from the next character
            start = value.find("${", start + 1)
            continue
        name, _, default = value[start + 2 : end].partition(":-")
        parts.append(value[done:start])
        parts.append(env.get(name) or default)
        done = end + 1
        start = value.find("${", done)
    parts.append(value[done:])
    return "".join(parts)


def _expansion_end(value: str, start: int) -> int:
    """Where the ``}`` of an expansion starting at ``value[start:]`` (``${``) is; -1 if none."""
    index = start + 2
    if index >= len(value) or value[index] not in _NAME_START:
        return -1
    index += 1
    while index < len(value) and value[index] in _NAME_CHARS:
        index += 1
    if value.startswith("}", index):
        return index
    if value.startswith(":-", index):
        return value.find("}", index + 2)
    return -1


def load_dotenv_file(path: str, env: "Mapping[str, str]") -> "dict[str, str]":
    """Values of one dotenv file (python-dotenv syntax, ``${VAR}`` from ``env`` and the file)."""
    import io

    from dotenv import dotenv_values

    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        sys.stderr.write(f"rezup: warning: dotenv file not found: {path}\n")
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        sys.stderr.write(f"rezup: warning: cannot read dotenv file {path}: {exc}\n")
        return {}
    values: dict[str, str] = {}
    for key, value in dotenv_values(stream=io.StringIO(text), interpolate=False).items():
        if value is not None:
            values[key] = expand_vars(value, {**env, **values})
    return values


def revision_variables(
    metadata: "dict[str, Any]",
    revision_dir: str,
    container: str,
    using_remote: bool,
    base: "Optional[Mapping[str, str]]" = None,
) -> "dict[str, str]":
    """What a revision adds to an environment: its dotenv files, then its ``[env]`` (both
    expanding ``${VAR}`` against ``base``, the process environment by default, and what came
    before), then ``REZUP_CONTAINER``, ``REZUP_USING_REMOTE`` and ``REZUP_REVISION``."""
    env = dict(os.environ if base is None else base)
    added: dict[str, str] = {}
    session = metadata.get("session") or {}
    for path in session.get("dotenv", ()):
        values = load_dotenv_file(path, env)
        env.update(values)
        added.update(values)
    for key, value in session.get("env", ()):
        env[key] = added[key] = expand_vars(value, env)
    added["REZUP_CONTAINER"] = container
    added["REZUP_USING_REMOTE"] = "yes" if using_remote else ""
    added["REZUP_REVISION"] = os.path.basename(revision_dir)
    return added


def session_environ(
    metadata: "dict[str, Any]",
    revision_dir: str,
    container: str,
    using_remote: bool,
    base: "Optional[Mapping[str, str]]" = None,
) -> "dict[str, str]":
    """The environment of a session: process env, dotenv files, ``[env]``, ``REZUP_*``, PATH.

    Inside another session (a nested ``use other -- CMD``) the outer session's bin folders
    leave PATH first: they are replaced, not stacked. The venv rezup itself runs from (``uv
    run`` activates it) is never part of a session.
    """
    env = dict(os.environ if base is None else base)
    _leave_outer_environments(env)
    env.update(revision_variables(metadata, revision_dir, container, using_remote, env))
    bin_dirs = [os.path.join(revision_dir, d) for d in revision_json.session_bin_dirs(metadata)]
    env["PATH"] = os.pathsep.join([*bin_dirs, env.get("PATH", "")]).rstrip(os.pathsep)
    env["REZUP_SESSION_PATH"] = os.pathsep.join(bin_dirs)
    return env


def _leave_outer_environments(env: "dict[str, str]") -> None:
    """Take out of ``env`` the PATH entries of an outer session and rezup's own venv."""
    leaving = set(filter(None, env.pop("REZUP_SESSION_PATH", "").split(os.pathsep)))
    own_venv = env.get("VIRTUAL_ENV")
    if own_venv and os.path.realpath(own_venv) == os.path.realpath(sys.prefix):
        del env["VIRTUAL_ENV"]
        leaving.add(os.path.join(own_venv, paths.BIN_DIRNAME))
    if leaving and "PATH" in env:
        env["PATH"] = os.pathsep.join(
            entry for entry in env["PATH"].split(os.pathsep) if entry not in leaving
        )


# -- the in-use claim ----------------------------------------------------------------------------


def claim(revision_dir: str) -> "Optional[int]":
    """Claim the revision for this process and everything it runs, for as long as they live.

    A shared ``flock`` on the revision's claim file, on a descriptor inherited across ``exec``
    and by children: the kernel drops it when the last of them exits (``kill -9`` included).
    Removers (prune, drop) take it exclusively and leave a claimed revision alone. Returns the
    descriptor, or None where no claim can be made (Windows; a read-only root without a claim
    file). Raises RevisionGoneError when the revision is being removed or was just now.
    """
    if os.name == "nt":
        return None
    import fcntl

    fd = _open_claim_file(paths.claim_file(revision_dir))
    if fd is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:  # a remover holds it exclusively
            os.close(fd)
            _gone(revision_dir)
        os.set_inheritable(fd, True)
    if not _record_claim(revision_dir):
        if fd is not None:
            os.close(fd)
        _gone(revision_dir)
    if not revision_json.is_ready(revision_dir):  # removed between the choice and the claim
        if fd is not None:
            os.close(fd)
        _gone(revision_dir)
    return fd


def _record_claim(revision_dir: str) -> bool:
    """On a shared root (the revision has a claims folder), record this job where every host
    can read it: ``HOST#PID#START`` holding the boot id and PID namespace. The host that wrote
    it checks whether the process still runs; others let it expire after the longest job
    (``REZUP_MAX_JOB_AGE``). Returns False when a remover was checking the records (it then
    sees this one, or removes the revision: either way, this job must not enter it).

    Costs one ``stat`` on a local root (no claims folder): nothing to record there, the
    ``flock`` claim is enough.
    """
    folder = paths.claims_dir(revision_dir)
    if not os.path.isdir(folder):  # a local root: the flock claim is enough
        return True
    from rezup.ground import hosts

    _, boot, namespace = hosts.identity()
    record = own_claim_record(revision_dir)
    try:
        fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError:  # no claims folder (a local root), or one that cannot be written
        return True
    try:
        os.write(fd, f"{boot}\n{namespace}\n".encode())
    finally:
        os.close(fd)
    if os.path.exists(os.path.join(folder, paths.REMOVING_FILENAME)):
        try:  # noqa: SIM105 - no contextlib on the lean path
            os.unlink(record)
        except OSError:
            pass
        return False
    return True


def own_claim_record(revision_dir: str) -> str:
    """Where this process records its claim on a revision of a shared root: the name says the
    host, the PID and when the process started (PIDs are reused)."""
    from rezup.ground import hosts

    pid = os.getpid()
    record = f"{hosts.identity()[0]}#{pid}#{hosts.start_ticks(pid)}"
    return os.path.join(paths.claims_dir(revision_dir), record)


def _open_claim_file(path: str) -> "Optional[int]":
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # a revision made by an older rezup: make it where writable
        try:
            return os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError:
            return None
    except OSError:
        return None


def _gone(revision_dir: str) -> None:
    from rezup.ground.errors import RevisionGoneError

    raise RevisionGoneError(f"revision {revision_dir} is being removed")


# -- launching -----------------------------------------------------------------------------------


def launch(
    argv: "Sequence[str]", env: "dict[str, str]", wait: bool = True, keep_fd: "Optional[int]" = None
) -> int:
    """Run ``argv`` in ``env``. On POSIX, when waiting, rezup *becomes* the command (exec):
    nothing of rezup stays in memory and the exit code is the command's own. ``keep_fd``
    (the claim) is passed on to a command started without waiting."""
    argv = list(argv)
    if "logging" in sys.modules:  # the full command line: close its handlers (a status line)
        sys.modules["logging"].shutdown()
    if wait and os.name != "nt":
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            execvpe(argv[0], argv, env)
        except OSError as exc:
            return _cannot_run(argv[0], exc)
    import shutil
    import subprocess

    if os.name == "nt":
        argv = [shutil.which(argv[0], path=env.get("PATH")) or argv[0], *argv[1:]]
    try:
        if not wait:
            subprocess.Popen(
                argv,
                env=env,
                start_new_session=os.name != "nt",
                pass_fds=(keep_fd,) if keep_fd is not None else (),
            )
            return 0
        return subprocess.call(argv, env=env)
    except OSError as exc:
        return _cannot_run(argv[0], exc)


def execvpe(program: str, argv: "list[str]", env: "dict[str, str]") -> None:
    """``os.execvpe``: ``program`` looked up on ``env``'s PATH, the same way, without the
    ``warnings`` module it imports (``os.get_exec_path``). Raises OSError if it cannot run."""
    if os.path.dirname(program):
        os.execve(program, argv, env)
    path = env.get("PATH")
    saved: Optional[OSError] = None
    last: Optional[OSError] = None
    for folder in (os.defpath if path is None else path).split(os.pathsep):
        try:
            os.execve(os.path.join(folder, program), argv, env)
        except (FileNotFoundError, NotADirectoryError) as exc:
            last = exc
        except OSError as exc:  # found, but it cannot run: say so unless one further can
            last = exc
            if saved is None:
                saved = exc
    raise saved or last or FileNotFoundError(program)


def _cannot_run(program: str, exc: "OSError") -> int:
    sys.stderr.write(f"rezup: error: cannot run {program}: {exc.strerror or exc}\n")
    return 127 if isinstance(exc, FileNotFoundError) else 126


def spawn(
    revision_dir: str,
    metadata: "dict[str, Any]",
    container: str,
    using_remote: bool,
    *,
    command: "Sequence[str]" = (),
):
    """Start ``command`` (or an interactive shell) in a revision and return its process
    (``subprocess.Popen``): for a caller that goes on, as a Python script using the API does.
    The child holds the claim on the revision; this process does not keep it."""
    import subprocess

    env = session_environ(metadata, revision_dir, container, using_remote)
    argv = list(command) if command else _shell_command(container, using_remote, None, env)
    held = claim(revision_dir)
    try:
        if os.name == "nt":
            import shutil

            argv = [shutil.which(argv[0], path=env.get("PATH")) or argv[0], *argv[1:]]
        return subprocess.Popen(argv, env=env, pass_fds=(held,) if held is not None else ())
    finally:
        if held is not None:
            os.close(held)


def _shell_command(
    container: str, using_remote: bool, script: "Optional[str]", env: "dict[str, str]"
) -> "list[str]":
    """The shell that runs ``script``, or (none) an interactive one with rezup's prompt."""
    from rezup.runtime import shell as shells

    detected = shells.detect_shell()
    shells.check_shell(detected)
    if script is not None:
        return shells.script_command(detected, script)
    env.setdefault("REZUP_PROMPT", shells.default_prompt(container, using_remote))
    return shells.interactive_command(detected, env)


def run(
    revision_dir: str,
    metadata: "dict[str, Any]",
    container: str,
    using_remote: bool,
    *,
    command: "Sequence[str]" = (),
    script: "Optional[str]" = None,
    wait: bool = True,
) -> int:
    """Enter a revision: run ``command``, or ``script`` through the shell, or a shell, holding
    a claim on the revision (see ``claim``) for as long as they run."""
    env = session_environ(metadata, revision_dir, container, using_remote)
    held = claim(revision_dir)
    argv = list(command) if command else _shell_command(container, using_remote, script, env)
    return launch(argv, env, wait=wait, keep_fd=held)
