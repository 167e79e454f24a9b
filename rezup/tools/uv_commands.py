"""Every uv command line rezup runs: ``uv venv``, ``uv pip install``, ``uv pip compile``, pylock
files, wheels (finding an interpreter is ``pythons``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Optional

from rezup.ground.errors import UvError
from rezup.tools import uv_options, uv_process

log = logging.getLogger("rezup")


def create_venv(
    path: Path, python: str, *, seed: bool = True, options: Sequence[str] = (), env=None
) -> None:
    """``uv venv``: a fresh venv at ``path``.

    With ``seed`` it is seeded with pip (and setuptools and wheel before Python 3.12) from the
    index of ``options``, as plans of earlier rezup versions need. Without it, nothing is
    asked of any index: the plan pins the seed packages and they are installed with the rest.
    """
    args = ["venv", "--no-project", "--quiet", "--python", python, "--no-python-downloads"]
    if seed:
        index, _ = uv_options.split_index_options(options)
        args = [*args, "--seed", *index]
    uv_process.run([*args, str(path)], env=env, what=f"creating venv {path.name}")


def pip_install(
    python: Path,
    requirements_file: Path,
    *,
    options: Sequence[str] = (),
    env=None,
    what: str = "installing",
    target: Optional[Path] = None,
    on_line: Optional[Callable[[str], None]] = None,
    compile_bytecode: bool = True,
    cache_first: bool = False,
) -> None:
    """``uv pip install --no-deps`` of a fully pinned requirements file.

    ``cache_first``: try ``--offline`` first, and ask the index only if uv's cache lacks
    something. For pins resolved moments ago against the same cache (``add``) or pulled
    before: the index pages uv would ask for again are the ones it has, and a wheel in the
    cache is checked against the pinned hash all the same (uv records a file's hash when it
    downloads it).

    The file comes from ``uv pip compile``: the whole closure is pinned, so there is nothing
    left to resolve and ``--no-deps`` skips a second resolution. ``compile_bytecode`` has uv
    compile what it installed; without it uv compiles nothing, whatever ``UV_COMPILE_BYTECODE``
    or a uv.toml say (a revision's venvs are compiled by ``rezup.stages.bytecode`` instead, which
    reuses an earlier revision's bytecode).
    """
    args = [
        "pip",
        "install",
        *_quiet_unless(on_line),
        "--no-deps",
        "--compile-bytecode" if compile_bytecode else "--no-compile-bytecode",
        "--python",
        str(python),
        "-r",
        str(requirements_file),
    ]
    if target is not None:
        args += ["--target", str(target)]
    # uv refuses --no-compile-bytecode beside the variable, whatever its value
    unset = () if compile_bytecode else ("UV_COMPILE_BYTECODE",)
    if cache_first and not {"--offline", "--no-index"} & set(options):
        try:
            uv_process.run(
                [*args, *options, "--offline"], env=env, what=what, on_line=on_line, unset=unset
            )
            return
        except UvError as exc:
            log.debug("%s: not everything is in uv's cache (%s); asking the index", what, exc)
    uv_process.run([*args, *options], env=env, what=what, on_line=on_line, unset=unset)


def pip_compile(
    requirements: str,
    python: str,
    *,
    options: Sequence[str] = (),
    env=None,
    what: str = "resolving",
    on_line: Optional[Callable[[str], None]] = None,
) -> str:
    """``uv pip compile`` the requirements text for ``python``; return the pinned text."""
    args = [
        "pip",
        "compile",
        "-",
        *_quiet_unless(on_line),
        "--no-header",
        "--no-annotate",
        "--generate-hashes",
        "--python",
        python,
        "--no-python-downloads",
    ]
    return uv_process.run(
        [*args, *options], env=env, input_text=requirements, what=what, on_line=on_line
    )


def _quiet_unless(on_line: Optional[Callable[[str], None]]) -> list[str]:
    """``--quiet`` when nobody listens to uv's progress lines."""
    return ["--quiet"] if on_line is None else []


def compile_pylock(
    requirements: str,
    python: str,
    *,
    options: Sequence[str] = (),
    env=None,
    what: str,
    cache_first: bool = False,
    no_deps: bool = False,
) -> str:
    """``uv pip compile`` to a PEP 751 ``pylock.toml``: every file's URL and hash.

    ``no_deps``: ``requirements`` are a closed set (a venv's pins, for its standard lock):
    nothing is resolved again, so a machine of another platform gets no package the plan does
    not pin (a dependency under a platform marker), as the install (``--no-deps``) gets none.
    Without it their dependencies are added (the wheelhouse: the seed packages of a plan of
    an earlier rezup, which pins none, with what they need).

    ``cache_first``: try ``--offline`` first (uv's cache alone, a few tens of milliseconds for
    pins resolved or installed moments ago), and ask the index only if that fails, as
    ``pip_install`` does.
    """
    args = [
        "pip",
        "compile",
        "-",
        "--quiet",
        "--no-header",
        "--format",
        "pylock.toml",
        *(["--no-deps"] if no_deps else []),
        "--python",
        python,
        "--no-python-downloads",
    ]
    if cache_first and not {"--offline", "--no-index"} & set(options):
        try:
            return uv_process.run(
                [*args, *options, "--offline"], env=env, input_text=requirements, what=what
            )
        except UvError as exc:
            log.debug("%s: not everything is in uv's cache (%s); asking the index", what, exc)
    return uv_process.run([*args, *options], env=env, input_text=requirements, what=what)


def build_wheel(source: Path, python: str, out_dir: Path, *, env=None, what: str) -> None:
    """``uv build --wheel`` of an sdist or a source folder into ``out_dir``."""
    uv_process.run(
        [
            "build",
            "--wheel",
            "--python",
            python,
            "--no-python-downloads",
            "--out-dir",
            str(out_dir),
            str(source),
        ],
        env=env,
        what=what,
    )
