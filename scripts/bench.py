#!/usr/bin/env python3
"""Benchmark harness for rezup: build speed, ``rezup use`` start-up, pulls, peak memory.

Run from the repository (standard library only, Python 3.9+)::

    python scripts/bench.py --quick              # about 3-5 minutes
    python scripts/bench.py                      # the full run (7 rounds, 40 use runs)
    python scripts/bench.py --only add-minimal,use --markdown bench.md
    python scripts/bench.py --only add-second,add-same,pull-second,farm64 --markdown new.md
    python scripts/bench.py --list               # the cases and what each one runs

Every case runs INTERLEAVED with the others: round 1 runs each case once, round 2 again, and
so on; cases with fewer runs are spread evenly over the rounds. Noise thus hits all alike.

Cases:

* ``add-{minimal,studio}-{warm,cold}/{rezup,uv,orig}``: ``rezup add --skip-use`` in a fresh
  HOME (recipe as ``~/rezup.toml``) and a fresh ``REZUP_ROOT_LOCAL``; the same venvs and
  installs made by bare uv (``uv venv --seed`` + ``uv pip install --compile-bytecode``, one lane
  per venv, lanes in parallel as rezup builds them); and the original tool (rezup-api 2.6.0 +
  rezup 2.1.1, installed here into a throw-away venv). Warm: one shared cache (uv, pip and
  virtualenv), filled by one untimed run of each case. Cold: fresh empty caches every run.
* ``use/*``: ``rezup use -- PY -c pass`` against ``PY -c pass`` itself, where PY is the python
  of the revision's rez venv; for rezup with 1, 100, 1,000 and 10,000 revisions in the
  container (the extra ones are fake, older, "ready" revisions without venvs: the real one's
  top-level files hard-linked, a revision.json of their own; one more is made and removed
  with ``rezup drop --revision`` so that rezup's record of the container is up to date), and
  for the original tool. ``use/floor`` is the floor of any launcher: rezup's own python
  started with ``-I -S`` that ``os.execv``'s ``PY -c pass``.
* ``pull/*``: ``rezup use -- PY -c pass`` with a remote root holding one revision of the
  minimal recipe and an empty local root (so the revision is built from the remote plan),
  against ``rezup add --skip-use`` of the same recipe; warm cache.
* ``add-second/{rezup,orig,uv}``: a timed ``add --skip-use`` into a container that already
  holds one ready revision (rez + six==1.16.0), built untimed in the same run folder by the same
  tool just before; the recipe now pins six==1.17.0 (one pin changed). ``uv``: the floor of
  the second set in a fresh folder. ``add-same/{rezup,orig}``: the same with the recipe
  unchanged (an identical plan). Warm cache.
* ``pull-second/{node-with-previous,fresh-node}``: ``rezup use -- PYTHON -c pass`` against a
  remote root holding revision A (rez + six==1.16.0) and a newer B (six==1.17.0): on a local
  root that pulled A just before (untimed, from a remote root holding only A), and on an
  empty local root. Warm cache.
* ``add-forty/{rezup,uv}``: rez and 40 pinned packages in ``[rez] lib`` (requests, numpy,
  pandas, cryptography, lxml, pillow, pydantic, ...), resolved online; warm cache.
* ``use-http/*``, ``burst-http/*``: ``rezup use`` with a remote root served over HTTP, beside
  one on a folder (``benchkit/http_cases.py``).
* ``farm64/{one,sixty-four}``: the pull of the minimal remote revision into a fresh local root
  by one ``rezup use -- PYTHON -c pass``, and by 64 of them started at once on the same root
  (wall time until the last exits); every one must succeed, and one revision be built.

Untimed work a run needs in its own folder (the first revision, the pull of A) is done right
before it and flushed to disk (``os.sync``), so that its writes do not land in the timed run.

Each command runs under a small wrapper process that times it and reports the max RSS of its
process tree (``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the largest single process).
rezup is only ever called through its command line. Everything lives in one temporary folder,
removed at the end unless ``--keep``; the real HOME and ~/.rezup are never touched. The folders
of a run are removed only after all runs (removing them between runs slows the next run down).

Standard library only. This file parses the options and runs the parts in ``benchkit/``: the
cases (``cases.py``), the runner (``runner.py``) and the report (``report.py``).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path
from typing import Optional

# `python scripts/bench.py` puts scripts/ on sys.path, but not under -I or -P (PYTHONSAFEPATH).
_SCRIPTS = str(Path(__file__).resolve().parent)
if _SCRIPTS not in sys.path:
    sys.path.insert(0, _SCRIPTS)

from benchkit.cases import ORIG_REQUIREMENTS, CaseBuilder, Setup, select  # noqa: E402
from benchkit.report import machine_info, markdown_report, text_report  # noqa: E402
from benchkit.runner import Runner, schedule, warm_up  # noqa: E402
from benchkit.util import log, remove_tree  # noqa: E402
from benchkit.workspace import Workspace  # noqa: E402

DEFAULT_ROUNDS, QUICK_ROUNDS = 7, 3
DEFAULT_USE_RUNS, QUICK_USE_RUNS = 40, 20


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark rezup against bare uv and the original rezup, interleaved.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"short run: {QUICK_ROUNDS} rounds of add/pull, {QUICK_USE_RUNS} runs of use",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"runs of each add and pull case (default {DEFAULT_ROUNDS}, "
        f"{QUICK_ROUNDS} with --quick)",
    )
    parser.add_argument(
        "--use-runs",
        type=int,
        help=f"runs of each use case (default {DEFAULT_USE_RUNS}, {QUICK_USE_RUNS} with --quick)",
    )
    parser.add_argument(
        "--only",
        metavar="NAME,...",
        help="cases to run: ids, groups or prefixes (add, add-minimal, "
        "add-studio-cold, use, pull, add-*/orig ...); see --list",
    )
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--markdown", metavar="FILE", help="also write the results as Markdown")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (revisions, caches, logs)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds before one run is killed (default 900)",
    )
    parser.add_argument(
        "--rezup", metavar="PATH", help="the rezup command to measure (default: the repo's .venv)"
    )
    parser.add_argument(
        "--baseline",
        metavar="PATH",
        help="another rezup command (e.g. an older checkout's) to measure "
        "beside this one in the use and add-minimal-warm cases",
    )
    parser.add_argument(
        "--importtime",
        action="store_true",
        help="also show the slowest imports of `rezup use` (python -X importtime)",
    )
    parser.add_argument(
        "--rusage",
        action="store_true",
        help="measure max RSS with getrusage in the wrapper, not GNU time",
    )
    parser.add_argument(
        "--index",
        choices=("machine", "pypi-like"),
        default="machine",
        help="the package index every tool resolves against: this machine's (default), or a "
        "mirror on 127.0.0.1 that answers with PyPI's own cache headers (benchkit/pypi_like.py)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print every run")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS
    if args.use_runs is None:
        args.use_runs = QUICK_USE_RUNS if args.quick else DEFAULT_USE_RUNS
    if args.rounds < 1 or args.use_runs < 1:
        parser.error("--rounds and --use-runs must be at least 1")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    ws = Workspace(args.rezup, args.keep, args.rusage, args.baseline)
    index = None
    if args.index == "pypi-like":
        from benchkit.pypi_like import PypiLikeIndex

        index = PypiLikeIndex()
        index.start()
        ws.index_url = index.url
    try:
        setup = Setup(ws)
        builder = CaseBuilder(ws, setup)
        cases = select(builder.all_cases(args.rounds, args.use_runs), args.only)
        if args.list:
            for case in cases:
                print(f"{case.id:<31} x{case.runs:<3} {builder.describe(case)}")
            return 0
        mode = "quick" if args.quick else "full"
        settings = (
            f"Run: {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}, {mode}, "
            f"{args.rounds} runs per add/pull case, {args.use_runs} per use case, "
            "interleaved"
        )
        if index is not None:
            settings += ", against a local index with PyPI's cache headers (--index pypi-like)"
        machine = machine_info(ws)
        header_lines = ["rezup benchmark", settings]
        header_lines += [f"  {key:<17} {value}" for key, value in machine]
        header = "\n".join(header_lines)
        print(header, flush=True)
        runner = Runner(ws, args.timeout)
        log("setting up (untimed)...")
        started = time.monotonic()
        interrupted = False
        try:
            setup.prepare(cases)
            warm_up(runner, cases, args.verbose)
            if args.importtime and any(c.group == "use" and not c.blocked for c in cases):
                builder.importtime_report()
            log(f"running {len(cases)} cases interleaved...")
            schedule(runner, cases, args.verbose)
        except KeyboardInterrupt:
            interrupted = True
            log("interrupted: reporting what was measured so far")
        log(f"done in {time.monotonic() - started:.0f}s")
        if setup.orig_version:
            print(f"  {'original tool':<17} {' + '.join(ORIG_REQUIREMENTS)}: {setup.orig_version}")
        print(text_report(cases, ws.short), end="")
        if index is not None:
            print(
                f"local index: {index.requests} requests answered, "
                f"{index.upstream_requests} fetched from PyPI (the first time each)"
            )
        if args.markdown:
            Path(args.markdown).write_text(
                markdown_report(cases, machine, settings, setup.orig_version), encoding="utf-8"
            )
            print(f"Markdown written to {args.markdown}")
        # All runs are over (or interrupted): only now are their folders removed.
        runner.remove_after_runs()
        if ws.keep:
            print(f"kept: {ws.tmp}")
        return 130 if interrupted else 0
    finally:
        if "setup" in locals():
            setup.http.stop()
        if index is not None:
            index.stop()
        if not ws.keep:
            remove_tree(ws.tmp)


if __name__ == "__main__":
    sys.exit(main())
