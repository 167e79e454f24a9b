"""What ``rezup use`` costs with a remote root served over HTTP (issue 20), side by side with the
same revision and a remote root on a folder.

Cases (the minimal recipe, published once to a folder; Python's ``http.server`` serves it):

* ``use-http/{python,folder,fresh,every-job,down-first,down-later}``: ``rezup use -- PY -c pass``
  in a local root that pulled the revision already: ``python`` is ``PY -c pass`` alone;
  ``folder``, the remote root on a folder; ``fresh``, the remote root's URL with this machine's
  copy of its index fresh (``REZUP_REMOTE_INDEX_MAX_AGE`` one year: the lean path);
  ``every-job``, the URL with ``REZUP_REMOTE_INDEX_MAX_AGE=0`` (every job fetches the index);
  ``down-first``, the URL of a server that is gone (connection refused), the failure not
  recorded (``REZUP_PULL_RETRY=0``: what the first job after the server went down pays);
  ``down-later``, the same with the failure recorded by an earlier job (the jobs after it).
* ``pull-http/{pull-folder,pull-url}``: the first job on a machine: ``rezup use -- PY -c
  pass`` with an empty local root pulls the revision, from the folder and over HTTP (warm uv
  cache).
* ``burst-http/{folder,url}``: 16 such jobs started at once (wall time until the last exits),
  on the folder remote and on the URL with this machine's copy of the index too old (removed
  before each run, untimed): one job fetches it, the others wait for its copy.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .util import log, quiet_run, venv_python

if TYPE_CHECKING:
    from .cases import Case, CaseBuilder, Setup

BURST_JOBS = 16


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HttpSite:
    """The published minimal revision served over HTTP, and local roots that pulled it."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.base = setup.ws.tmp / "use-http"
        self.server: Optional[subprocess.Popen] = None
        # placeholders until ``start`` (what --list shows)
        self.url = "http://127.0.0.1:PORT"
        self.gone_url = "http://127.0.0.1:GONE"  # it served the down cases' pulls, then went
        self.roots: dict[str, Path] = {}
        self.python = "PY"

    def start(self) -> None:
        """Serve the remote root; pull its revision into one local root per case."""
        setup = self.setup
        setup.ensure("remote")
        setup.ensure("use")
        self.url, self.server = self._serve(setup.remote_root)
        gone_url, gone = self._serve(setup.remote_root)
        self.base.mkdir(parents=True, exist_ok=True)
        try:
            for name, url in (
                ("folder", str(setup.remote_root)),
                ("url", self.url),
                ("down-first", gone_url),
                ("down-later", gone_url),
            ):
                root = self.base / f"root-{name}"
                env = {**setup.ws.use_env(setup.use_home, root), "REZUP_ROOT_REMOTE": url}
                command = [str(setup.ws.rezup), "use", "--", sys.executable, "-c", "pass"]
                done = quiet_run(command, env, self.base)
                if done.returncode != 0:
                    raise setup.failed(f"the pull from {url}", done)
                self.roots[name] = root
        finally:
            gone.terminate()
            gone.wait()
        self.gone_url = gone_url
        from .cases import newest_revision

        pulled = newest_revision(self.roots["url"] / ".main", setup.ws.short)
        self.python = str(venv_python(pulled / "venv" / "rez"))
        log(f"  use-http: {self.url} (and {gone_url}, gone)")

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.server.wait(5)
            self.server = None

    def _serve(self, folder: Path) -> tuple[str, subprocess.Popen]:
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
            cwd=str(folder),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return f"http://127.0.0.1:{port}", server
            except OSError:
                import time

                time.sleep(0.05)
        server.kill()
        from .cases import Blocked

        raise Blocked("http.server did not start")

    # -- what each case runs -----------------------------------------------------------------

    def env(self, case: str) -> dict[str, str]:
        setup = self.setup
        key = "url" if case in ("fresh", "every-job", "burst-url") else case
        root = self.roots.get(key, Path(f"ROOT-{key}"))
        env = setup.ws.use_env(setup.use_home, root)
        env["REZUP_ROOT_REMOTE"] = {
            "folder": str(setup.remote_root),
            "down-first": self.gone_url,
            "down-later": self.gone_url,
        }.get(case, self.url)
        # the down cases: this machine's copy of the index is too old, the server is asked
        env["REZUP_REMOTE_INDEX_MAX_AGE"] = {
            "every-job": "0",
            "burst-url": "5",
            "down-first": "0",
            "down-later": "0",
        }.get(case, str(365 * 86400))
        env["REZUP_PULL_RETRY"] = "0" if case == "down-first" else str(365 * 86400)
        return env

    def command(self) -> list[str]:
        return [str(self.setup.ws.rezup), "use", "--", self.python, "-c", "pass"]


def http_cases(builder: CaseBuilder, rounds: int, use_runs: int) -> list[Case]:
    from .cases import Case

    site: HttpSite = builder.setup.http

    def use_case(label: str) -> Case:
        def build(_run_dir: Path):
            if label == "python":
                return [[[site.python, "-c", "pass"]]], site.env("fresh")
            return [[site.command()]], site.env(label)

        return Case(
            f"use-http/{label}",
            "use-http",
            label,
            use_runs,
            build,
            ("http",),
            warmup=True,
            reuse_run_dir=True,
            verify=_fell_back if label.startswith("down") else None,
        )

    def burst_case(label: str) -> Case:
        def build(_run_dir: Path):
            env = site.env("folder" if label == "folder" else "burst-url")
            return [[site.command()] for _ in range(BURST_JOBS)], env

        def prepare(_run_dir: Path) -> None:
            with contextlib.suppress(FileNotFoundError):
                (site.roots["url"] / ".main" / ".remote-index").unlink()

        return Case(
            f"burst-http/{label}",
            "burst-http",
            label,
            rounds,
            build,
            ("http",),
            warmup=True,
            reuse_run_dir=True,
            prepare=prepare if label == "url" else None,
            light=True,
            setup_note="untimed: this machine's copy of the index removed; timed: "
            if label == "url"
            else "",
        )

    def pull_case(label: str) -> Case:
        def build(run_dir: Path):
            env = site.setup.ws.use_env(site.setup.use_home, run_dir / "root")
            env["REZUP_ROOT_REMOTE"] = (
                str(site.setup.remote_root) if label == "folder" else site.url
            )
            return [[site.command()]], env

        return Case(
            f"pull-http/pull-{label}",
            "pull-http",
            f"pull-{label}",
            rounds,
            build,
            ("http",),
            warmup=True,
        )

    labels = ("python", "folder", "fresh", "every-job", "down-first", "down-later")
    return [
        *map(use_case, labels),
        burst_case("folder"),
        burst_case("url"),
        pull_case("folder"),
        pull_case("url"),
    ]


def _fell_back(_run_dir: Path, output: str) -> Optional[str]:
    """A down case must have run the command in the revision pulled before, saying so."""
    if "pulled before" not in output:
        return "the job did not fall back to the revision pulled before"
    return None
