"""The ``rezup use NAME -- CMD`` start-up path, kept lean on purpose.

``rezup use`` runs before every farm job, so this module imports nothing but ``os``, ``sys``
and ``json`` (``tomllib`` only when a recipe has a ``[root]`` table, ``re`` only when an
``[env]`` value holds ``${``, python-dotenv only when the revision lists dotenv files). The
full modules (``container``, ``session``, ``recipe``) call these same functions, so there is
one implementation of each rule.

``try_use`` handles the common case (a ready revision, a command after ``--``) and returns
None for anything else (a pull, a build, an interactive shell, an error to explain), which the
click CLI then handles in full.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds to import; annotations are never evaluated here
    from typing import Any, Optional

DEFAULT_CONTAINER_NAME = ".main"
METADATA_FILENAME = "revision.json"  # the ready marker
REVISIONS_DIRNAME = "revisions"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-")


# -- names, recipes and roots ------------------------------------------------------------------


def is_valid_container_name(name: str) -> bool:
    """Letters, digits, ``_ . + -``; not starting with ``-``; no ``..``; not ``.`` alone."""
    return (
        bool(name)
        and name not in (".", "..")
        and ".." not in name
        and not name.startswith(("-", "+"))
        and all(char in _NAME_CHARS for char in name)
    )


def recipe_file(name: str) -> str:
    """``~/rezup.toml`` for the default container, ``~/rezup.NAME.toml`` for any other."""
    home = os.path.expanduser("~")
    if name == DEFAULT_CONTAINER_NAME:
        return os.path.join(home, "rezup.toml")
    return os.path.join(home, f"rezup.{name}.toml")


def raw_root_settings(path: str) -> Optional[dict[str, Any]]:
    """The ``[root]`` table of the recipe at ``path`` as written, or None if there is none.

    Raises OSError / ValueError (TOML errors are ValueErrors) for the caller to report.
    """
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        return None
    if "root" not in text:  # no [root] table: skip the TOML parser altogether
        return None
    from rezup._compat import tomllib

    return tomllib.loads(text).get("root")


def anchor_path(value: str, base_dir: str) -> str:
    """Expand ``~`` and make a relative path relative to ``base_dir``."""
    return os.path.abspath(os.path.join(base_dir, os.path.expanduser(value)))


def local_root(recipe_root: str = "") -> str:
    """The recipe's ``[root] local``, else ``$REZUP_ROOT_LOCAL``, else ``~/.rezup``."""
    root = recipe_root or os.environ.get("REZUP_ROOT_LOCAL") or "~/.rezup"
    return os.path.abspath(os.path.expanduser(root))


def remote_root(recipe_root: str = "") -> Optional[str]:
    """The recipe's ``[root] remote``, else ``$REZUP_ROOT_REMOTE``, else None."""
    root = recipe_root or os.environ.get("REZUP_ROOT_REMOTE")
    return os.path.abspath(os.path.expanduser(root)) if root else None


# -- revisions -----------------------------------------------------------------------------------


def is_timestamp(name: str) -> bool:
    """A revision folder name: digits with an optional fraction (not "nan", "1e9", "1_0")."""
    whole, _, fraction = name.partition(".")
    return whole.isdigit() and whole.isascii() and (
        not fraction or (fraction.isdigit() and fraction.isascii())
    )


def revision_names(revisions_dir: str, latest_first: bool = True) -> list[str]:
    """Timestamp-named entries of ``revisions_dir``, ordered by time."""
    try:
        names = [n for n in os.listdir(revisions_dir) if is_timestamp(n)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    names.sort(key=float, reverse=latest_first)
    return names


def latest_ready(revisions_dir: str) -> Optional[str]:
    """Name of the newest revision whose ``revision.json`` exists (the ready marker)."""
    for name in revision_names(revisions_dir):
        if os.path.isfile(os.path.join(revisions_dir, name, METADATA_FILENAME)):
            return name
    return None


def read_metadata(revision_dir: str) -> dict[str, Any]:
    with open(os.path.join(revision_dir, METADATA_FILENAME), encoding="utf-8") as stream:
        return json.load(stream)


# -- the session environment ---------------------------------------------------------------------


def expand_vars(value: str, env: dict[str, str]) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}`` from ``env``; unknown variables become ''."""
    if "${" not in value:
        return value
    import re

    pattern = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
    return pattern.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)


def load_dotenv_file(path: str, env: dict[str, str]) -> dict[str, str]:
    """Values of one dotenv file (python-dotenv syntax, ``${VAR}`` from ``env`` and the file)."""
    import io

    from dotenv import dotenv_values

    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        sys.stderr.write(f"rezup: warning: dotenv file not found: {path}\n")
        return {}
    except OSError as exc:
        sys.stderr.write(f"rezup: warning: cannot read dotenv file {path}: {exc}\n")
        return {}
    values: dict[str, str] = {}
    for key, value in dotenv_values(stream=io.StringIO(text), interpolate=False).items():
        if value is not None:
            values[key] = expand_vars(value, {**env, **values})
    return values


def session_environ(
    metadata: dict[str, Any],
    revision_dir: str,
    container: str,
    using_remote: bool,
    base: Optional[dict[str, str]] = None,
) -> dict[str, str]:
    """The environment of a session: process env, dotenv files, ``[env]``, ``REZUP_*``, PATH."""
    env = dict(os.environ if base is None else base)
    session = metadata.get("session") or {}
    for path in session.get("dotenv", ()):
        env.update(load_dotenv_file(path, env))
    for key, value in session.get("env", ()):
        env[key] = expand_vars(value, env)
    env["REZUP_CONTAINER"] = container
    env["REZUP_USING_REMOTE"] = "yes" if using_remote else ""
    env["REZUP_REVISION"] = os.path.basename(revision_dir)
    bin_dirs = [os.path.join(revision_dir, d) for d in production_bin_dirs(metadata)]
    env["PATH"] = os.pathsep.join([*bin_dirs, env.get("PATH", "")]).rstrip(os.pathsep)
    return env


def production_bin_dirs(metadata: dict[str, Any]) -> list[str]:
    """Bin folders (relative to the revision) of the rez venv and isolated extension venvs."""
    session = metadata.get("session") or {}
    dirs = session.get("bin_dirs")
    if dirs is None:  # a rezup 2.x revision
        bin_dirname = "Scripts" if os.name == "nt" else "bin"
        dirs = [f"venv/{name}/{bin_dirname}/rez" for name in metadata.get("venvs", [])]
    return list(dirs)


# -- launching -------------------------------------------------------------------------------------


def launch(argv: list[str], env: dict[str, str], wait: bool = True) -> int:
    """Run ``argv`` in ``env``. On POSIX, when waiting, rezup *becomes* the command (exec):
    nothing of rezup stays in memory and the exit code is the command's own."""
    if wait and os.name != "nt":
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.execvpe(argv[0], argv, env)
        except OSError as exc:
            sys.stderr.write(f"rezup: error: cannot run {argv[0]}: {exc.strerror or exc}\n")
            return 127 if isinstance(exc, FileNotFoundError) else 126
    import shutil
    import subprocess

    if os.name == "nt":
        argv = [shutil.which(argv[0], path=env.get("PATH")) or argv[0], *argv[1:]]
    try:
        if not wait:
            subprocess.Popen(argv, env=env, start_new_session=os.name != "nt")
            return 0
        return subprocess.call(argv, env=env)
    except OSError as exc:
        sys.stderr.write(f"rezup: error: cannot run {argv[0]}: {exc.strerror or exc}\n")
        return 127 if isinstance(exc, FileNotFoundError) else 126


# -- the fast path itself --------------------------------------------------------------------------


def parse_use(argv: list[str]) -> Optional[tuple[str, bool, list[str]]]:
    """``(name, local_only, command)`` if ``argv`` is ``[use [NAME]] [--local] -- CMD...``."""
    if "--" not in argv:
        return None
    split = argv.index("--")
    own, command = argv[:split], argv[split + 1:]
    if not command:
        return None
    if not own:
        return DEFAULT_CONTAINER_NAME, False, command
    if own[0] != "use":
        return None
    local_only = "--local" in own
    rest = [arg for arg in own[1:] if arg != "--local"]
    if len(rest) > 1 or (rest and rest[0].startswith("-")):
        return None
    name = rest[0] if rest else DEFAULT_CONTAINER_NAME
    return (name, local_only, command) if is_valid_container_name(name) else None


def try_use(argv: list[str]) -> Optional[int]:
    """Run ``rezup use`` for a ready revision with no import beyond the bare minimum.

    Returns None (having done nothing) whenever the full CLI must decide.
    """
    parsed = parse_use(argv)
    if parsed is None or os.environ.get("REZUP_CONTAINER"):
        return None
    name, local_only, command = parsed
    try:
        path = recipe_file(name)
        root = raw_root_settings(path) or {}
        if not isinstance(root, dict):
            return None
        local_setting, remote_setting = (root.get("local") or ""), (root.get("remote") or "")
        if not isinstance(local_setting, str) or not isinstance(remote_setting, str):
            return None
        base_dir = os.path.dirname(path)
        local = local_root(anchor_path(local_setting, base_dir) if local_setting else "")
        remote = None if local_only else remote_root(
            anchor_path(remote_setting, base_dir) if remote_setting else "")
        local_revisions = os.path.join(local, name, REVISIONS_DIRNAME)
        using_remote = False
        if remote is not None:
            wanted = latest_ready(os.path.join(remote, name, REVISIONS_DIRNAME))
            if wanted is not None:
                if not os.path.isfile(os.path.join(local_revisions, wanted, METADATA_FILENAME)):
                    return None  # it needs a pull
                revision = wanted
                using_remote = True
            else:
                revision = latest_ready(local_revisions)
        else:
            revision = latest_ready(local_revisions)
        if revision is None:
            return None
        revision_dir = os.path.join(local_revisions, revision)
        env = session_environ(read_metadata(revision_dir), revision_dir, name, using_remote)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None  # the full path explains what is wrong
    return launch(command, env)


def main() -> None:
    """Console entry point: the fast path when it applies, else the full click CLI."""
    code = try_use(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from rezup.cli import main as cli_main

    cli_main()
