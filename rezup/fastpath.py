"""The console entry point, and the lean ``rezup use NAME -- CMD`` path.

``rezup use`` runs before every farm job. For the common case (a ready revision, a command
after ``--``) this module loads only ``layout`` and ``session`` of the package, reads one
small ``revision.json``, and ``exec``\\ s the command. Anything else (a pull, a build, an
interactive shell, an error to explain) is handed to the full command line, which applies the
same rules from the same modules.

Nothing imports this module: it is the top of the package.
"""

from __future__ import annotations

import os
import sys

from rezup import layout, session

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional


class Use:
    """``rezup use [NAME] [--local] [--revision TS] -- CMD...``, parsed."""

    __slots__ = ("command", "local_only", "name", "revision")

    def __init__(self, name: str, local_only: bool, revision: str, command: list[str]) -> None:
        self.name, self.local_only, self.revision, self.command = \
            name, local_only, revision, command


def parse_use(argv: list[str]) -> Optional[Use]:
    """The parsed command if ``argv`` is a plain ``use ... -- CMD``, else None."""
    own, command = session.split_command(argv)
    own = [arg for arg in own if arg != "--no-upgrade"]  # handled before: see main()
    if not command:
        return None
    if not own:
        return Use(layout.DEFAULT_CONTAINER, False, "", command)
    if own[0] != "use":
        return None
    name: Optional[str] = None
    local_only, revision = False, ""
    args = iter(own[1:])
    for arg in args:
        if arg == "--local":
            local_only = True
        elif arg == "--revision":
            revision = next(args, "")
            if not layout.is_timestamp(revision):
                return None
        elif arg.startswith("--revision="):
            revision = arg[len("--revision="):]
            if not layout.is_timestamp(revision):
                return None
        elif arg.startswith("-") or name is not None:
            return None
        else:
            name = arg
    if name is None:
        name = layout.DEFAULT_CONTAINER
    return Use(name, local_only, revision, command) if layout.is_valid_container_name(name) \
        else None


def try_use(argv: list[str]) -> Optional[int]:
    """Run ``rezup use`` for a ready revision with no import beyond the bare minimum.

    Returns None (having done nothing) whenever the full command line must decide.
    """
    use = parse_use(argv)
    if use is None:
        return None
    try:
        local, remote = layout.container_roots(use.name)
        remote_revisions = None if use.local_only or remote is None else \
            layout.revisions_dir(remote, use.name)
        local_revisions = layout.revisions_dir(local, use.name)
        if use.revision:  # a rollback: that revision, if it is ready here
            revision, using_remote, metadata = use.revision, None, None
        else:
            revision, using_remote, metadata = layout.choose_revision(
                local_revisions, remote_revisions, _warn)
            if revision is None:
                return None
        revision_dir = os.path.join(local_revisions, revision)
        if metadata is None:
            metadata = layout.read_metadata(revision_dir)
        if metadata is None or "session" not in metadata:
            return None  # a remote revision not pulled here yet, or one made by rezup 2.x
        if using_remote is None:
            using_remote = bool(layout.pulled_from(metadata))
        env = session.session_environ(metadata, revision_dir, use.name, using_remote)
        session.claim(revision_dir)
    except Exception:  # whatever it is, the full path explains it
        return None
    return session.launch(use.command, env)


def _warn(message: str) -> None:
    sys.stderr.write(f"rezup: warning: {message}\n")


def run_site_init(own: list[str]) -> Optional[int]:
    """Run the ``[init] script`` of ``~/rezup.toml``, in this process (as rezup 2.x did), so
    what it sets (roots, index settings, session variables) affects all that follows.

    Returns an exit status when it fails (after one error line), else None.
    """
    script = None
    try:
        script = layout.site_init_script()
        if script is None:
            return None
        with open(script, encoding="utf-8") as stream:
            code = compile(stream.read(), script, "exec")
        exec(code, {"__name__": "__rezup_init__", "__file__": script,
                    "__builtins__": __builtins__})
    except Exception as exc:  # a broken site script: say which and why, in one line
        if "-D" in own or "--debug" in own:
            import traceback

            traceback.print_exc()
        from rezup.errors import RecipeError, one_line

        if isinstance(exc, RecipeError) or script is None:
            sys.stderr.write(f"rezup: error: {one_line(exc)}\n")
            return 2
        reason = "not found" if isinstance(exc, FileNotFoundError) else \
            f"{type(exc).__name__}: {one_line(exc)}"
        sys.stderr.write(f"rezup: error: [init] script {script} failed: {reason}\n")
        return 1
    return None


def main() -> None:
    """Console entry point: site customisation, then (when due) the upgrade check, then the
    lean path when it applies, else the full command line."""
    argv = sys.argv[1:]
    own = session.split_command(argv)[0]
    failed = run_site_init(own)
    if failed is not None:
        sys.exit(failed)
    if layout.upgrade_check_due(own):
        from rezup.operations.upgrade import upgrade_at_launch

        upgrade_at_launch(argv)  # restarts the same command line after an upgrade
    code = try_use(argv)
    if code is not None:
        sys.exit(code)
    from rezup.cli import run

    run()
