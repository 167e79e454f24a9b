"""The console entry point, and the lean ``rezup use NAME -- CMD`` path.

``rezup use`` runs before every farm job. For the common case (a ready revision, a command
after ``--``) this module loads only the lean modules of ``ground`` and ``runtime.session``,
reads the revision's metadata (its ``revision.marshal`` copy: no ``json``), and ``exec``\\ s the
command. A job whose remote revision another process is pulling waits here too, blocked on
that pull's lock (``wait_for_pull``), then enters it. Anything else (a pull, a build, an
interactive shell, an error to explain) is handed to the full command line, which applies the
same rules from the same modules.

The lean modules are loaded by ``_load_lean_modules`` from the bytecode Python cached for them,
without the import system's search and machinery: with one module a job, those cost about
0.05 ms a module, 0.4 ms of a 10 ms ``use`` (BENCHMARKS.md, "Layers in the tree"). So
``python -X importtime`` and ``-v`` count them within ``rezup.entry``.

Nothing imports this module: it is the top of the package.
"""

import os
import sys

# The lean modules below rezup.entry, each after those it imports, and whether it is a package.
_LEAN_MODULES = (
    ("rezup.ground", True),
    ("rezup.ground.paths", False),
    ("rezup.ground.revision_json", False),
    ("rezup.ground.root_settings", False),
    ("rezup.ground.upgrade_check", False),
    ("rezup.ground.newest", False),
    ("rezup.runtime", True),
    ("rezup.runtime.session", False),
)


def _load_lean_modules() -> None:
    """Load the lean modules as the import system would, from the ``.pyc`` files it cached for
    them (``__pycache__``), without its search: the same module objects (spec, loader,
    ``__file__``, ``__cached__``), each set on its package.

    Only where the search would end with these very files: rezup's folder served by the
    standard file finder, no other finder taking the module (an import hook), a
    timestamp-checked ``.pyc`` of the source as it is now (the import system's own check), no
    ``-O``, no ``PYTHONPYCACHEPREFIX``. (A compiled extension module beside a lean one would
    be passed over: rezup ships none.) At the first doubt it stops, and the imports below
    load the rest as usual, writing fresh ``.pyc`` files. Runs once, when the console script
    starts, before any other thread.
    """
    bootstrap = sys.modules.get("_frozen_importlib")
    external = sys.modules.get("_frozen_importlib_external")
    package = sys.modules.get("rezup")
    tag = sys.implementation.cache_tag
    if (
        bootstrap is None
        or external is None
        or package is None
        or tag is None
        or sys.flags.optimize
        or sys.pycache_prefix is not None
        or len(package.__path__) != 1
    ):
        return
    root = package.__path__[0]
    if type(sys.path_importer_cache.get(root)) is not external.FileFinder:
        return  # the search would not end in a plain folder (a zip, an import hook)
    stock = (bootstrap.BuiltinImporter, bootstrap.FrozenImporter, external.PathFinder)
    others = [finder for finder in sys.meta_path if finder not in stock]
    import _imp
    import io
    import marshal

    magic = external.MAGIC_NUMBER + b"\0\0\0\0"  # flags 0: checked by the source's mtime
    sep = os.sep
    code_type = type(_load_lean_modules.__code__)
    for name, is_package in _LEAN_MODULES:
        if name in sys.modules:
            continue
        parent_name, _, child = name.rpartition(".")
        parent = sys.modules[parent_name]
        folder = f"{parent.__path__[0]}{sep}{child}" if is_package else parent.__path__[0]
        stem = "__init__" if is_package else child
        source = f"{folder}{sep}{stem}.py"
        cached = f"{folder}{sep}__pycache__{sep}{stem}.{tag}.pyc"
        try:
            if others and any(finder.find_spec(name, parent.__path__) for finder in others):
                return  # another finder takes it (an import hook): its import, as usual
            stat = os.stat(source)
            with io.open_code(cached) as stream:  # as the import system reads it (PEP 578)
                data = stream.read()
            mtime, size = int(stat.st_mtime) & 0xFFFFFFFF, stat.st_size & 0xFFFFFFFF
            if data[:16] != magic + (mtime | size << 32).to_bytes(8, "little"):
                return  # stale, or of another kind: the import system compiles it again
            code = marshal.loads(memoryview(data)[16:])
            if type(code) is not code_type:
                return
            # a .pyc compiled in another folder (a wheel's) names its source there
            _imp._fix_co_filename(code, source)  # type: ignore[attr-defined]
        except Exception:
            return
        loader = external.SourceFileLoader(name, source)
        spec = bootstrap.ModuleSpec(name, loader, origin=source, is_package=is_package)
        spec.has_location = True
        spec.cached = cached
        module = type(sys)(name)
        module.__dict__.update(
            __spec__=spec,
            __loader__=loader,
            __package__=name if is_package else parent_name,
            __file__=source,
            __cached__=cached,
        )
        if is_package:
            module.__path__ = spec.submodule_search_locations = [folder]
        sys.audit("import", name, None, sys.path, sys.meta_path, sys.path_hooks)
        sys.modules[name] = module
        try:
            exec(code, module.__dict__)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        setattr(parent, child, sys.modules[name])


_load_lean_modules()

# What _load_lean_modules did not load (and what mypy and import-linter read): the usual way.
from rezup.ground import newest, paths, revision_json, root_settings, upgrade_check  # noqa: E402
from rezup.runtime import session  # noqa: E402

# On the `rezup use` path: no `from __future__ import annotations` (an import of its own,
# ~0.15 ms) and no typing (milliseconds); annotations naming typing's types are strings.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional


class Use:
    """``rezup use [NAME] [--local] [--revision TS] -- CMD...``, parsed."""

    __slots__ = ("command", "local_only", "name", "revision")

    def __init__(self, name: str, local_only: bool, revision: str, command: "list[str]") -> None:
        self.name, self.local_only, self.revision, self.command = (
            name,
            local_only,
            revision,
            command,
        )


def parse_use(argv: "list[str]") -> "Optional[Use]":
    """The parsed command if ``argv`` is a plain ``use ... -- CMD``, else None."""
    own, command = session.split_command(argv)
    own = [arg for arg in own if arg != "--no-upgrade"]  # handled before: see main()
    if not command:
        return None
    if not own:
        return Use(paths.DEFAULT_CONTAINER, False, "", command)
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
            if not paths.is_timestamp(revision):
                return None
        elif arg.startswith("--revision="):
            revision = arg[len("--revision=") :]
            if not paths.is_timestamp(revision):
                return None
        elif arg.startswith("-") or name is not None:
            return None
        else:
            name = arg
    if name is None:
        name = paths.DEFAULT_CONTAINER
    return Use(name, local_only, revision, command) if paths.is_valid_container_name(name) else None


def try_use(argv: "list[str]") -> "Optional[int]":
    """Run ``rezup use`` for a ready revision with no import beyond the bare minimum.

    Returns None (having done nothing) whenever the full command line must decide.
    """
    use = parse_use(argv)
    if use is None:
        return None
    try:
        local, remote = root_settings.container_roots(use.name)
        remote_revisions = (
            None
            if use.local_only or remote is None
            else root_settings.remote_revisions(remote, use.name)
        )
        local_revisions = paths.revisions_dir(local, use.name)
        revision: Optional[str]
        if use.revision:  # a rollback: that revision, if it is ready here
            revision, using_remote, metadata = use.revision, None, None
        else:
            try:
                revision, using_remote, metadata = newest.choose_revision(
                    local_revisions, remote_revisions, _warn, fall_back=True
                )
            except newest.StaleIndex as stale:  # served over HTTP: is its index being fetched?
                from rezup.ground import remote_index

                if not remote_index.await_fetch(
                    stale.local_container, stale.url, newest.remote_timeout()
                ):
                    if newest.recent_remote_failure(stale.local_container) is None:
                        return None  # this process fetches it: the command line, holding the lock
                    # the fetch it waited for failed: nothing to fetch, fall back (below)
                    remote_index.release_fetch_lock(
                        remote_index.fetch_lock_file(stale.local_container)
                    )
                revision, using_remote, metadata = newest.choose_revision(
                    local_revisions, remote_revisions, _warn, float("inf"), fall_back=True
                )
            if revision is None:
                return None
        revision_dir = os.path.join(local_revisions, revision)
        if metadata is None:
            metadata = revision_json.read_metadata(revision_dir)
        if metadata is None and using_remote:  # not pulled here yet: is it being pulled?
            metadata = wait_for_pull(use.name, local, revision)
        if metadata is None or "session" not in metadata:
            return None  # a remote revision not pulled here yet, or one made by rezup 2.x
        if using_remote is None:
            using_remote = bool(revision_json.pulled_from(metadata))
        env = session.session_environ(metadata, revision_dir, use.name, using_remote)
        session.claim(revision_dir)
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM or SIGHUP while waiting
        return _interrupted(getattr(exc, "signum", 2))
    except Exception:  # whatever it is, the full path explains it
        return None
    return session.launch(use.command, env)


def wait_for_pull(name: str, local_root: str, stamp: str) -> "Optional[dict]":
    """The metadata of the local twin of remote revision ``stamp`` once another process has
    pulled it, waiting for that process here, blocked on its native lock: no command line
    to load, no polling. None (having waited, or not) when the command line must act: this
    process is to pull it (it then holds the lock, handed over with ``build_lock.adopt``), the
    pull failed (the command line falls back), or the locks here are soft (NFS).
    """
    if os.name == "nt":
        return None
    import time

    from rezup.ground import lock_policy

    locks = paths.locks_dir(local_root, name)
    revision_dir = os.path.join(paths.revisions_dir(local_root, name), stamp)
    failure = paths.pull_failure_file(local_root, name, stamp)
    lock_path = paths.lock_file(local_root, name, stamp)
    if lock_policy.agreed_lock_kind(locks) != "native":
        return None
    os.makedirs(locks, exist_ok=True)
    timeout = lock_policy.lock_timeout()
    started = None
    while True:
        if os.path.exists(failure):  # failed lately: the command line's retry rule decides
            break
        fd = lock_policy.take(lock_path)
        if fd is not None:  # nobody pulls it: this process will, unless it is ready now
            metadata = _usable(revision_dir)
            if metadata is not None or os.path.exists(failure):
                os.close(fd)
                return metadata
            _hand_over(lock_path, started, fd)
            return None
        if started is None:
            started = time.monotonic()
            if timeout > 0:
                sys.stderr.write(
                    f"rezup: waiting for another process to finish pulling "
                    f"revision {stamp} of {name} (lock {lock_path})\n"
                )
                sys.stderr.flush()
        left = timeout - (time.monotonic() - started)
        if left <= 0 or not lock_policy.wait_until_free(lock_path, left, interruptible=True):
            break  # the time is up: the command line says so, and records it
        metadata = _usable(revision_dir)
        if metadata is not None:
            return metadata
    _hand_over(lock_path, started, None)
    return None


def _usable(revision_dir: str) -> "Optional[dict]":
    try:
        return revision_json.read_metadata(revision_dir)
    except ValueError:
        return None


def _hand_over(lock_path: str, waiting_since: "Optional[float]", fd: "Optional[int]") -> None:
    """Tell the command line, loaded next in this process, what was done here: it holds the
    lock (``fd``) or has waited for it since ``waiting_since`` and said so."""
    from rezup.tools import build_lock

    if fd is not None:
        build_lock.adopt(lock_path, fd)
    if waiting_since is not None:
        build_lock.note_waiting(lock_path, waiting_since)


def _interrupted(signum: int) -> int:
    from rezup.ground.errors import interrupted_line

    sys.stderr.write(interrupted_line(signum))
    return 128 + signum


def _warn(message: str) -> None:
    sys.stderr.write(f"rezup: warning: {message}\n")


def run_site_init(own: "list[str]") -> "Optional[int]":
    """Run the ``[init] script`` of ``~/rezup.toml``, in this process (as rezup 2.x did), so
    what it sets (roots, index settings, session variables) affects all that follows.

    Returns an exit status when it fails (after one error line), else None.
    """
    script = None
    try:
        script = root_settings.site_init_script()
        if script is None:
            return None
        with open(script, encoding="utf-8") as stream:
            code = compile(stream.read(), script, "exec")
        exec(code, {"__name__": "__rezup_init__", "__file__": script, "__builtins__": __builtins__})
    except Exception as exc:  # a broken site script: say which and why, in one line
        if "-D" in own or "--debug" in own:
            import traceback

            traceback.print_exc()
        from rezup.ground.errors import RecipeError, one_line

        if isinstance(exc, RecipeError) or script is None:
            sys.stderr.write(f"rezup: error: {one_line(exc)}\n")
            return 2
        reason = (
            "not found"
            if isinstance(exc, FileNotFoundError)
            else f"{type(exc).__name__}: {one_line(exc)}"
        )
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
    if upgrade_check.upgrade_check_due(own):
        from rezup.operations.upgrade import upgrade_at_launch

        upgrade_at_launch(argv)  # restarts the same command line after an upgrade
    code = try_use(argv)
    if code is not None:
        sys.exit(code)
    from rezup.cli import run

    run()
