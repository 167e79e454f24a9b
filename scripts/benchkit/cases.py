"""What is measured: the recipes, the untimed setup the cases need (the interpreter, the
original rezup 2.x, containers with 1 to 10,000 revisions, remote roots) and the commands of
every case: this repo's rezup, the bare-uv floor and the original tool."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import statistics
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from .util import IS_WINDOWS, last_words, log, quiet_run, venv_python, venv_rezup
from .workspace import Workspace

REZ_PIN = "rez==3.4.0"
STUDIO_LIBS = ("pyyaml==6.0.2", "six==1.17.0", "colorama==0.4.6")
ISOLATED_NAME, ISOLATED_PIN = "pipdeptree", "pipdeptree==2.23.4"
EDITABLE_NAME = "benchtool"
ORIG_REQUIREMENTS = ("rezup-api==2.6.0", "rezup==2.1.1")
FAKE_REVISION_COUNTS = (1, 100, 1000, 10000)
# The second-revision cases: the first revision pins SIX_FIRST, the second SIX_SECOND.
SIX_FIRST, SIX_SECOND = "six==1.16.0", "six==1.17.0"
# 40 distinct top-level names for `[rez] lib` (all wheels for CPython 3.11 on the index,
# checked with `uv pip compile --only-binary :all:`); pinned so the case stays the same build.
FORTY_LIBS = (
    "requests==2.34.2",
    "numpy==2.4.6",
    "pandas==3.1.1",
    "cryptography==50.0.2",
    "lxml==6.1.3",
    "pillow==13.0.0",
    "pydantic==2.14.3",
    "pyyaml==6.0.3",
    "six==1.17.0",
    "colorama==0.4.6",
    "click==8.5.1",
    "attrs==26.1.0",
    "jinja2==3.1.6",
    "markupsafe==3.0.4",
    "packaging==26.3",
    "python-dateutil==4.0.0",
    "pytz==2026.6",
    "certifi==2026.10.18",
    "idna==3.20",
    "urllib3==2.8.0",
    "charset-normalizer==3.5.2",
    "tqdm==4.70.1",
    "rich==15.0.0",
    "pygments==2.21.0",
    "psutil==7.2.2",
    "toml==0.10.2",
    "tomli==2.5.0",
    "typing-extensions==4.16.0",
    "filelock==4.2.11",
    "platformdirs==4.14.7",
    "jsonschema==4.26.0",
    "msgpack==1.2.4",
    "cffi==2.1.1",
    "pycparser==3.12",
    "wrapt==2.5.2",
    "decorator==5.3.1",
    "docutils==0.23",
    "sqlalchemy==2.1.9",
    "networkx==3.6.1",
    "simplejson==4.3.0",
)
FARM_JOBS = 64  # processes pulling one remote revision at once in farm64/sixty-four
# The launcher floor: a python started with -I -S that execs the command (os.execv).
LAUNCH_FLOOR = "import os,sys; os.execv(sys.argv[1], sys.argv[1:])"

# Lanes run in parallel; each is a list of commands run one after the other.
Lanes = list[list[list[str]]]
# A case's commands and environment for one run, given that run's folder.
Build = Callable[[Path], tuple[Lanes, dict[str, str]]]
# Untimed work in a run's folder before its timed commands (raises Blocked when it fails).
Prepare = Callable[[Path], None]
# A check after a successful run: the run's folder and its output; a reason when it failed.
Verify = Callable[[Path, str], Optional[str]]


class Blocked(Exception):
    """A case cannot run because something it needs could not be set up."""


@dataclass
class Outcome:
    seconds: Optional[float]
    rss_kb: int = 0
    error: Optional[str] = None
    command: Optional[list[str]] = None


@dataclass
class Case:
    id: str  # "add-minimal-warm/rezup"
    group: str  # "add-minimal-warm"
    label: str  # "rezup"
    runs: int
    build: Build
    needs: tuple[str, ...] = ()
    warmup: bool = False
    reuse_run_dir: bool = False  # use cases: nothing is written, no fresh folders needed
    prepare: Optional[Prepare] = None  # untimed, in the run's folder, before every run
    verify: Optional[Verify] = None  # after every successful run: did it do what it should?
    setup_note: str = ""  # what ``prepare`` does, for --list
    # lanes run without GNU time: its process per command is no part of what is measured
    # (64 jobs at once); the max RSS then comes from getrusage
    light: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    warmup_error: Optional[str] = None
    blocked: Optional[str] = None
    stopped: bool = False
    worked: bool = False  # one run (or the warm-up) succeeded
    failed: int = 0  # failed runs, the warm-up included

    def times(self) -> list[float]:
        return [o.seconds for o in self.outcomes if o.error is None and o.seconds is not None]

    def median(self) -> Optional[float]:
        times = self.times()
        return statistics.median(times) if times else None

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error is not None]

    def failure_summary(self) -> Optional[str]:
        if self.blocked:
            return self.blocked
        errors = Counter(o.error for o in self.failures())
        if not errors:
            return None
        return errors.most_common(1)[0][0]


# --------------------------------------------------------------------------------------------
# Recipes and revisions


def write_editable_package(root: Path) -> Path:
    """A tiny local project for the studio recipe's editable extension."""
    (root / "pyproject.toml").write_text(
        "[build-system]\n"
        'requires = ["hatchling"]\n'
        'build-backend = "hatchling.build"\n\n'
        "[project]\n"
        f'name = "{EDITABLE_NAME}"\n'
        'version = "0.1.0"\n'
        'requires-python = ">=3.8"\n\n'
        "[project.scripts]\n"
        f'{EDITABLE_NAME} = "{EDITABLE_NAME}:main"\n',
        encoding="utf-8",
    )
    package = root / EDITABLE_NAME
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text(
        "def main():\n    print('benchtool ok')\n    return 0\n", encoding="utf-8"
    )
    return root


def minimal_recipe(libs: tuple[str, ...] = ()) -> str:
    """The minimal recipe (rez only), with ``libs`` in ``[rez] lib`` when given."""
    lib = f"lib = [{', '.join(json.dumps(x) for x in libs)}]\n" if libs else ""
    return f'[rez]\nname = "rez"\nurl = "{REZ_PIN}"\n{lib}'


def studio_recipe(editable_src: Path) -> str:
    libs = ", ".join(f'"{lib}"' for lib in STUDIO_LIBS)
    return (
        f'[rez]\nname = "rez"\nurl = "{REZ_PIN}"\nlib = [{libs}]\n\n'
        f'[[extension]]\nname = "{ISOLATED_NAME}"\nurl = "{ISOLATED_PIN}"\n'
        "isolation = true\n\n"
        f'[[extension]]\nname = "{EDITABLE_NAME}"\nurl = {json.dumps(str(editable_src))}\n'
        "edit = true\n"
    )


def newest_revision(container: Path, short: Callable[[str], str]) -> Path:
    """The newest revision of ``container`` that has a revision.json (is ready)."""
    revisions = container / "revisions"
    stamped = []
    for entry in revisions.iterdir() if revisions.is_dir() else ():
        try:
            stamped.append((float(entry.name), entry))
        except ValueError:
            continue
    ready = [item for item in stamped if (item[1] / "revision.json").is_file()]
    if not ready:
        raise Blocked(f"no ready revision in {short(str(container))}")
    return max(ready)[1]


def add_fake_revisions(real: Path, count: int) -> str:
    """``count`` older revisions that look ready (no venvs): the top-level files of the real
    revision (rezup.toml, plan, session data...) and a revision.json of their own each.

    Fast enough for 10,000: the files are hard-linked (copied where links fail), and each
    revision.json is written with one ``os.write``. Returns the oldest one's name."""
    metadata = json.loads((real / "revision.json").read_text(encoding="utf-8"))
    shared = [
        entry
        for entry in real.iterdir()
        if entry.is_file() and not entry.name.startswith(".") and entry.name != "revision.json"
    ]
    oldest = float(real.name) - 86400.0
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for index in range(count):
        stamp = oldest - index * 61.0
        folder = real.parent / f"{stamp:.6f}"
        folder.mkdir()
        for source in shared:
            try:
                os.link(source, folder / source.name)
            except OSError:
                shutil.copyfile(source, folder / source.name)
        fake = dict(metadata, revision_path=str(folder), created=stamp, bench_fake=True)
        fd = os.open(folder / "revision.json", flags, 0o644)
        try:
            os.write(fd, json.dumps(fake, indent=2).encode("utf-8"))
        finally:
            os.close(fd)
    return folder.name


def sync_disk() -> None:
    """Flush the writes of an untimed setup, so that they do not land in the timed run."""
    if hasattr(os, "sync"):
        os.sync()


def wait_for_compilers(folder: Path, timeout: float = 300.0) -> None:
    """Wait until no compiler rezup started after a build (``bytecode_later.compile_later``, which
    holds ``{revision}/.compiling-{venv}`` locked while it runs) works under ``folder``:
    every measured run starts on a machine at rest, with the revisions it finds settled."""
    if IS_WINDOWS:
        return
    import fcntl

    deadline = time.monotonic() + timeout
    for lock in folder.glob("*/root/*/revisions/*/.compiling-*"):
        try:
            fd = os.open(lock, os.O_RDONLY)
        except OSError:
            continue
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise Blocked(f"a bytecode compiler still holds {lock}") from None
                    time.sleep(0.02)
        finally:
            os.close(fd)


def count_ready(container: Path) -> tuple[int, list[str]]:
    """The ready revisions of ``container`` and the names of the other entries (incomplete
    revisions, hidden leftovers) of its revisions folder."""
    ready, other = 0, []
    revisions = container / "revisions"
    for entry in revisions.iterdir() if revisions.is_dir() else ():
        if (
            entry.is_dir()
            and not entry.name.startswith(".")
            and (entry / "revision.json").is_file()
        ):
            ready += 1
        else:
            other.append(entry.name)
    return ready, other


# --------------------------------------------------------------------------------------------
# Untimed setup


class Setup:
    """What the cases need before they can run, each part made once and on demand
    (``ensure``); a part that fails blocks the cases needing it, not the others."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.editable_src = write_editable_package(ws.dir(f"src/{EDITABLE_NAME}"))
        self.recipes = {
            "minimal": minimal_recipe(),
            "studio": studio_recipe(self.editable_src),
            "six-first": minimal_recipe((SIX_FIRST,)),
            "six-second": minimal_recipe((SIX_SECOND,)),
            "forty": minimal_recipe(FORTY_LIBS),
        }
        self.python: Optional[str] = None  # the interpreter rezup builds venvs with
        self.use_python: Optional[str] = None  # the python of the use revision's rez venv
        self.orig_rezup: Optional[Path] = None
        self.orig_version = ""
        self.use_roots: dict[int, Path] = {}
        self.use_home = ws.tmp / "use" / "home"
        self.init_home = ws.tmp / "use" / "home-init"  # ~/rezup.toml with an [init] script
        self.orig_use_root = ws.tmp / "use" / "root-orig"
        self.remote_root = ws.tmp / "pull" / "remote"
        # pull-second: revision A alone (for the untimed pulls), and A with a newer B
        self.remote_first = ws.tmp / "pull-second" / "remote-a"
        self.remote_both = ws.tmp / "pull-second" / "remote-ab"
        self._errors: dict[str, str] = {}
        self._done: set[str] = set()
        from .http_cases import HttpSite

        self.http = HttpSite(self)  # use-http, burst-http: a remote root served over HTTP

    def prepare(self, cases: list[Case]) -> None:
        """Set up what every case needs; a case whose setup failed is marked blocked."""
        for case in cases:
            if case.blocked:
                continue
            try:
                for need in case.needs:
                    self.ensure(need)
            except Blocked as exc:
                case.blocked = f"setup failed: {exc}"

    def ensure(self, need: str) -> None:
        """Set up ``need`` once; on failure remember why (cases needing it are blocked)."""
        if need in self._done or need in self._errors:
            if need in self._errors:
                raise Blocked(self._errors[need])
            return
        started = time.monotonic()
        steps: dict[str, Callable[[], None]] = {
            "python": self._setup_python,
            "orig": self._setup_orig,
            "use": self._setup_use,
            "use-orig": self._setup_use_orig,
            "remote": self._setup_remote,
            "remote-second": self._setup_remote_second,
            "http": self.http.start,
        }
        for count in FAKE_REVISION_COUNTS:  # use-1 is part of "use"
            steps[f"use-{count}"] = (
                (lambda count=count: self._setup_use_container(count))
                if count != 1
                else (lambda: self.ensure("use"))
            )
        try:
            steps[need]()
        except Blocked as exc:
            self._errors[need] = str(exc)
            log(f"  setup {need}: FAILED: {exc}")
            raise
        self._done.add(need)
        log(f"  setup {need}: done ({time.monotonic() - started:.1f}s)")

    def failed(self, what: str, done: subprocess.CompletedProcess) -> Blocked:
        return Blocked(f"{what} failed: " + self.ws.short(last_words(done.stderr or done.stdout)))

    def _setup_python(self) -> None:
        """The interpreter rezup builds with, read from the plan of ``rezup add --dry-run``."""
        tmp = self.ws.tmp
        home = self.ws.make_home(tmp / "setup" / "python-home", self.recipes["minimal"])
        env = self.ws.add_env(home, tmp / "setup" / "python-root")
        done = quiet_run([str(self.ws.rezup), "add", "--dry-run"], env, home)
        match = re.search(r'^python = (".*")$', done.stdout, re.MULTILINE)
        if done.returncode != 0 or not match:
            raise Blocked(
                "`rezup add --dry-run` gave no plan: "
                + self.ws.short(last_words(done.stderr or done.stdout))
            )
        self.python = json.loads(match.group(1))

    def _setup_orig(self) -> None:
        """The original tool, installed into a throw-away venv of the temporary folder."""
        self.ensure("python")
        ws, venv = self.ws, self.ws.tmp / "orig-venv"
        env = ws.cache_env(ws.base_env(ws.misc_home), True, ws.misc_home)
        steps = [
            [ws.uv, "venv", "--quiet", "--no-project", "--python", str(self.python), str(venv)],
            [
                ws.uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(venv_python(venv)),
                *ORIG_REQUIREMENTS,
            ],
        ]
        for step in steps:
            done = quiet_run(step, env, ws.tmp)
            if done.returncode != 0:
                raise Blocked(
                    f"cannot install {' '.join(ORIG_REQUIREMENTS)}: "
                    + ws.short(last_words(done.stderr))
                )
        rezup = venv_rezup(venv)
        add_help = quiet_run([str(rezup), "add", "--help"], env, ws.tmp)
        use_help = quiet_run([str(rezup), "use", "--help"], env, ws.tmp)
        if "--skip-use" not in add_help.stdout:
            raise Blocked(
                "the original `rezup add` has no --skip-use: "
                + last_words(add_help.stdout + add_help.stderr)
            )
        if not re.search(r"\[-- |\s-- [\[{A-Za-z]", use_help.stdout):
            raise Blocked("the original `rezup use` takes no `-- command`")
        version = quiet_run([str(rezup), "--version"], env, ws.tmp)
        self.orig_version = ws.short(version.stdout.strip() or version.stderr.strip())
        self.orig_rezup = rezup
        log(f"  original tool: {' + '.join(ORIG_REQUIREMENTS)}: {self.orig_version}")

    def _rezup_add(
        self, home: Path, root: Path, *extra: str, env_extra: Optional[dict[str, str]] = None
    ) -> None:
        env = self.ws.add_env(home, root)
        env.update(env_extra or {})
        done = quiet_run([str(self.ws.rezup), "add", "--skip-use", *extra], env, home)
        if done.returncode != 0:
            raise self.failed(f"`rezup add --skip-use {' '.join(extra)}`", done)

    def _setup_use(self) -> None:
        """The container of the minimal recipe with one revision (its rez venv's python is
        PY), and the home with an [init] script. The containers with more revisions are made
        only for the cases that need them (``use-N``)."""
        self.ensure("python")
        self.ws.make_home(self.use_home, self.recipes["minimal"])
        self._write_init_home()
        self._setup_use_container(1)
        newest = newest_revision(self.use_roots[1] / ".main", self.ws.short)
        self.use_python = str(venv_python(newest / "venv" / "rez"))
        log(f"  use: PY = {self.ws.short(str(self.use_python))}")

    def _setup_use_container(self, count: int) -> None:
        """A container of the minimal recipe with ``count`` revisions: one real, the others
        fake and older. Checked through the CLI: the real revision is the one entered."""
        if count in self.use_roots:
            return
        if count != 1:
            self.ensure("use")
        root = self.ws.tmp / "use" / f"root-{count}"
        self._rezup_add(self.use_home, root)
        newest = newest_revision(root / ".main", self.ws.short)
        if count > 1:
            # One fake more, then `rezup drop` of it: the container is then as rezup leaves
            # it after any change of its revisions (its head of the listing, .newest, is up
            # to date), not one whose folder changed behind rezup's back.
            oldest = add_fake_revisions(newest, count)
            done = quiet_run(
                [str(self.ws.rezup), "drop", ".main", "--revision", oldest],
                self.ws.add_env(self.use_home, root),
                self.use_home,
            )
            if done.returncode != 0:
                raise self.failed(
                    f"`rezup drop .main --revision` of a fake revision ({count} revisions)", done
                )
            ready, _ = count_ready(root / ".main")
            if ready != count:
                raise Blocked(f"{ready} ready revisions after the drop, expected {count}")
        python = self.use_python or str(venv_python(newest / "venv" / "rez"))
        done = quiet_run(
            [
                str(self.ws.rezup),
                "use",
                "--",
                python,
                "-c",
                "import os; print(os.environ.get('REZUP_REVISION', ''))",
            ],
            self.ws.use_env(self.use_home, root),
            self.use_home,
        )
        entered = done.stdout.strip()
        if done.returncode != 0:
            raise Blocked(
                f"`rezup use` failed with {count} revisions: "
                + self.ws.short(last_words(done.stderr))
            )
        if entered and entered != newest.name:
            raise Blocked(
                f"with {count} revisions rezup entered {entered}, "
                f"not the newest real revision {newest.name}"
            )
        self.use_roots[count] = root

    def _write_init_home(self) -> None:
        """A home whose ~/rezup.toml runs the seeds' site script (python-dotenv on a .env)."""
        self.ws.make_home(
            self.init_home, self.recipes["minimal"] + '\n[init]\nscript = "~/site/init.py"\n'
        )
        site = self.init_home / "site"
        site.mkdir(exist_ok=True)
        (site / "init.py").write_text(
            "import os\nfrom dotenv import load_dotenv\n"
            "load_dotenv(os.path.splitext(__file__)[0] + '.env')\n",
            encoding="utf-8",
        )
        (site / "init.env").write_text("STUDIO=north\n", encoding="utf-8")

    def _setup_use_orig(self) -> None:
        """A container of the minimal recipe built by the original tool."""
        self.ensure("orig")
        self.ensure("use")
        env = self.ws.add_env(self.use_home, self.orig_use_root)
        done = quiet_run([str(self.orig_rezup), "add", "--skip-use"], env, self.use_home)
        if done.returncode != 0:
            raise self.failed("the original `rezup add --skip-use`", done)

    def _setup_remote(self) -> None:
        """A remote root holding one published revision of the minimal recipe."""
        self.ensure("python")
        tmp = self.ws.tmp
        home = self.ws.make_home(tmp / "pull" / "publisher-home", self.recipes["minimal"])
        self._rezup_add(
            home,
            tmp / "pull" / "publisher-local",
            "--remote",
            env_extra={"REZUP_ROOT_REMOTE": str(self.remote_root)},
        )
        newest_revision(self.remote_root / ".main", self.ws.short)

    def _setup_remote_second(self) -> None:
        """Two remote roots: ``remote_first`` holds revision A (minimal + SIX_FIRST), and
        ``remote_both`` the same A (copied: a remote revision holds only its recipe, plan
        and metadata) and a newer revision B (minimal + SIX_SECOND)."""
        self.ensure("python")
        base = self.ws.tmp / "pull-second"
        home_a = self.ws.make_home(base / "publisher-a", self.recipes["six-first"])
        self._rezup_add(
            home_a,
            base / "publisher-local",
            "--remote",
            env_extra={"REZUP_ROOT_REMOTE": str(self.remote_first)},
        )
        first = newest_revision(self.remote_first / ".main", self.ws.short)
        shutil.copytree(
            self.remote_first / ".main" / "revisions", self.remote_both / ".main" / "revisions"
        )
        home_b = self.ws.make_home(base / "publisher-b", self.recipes["six-second"])
        self._rezup_add(
            home_b,
            base / "publisher-local",
            "--remote",
            env_extra={"REZUP_ROOT_REMOTE": str(self.remote_both)},
        )
        second = newest_revision(self.remote_both / ".main", self.ws.short)
        if float(second.name) <= float(first.name):
            raise Blocked(f"remote revision B ({second.name}) is not newer than A ({first.name})")
        log(f"  remote-second: A = {first.name}, B = {second.name}")


# --------------------------------------------------------------------------------------------
# The cases and their commands


class CaseBuilder:
    """Every case, and the commands and environment of one of its runs. A case's commands
    are built when it runs, in that run's folder, from what ``Setup`` made by then."""

    def __init__(self, ws: Workspace, setup: Setup) -> None:
        self.ws = ws
        self.setup = setup

    def all_cases(self, rounds: int, use_runs: int) -> list[Case]:
        def use_case(label: str, build: Build, needs: tuple[str, ...]) -> Case:
            return Case(
                f"use/{label}",
                "use",
                label,
                use_runs,
                build,
                needs,
                warmup=True,
                reuse_run_dir=True,
            )

        cases = [
            use_case("python", self._build_use_python, ("use",)),
            use_case("floor", self._build_use_floor, ("use",)),
        ]
        for count in FAKE_REVISION_COUNTS:
            cases.append(
                use_case(f"rezup-{count}", self._build_use_rezup(count), ("use", f"use-{count}"))
            )
        cases.append(use_case("init", self._build_use_init, ("use",)))
        cases.append(use_case("orig", self._build_use_orig, ("use", "use-orig")))
        if self.ws.baseline:
            cases.append(
                use_case("baseline-1", self._build_use_rezup(1, self.ws.baseline), ("use",))
            )

        cases.append(
            Case(
                "pull/pull",
                "pull",
                "pull",
                rounds,
                self._build_pull,
                ("python", "remote"),
                warmup=True,
            )
        )
        cases.append(
            Case(
                "pull/add",
                "pull",
                "add",
                rounds,
                self._build_add("minimal", True),
                ("python",),
                warmup=True,
            )
        )

        for recipe in ("minimal", "studio"):
            for cache in ("warm", "cold"):
                group = f"add-{recipe}-{cache}"
                warm = cache == "warm"
                cases.append(
                    Case(
                        f"{group}/rezup",
                        group,
                        "rezup",
                        rounds,
                        self._build_add(recipe, warm),
                        ("python",),
                        warmup=warm,
                    )
                )
                cases.append(
                    Case(
                        f"{group}/uv",
                        group,
                        "uv",
                        rounds,
                        self._build_floor(recipe, warm),
                        ("python",),
                        warmup=warm,
                    )
                )
                cases.append(
                    Case(
                        f"{group}/orig",
                        group,
                        "orig",
                        rounds,
                        self._build_add(recipe, warm, original=True),
                        ("python", "orig"),
                        warmup=warm,
                    )
                )
                if self.ws.baseline and recipe == "minimal":
                    cases.append(
                        Case(
                            f"{group}/baseline",
                            group,
                            "baseline",
                            rounds,
                            self._build_add(recipe, warm, rezup=self.ws.baseline),
                            ("python",),
                            warmup=warm,
                        )
                    )
        cases += self._no_background_cases(rounds)
        cases += self._new_container_cases(rounds)
        cases += self._second_revision_cases(rounds)
        cases += self._pull_second_cases(rounds)
        cases.append(
            Case(
                "add-forty/rezup",
                "add-forty",
                "rezup",
                rounds,
                self._build_add("forty", True),
                ("python",),
                warmup=True,
            )
        )
        cases.append(
            Case(
                "add-forty/uv",
                "add-forty",
                "uv",
                rounds,
                self._build_floor("forty", True),
                ("python",),
                warmup=True,
            )
        )
        cases += self._farm_cases(rounds)
        from .http_cases import http_cases

        cases += http_cases(self, rounds, use_runs)
        return cases

    def _second_revision_cases(self, rounds: int) -> list[Case]:
        """add-second (one pin changed) and add-same (recipe unchanged): a timed ``add``
        into a container that already has one ready revision, built untimed in the same run
        folder by the same tool; warm cache. add-second/uv: the floor of the second set."""
        cases = []
        for group, second in (("add-second", "six-second"), ("add-same", "six-first")):
            for label in ("rezup", "orig"):
                original = label == "orig"
                tool = "the original rezup" if original else "rezup"
                cases.append(
                    Case(
                        f"{group}/{label}",
                        group,
                        label,
                        rounds,
                        self._build_add(second, True, original=original),
                        ("python", "orig") if original else ("python",),
                        warmup=True,
                        prepare=self._prepare_first_revision(second, original),
                        verify=self._expect_ready(2),
                        setup_note=f"untimed: {tool} add --skip-use of rez + {SIX_FIRST}, "
                        f"then the recipe of rez + {self._six(second)}; timed: ",
                    )
                )
            if group == "add-second":
                cases.append(
                    Case(
                        f"{group}/uv",
                        group,
                        "uv",
                        rounds,
                        self._build_floor(second, True),
                        ("python",),
                        warmup=True,
                    )
                )
        return cases

    def _no_background_cases(self, rounds: int) -> list[Case]:
        """``{add-minimal-warm,add-forty}/rezup-nobg``: ``rezup add --skip-use --no-background``,
        which returns only once the seed packages are compiled too, as the floor's
        ``uv pip install --compile-bytecode`` does (``/rezup`` compiles them just after)."""
        return [
            Case(
                f"{group}/rezup-nobg",
                group,
                "rezup-nobg",
                rounds,
                self._build_add(recipe, True, extra=("--no-background",)),
                ("python",),
                warmup=True,
            )
            for group, recipe in (("add-minimal-warm", "minimal"), ("add-forty", "forty"))
        ]

    def _new_container_cases(self, rounds: int) -> list[Case]:
        """add-new-container: the first revision of container ``show`` on a machine whose
        ``.main`` (rez, built untimed in the same run folder by the same tool) is ready:
        ``/rezup``, ``/orig`` with the same recipe, ``/rezup-other`` and ``/orig-other`` with rez +
        six (another plan: only the files are the same), ``/uv`` the floor of rez + six."""
        cases = []
        for label, original, recipe in (
            ("rezup", False, "minimal"),
            ("orig", True, "minimal"),
            ("rezup-other", False, "six-first"),
            ("orig-other", True, "six-first"),
        ):
            tool = "the original rezup" if original else "rezup"
            cases.append(
                Case(
                    f"add-new-container/{label}",
                    "add-new-container",
                    label,
                    rounds,
                    self._build_add(recipe, True, original=original, container="show"),
                    ("python", "orig") if original else ("python",),
                    warmup=True,
                    prepare=self._prepare_main(recipe, original),
                    setup_note=f"untimed: {tool} add --skip-use of rez in .main; "
                    f"~/rezup.show.toml: {'rez' if recipe == 'minimal' else 'rez + ' + SIX_FIRST}"
                    "; timed: ",
                )
            )
        cases.append(
            Case(
                "add-new-container/uv",
                "add-new-container",
                "uv",
                rounds,
                self._build_floor("six-first", True),
                ("python",),
                warmup=True,
            )
        )
        cases.append(
            Case(
                "add-new-container/resolve",
                "add-new-container",
                "resolve",
                rounds,
                self._build_resolve("minimal"),
                ("python",),
                warmup=True,
            )
        )
        return cases

    def _build_resolve(self, recipe: str) -> Build:
        """The resolve alone, as any tool that installs the newest matching versions must make
        it: bare ``uv pip compile --generate-hashes`` of the recipe's requirements and the venv
        seeds (what rezup's plan pins; the benchmark's Python is 3.11), warm cache."""

        def build(run_dir: Path):
            home = self.ws.make_home(run_dir / "home", self.setup.recipes[recipe])
            env = self.ws.cache_env(self.ws.base_env(home), True, run_dir)
            lanes = []
            for name, requirements in self.floor_venvs(recipe):
                listed = run_dir / f"requirements-{name}.in"
                seeds = ["pip", "setuptools", "wheel"]  # the seeds before Python 3.12, as pinned
                listed.write_text("\n".join([*requirements, *seeds]) + "\n", encoding="utf-8")
                lanes.append(
                    [
                        [
                            self.ws.uv,
                            "pip",
                            "compile",
                            "--quiet",
                            "--generate-hashes",
                            "--python",
                            str(self.setup.python),
                            "--output-file",
                            str(run_dir / f"requirements-{name}.txt"),
                            str(listed),
                        ]
                    ]
                )
            return lanes, env

        return build

    def _prepare_main(self, show_recipe: str, original: bool) -> Prepare:
        """In a run's folder: HOME with the minimal recipe, ``.main``'s first revision built by
        the tool (untimed), and ``~/rezup.show.toml``."""

        def prepare(run_dir: Path) -> None:
            home = self.ws.make_home(run_dir / "home", self.setup.recipes["minimal"])
            env = self.ws.add_env(home, run_dir / "root", True, run_dir)
            command = self.setup.orig_rezup if original else self.ws.rezup
            done = quiet_run([str(command), "add", "--skip-use"], env, home)
            if done.returncode != 0:
                raise self.setup.failed("the .main revision's add", done)
            newest_revision(run_dir / "root" / ".main", self.ws.short)
            (home / "rezup.show.toml").write_text(self.setup.recipes[show_recipe], encoding="utf-8")
            sync_disk()

        return prepare

    def _six(self, recipe: str) -> str:
        return SIX_SECOND if recipe == "six-second" else SIX_FIRST

    def _prepare_first_revision(self, second: str, original: bool) -> Prepare:
        """In a run's folder: HOME with the first recipe, a first revision built by the tool
        (untimed), then the recipe of the timed ``add`` (``second``) in its place."""

        def prepare(run_dir: Path) -> None:
            home = self.ws.make_home(run_dir / "home", self.setup.recipes["six-first"])
            env = self.ws.add_env(home, run_dir / "root", True, run_dir)
            command = self.setup.orig_rezup if original else self.ws.rezup
            done = quiet_run([str(command), "add", "--skip-use"], env, home)
            if done.returncode != 0:
                raise self.setup.failed("the first revision's add", done)
            newest_revision(run_dir / "root" / ".main", self.ws.short)
            self.ws.make_home(home, self.setup.recipes[second])
            sync_disk()

        return prepare

    def _pull_second_cases(self, rounds: int) -> list[Case]:
        """pull-second: ``rezup use -- PYTHON -c pass`` against a remote root with revisions
        A and a newer B (one pin changed), on a node that already pulled A (untimed, from a
        remote root holding only A) and on a fresh node (empty local root); warm cache."""
        needs = ("python", "remote-second")
        return [
            Case(
                "pull-second/node-with-previous",
                "pull-second",
                "node-with-previous",
                rounds,
                self._build_pull_second,
                needs,
                warmup=True,
                prepare=self._prepare_pull_first,
                verify=self._expect_ready(2),
                setup_note="untimed: rezup use -- PYTHON -c pass from a remote with only A; "
                "timed: ",
            ),
            Case(
                "pull-second/fresh-node",
                "pull-second",
                "fresh-node",
                rounds,
                self._build_pull_second,
                needs,
                warmup=True,
                verify=self._expect_ready(1),
            ),
        ]

    @staticmethod
    def _expect_ready(count: int) -> Verify:
        """A check that the run's local root holds ``count`` ready revisions after the run
        (a second revision was really made, not a failure hidden behind a zero exit)."""

        def verify(run_dir: Path, _output: str) -> Optional[str]:
            ready, other = count_ready(run_dir / "root" / ".main")
            if ready != count or other:
                return f"{ready} ready revision(s) in the local root, expected {count}" + (
                    f"; also {', '.join(sorted(other))}" if other else ""
                )
            return None

        return verify

    def _pull_env(self, run_dir: Path, remote: Path) -> dict[str, str]:
        home = self.ws.make_home(run_dir / "home", self.setup.recipes["minimal"])
        env = self.ws.add_env(home, run_dir / "root", True, run_dir)
        env["REZUP_ROOT_REMOTE"] = str(remote)
        return env

    def pull_command(self) -> list[str]:
        return [str(self.ws.rezup), "use", "--", str(self.setup.python), "-c", "pass"]

    def _prepare_pull_first(self, run_dir: Path) -> None:
        """A local root that pulled revision A (from the remote root holding only A)."""
        env = self._pull_env(run_dir, self.setup.remote_first)
        done = quiet_run(self.pull_command(), env, run_dir)
        if done.returncode != 0:
            raise self.setup.failed("the pull of revision A", done)
        ready, _ = count_ready(run_dir / "root" / ".main")
        if ready != 1:
            raise Blocked(f"the pull of revision A left {ready} ready revisions, not 1")
        sync_disk()

    def _build_pull_second(self, run_dir: Path):
        return [[self.pull_command()]], self._pull_env(run_dir, self.setup.remote_both)

    def _farm_cases(self, rounds: int) -> list[Case]:
        """farm64: the pull of one remote revision (the minimal recipe) into a fresh local
        root by one process, and by FARM_JOBS processes at once on the same fresh root (wall
        time until the last exits); every process must succeed and one revision be built."""
        cases = []
        for label, jobs in (("one", 1), ("sixty-four", FARM_JOBS)):
            cases.append(
                Case(
                    f"farm64/{label}",
                    "farm64",
                    label,
                    rounds,
                    self._build_farm(jobs),
                    ("python", "remote"),
                    warmup=True,
                    verify=self._verify_farm,
                    light=True,
                )
            )
        cases.append(
            Case(
                "farm64/sixty-four-ready",
                "farm64",
                "sixty-four-ready",
                rounds,
                self._build_farm(FARM_JOBS),
                ("python", "remote"),
                warmup=True,
                prepare=self._prepare_farm_ready,
                verify=self._expect_ready(1),
                light=True,
                setup_note="untimed: one pull of the revision; timed: ",
            )
        )
        return cases

    def _prepare_farm_ready(self, run_dir: Path) -> None:
        """The revision the jobs ask for, pulled already (by one process, untimed)."""
        env = self._pull_env(run_dir, self.setup.remote_root)
        done = quiet_run(self.pull_command(), env, run_dir)
        if done.returncode != 0:
            raise self.setup.failed("the pull of the revision", done)
        sync_disk()

    def _build_farm(self, jobs: int) -> Build:
        def build(run_dir: Path):
            env = self._pull_env(run_dir, self.setup.remote_root)
            return [[self.pull_command()] for _ in range(jobs)], env

        return build

    @classmethod
    def _verify_farm(cls, run_dir: Path, output: str) -> Optional[str]:
        """One ready revision and nothing else in the root; one process pulled it."""
        problem = cls._expect_ready(1)(run_dir, output)
        if problem:
            return problem
        builds = len(re.findall(r"^rezup: (?:\[[\d:]+\] )?pulling revision ", output, re.MULTILINE))
        if builds > 1:
            return f"{builds} processes pulled the revision, expected 1"
        return None

    def floor_venvs(self, recipe: str) -> list[tuple[str, list[str]]]:
        """(venv name, uv pip install arguments) for the venvs rezup makes from ``recipe``."""
        if recipe == "minimal":
            return [("rez", [REZ_PIN])]
        if recipe in ("six-first", "six-second"):
            return [("rez", [REZ_PIN, self._six(recipe)])]
        if recipe == "forty":
            return [("rez", [REZ_PIN, *FORTY_LIBS])]
        return [
            ("rez", [REZ_PIN, *STUDIO_LIBS, "-e", str(self.setup.editable_src)]),
            (ISOLATED_NAME, [ISOLATED_PIN, REZ_PIN]),
        ]

    def _build_add(
        self,
        recipe: str,
        warm: bool,
        original: bool = False,
        rezup: Optional[Path] = None,
        *,
        container: str = "",
        extra: tuple[str, ...] = (),
    ) -> Build:
        """``rezup add [CONTAINER] --skip-use [EXTRA]`` (this repo's, the ``original`` tool's,
        or ``rezup``) in a fresh HOME and local root (``.main``'s recipe is ``recipe``; a
        ``container``'s recipe is written by the case's ``prepare``)."""

        def build(run_dir: Path):
            home = run_dir / "home"
            if not container:
                self.ws.make_home(home, self.setup.recipes[recipe])
            env = self.ws.add_env(home, run_dir / "root", warm, run_dir)
            command = self.setup.orig_rezup if original else (rezup or self.ws.rezup)
            name = [container] if container else []
            return [[[str(command), "add", *name, "--skip-use", *extra]]], env

        return build

    def _build_floor(self, recipe: str, warm: bool) -> Build:
        """The same venvs made by bare uv: one lane a venv, lanes in parallel."""

        def build(run_dir: Path):
            home = self.ws.make_home(run_dir / "home", self.setup.recipes[recipe])
            env = self.ws.cache_env(self.ws.base_env(home), warm, run_dir)
            uv, lanes = self.ws.uv, []
            for name, requirements in self.floor_venvs(recipe):
                venv = run_dir / "root" / "venv" / name
                lanes.append(
                    [
                        [uv, "venv", "--seed", "--python", str(self.setup.python), str(venv)],
                        [
                            uv,
                            "pip",
                            "install",
                            "--compile-bytecode",
                            "--python",
                            str(venv_python(venv)),
                            *requirements,
                        ],
                    ]
                )
            return lanes, env

        return build

    def use_command(self) -> list[str]:
        return [str(self.setup.use_python), "-c", "pass"]

    def _build_use_python(self, _run_dir: Path):
        env = self.ws.use_env(self.setup.use_home, self.setup.use_roots[1])
        return [[self.use_command()]], env

    def _build_use_floor(self, _run_dir: Path):
        """The floor of any Python launcher: python -I -S (rezup's own python), exec PY."""
        env = self.ws.use_env(self.setup.use_home, self.setup.use_roots[1])
        command = [str(self.ws.rezup_python), "-I", "-S", "-c", LAUNCH_FLOOR, *self.use_command()]
        return [[command]], env

    def _build_use_rezup(self, count: int, rezup: Optional[Path] = None) -> Build:
        def build(_run_dir: Path):
            env = self.ws.use_env(self.setup.use_home, self.setup.use_roots[count])
            return [[[str(rezup or self.ws.rezup), "use", "--", *self.use_command()]]], env

        return build

    def _build_use_init(self, _run_dir: Path):
        env = self.ws.use_env(self.setup.init_home, self.setup.use_roots[1])
        return [[[str(self.ws.rezup), "use", "--", *self.use_command()]]], env

    def _build_use_orig(self, _run_dir: Path):
        env = self.ws.use_env(self.setup.use_home, self.setup.orig_use_root)
        return [[[str(self.setup.orig_rezup), "use", "--", *self.use_command()]]], env

    def _build_pull(self, run_dir: Path):
        home = self.ws.make_home(run_dir / "home", self.setup.recipes["minimal"])
        env = self.ws.add_env(home, run_dir / "root", True, run_dir)
        env["REZUP_ROOT_REMOTE"] = str(self.setup.remote_root)
        return [[[str(self.ws.rezup), "use", "--", str(self.setup.python), "-c", "pass"]]], env

    def describe(self, case: Case) -> str:
        """The commands of ``case`` for ``--list``, with placeholders for what the setup
        would make (nothing is set up for a listing)."""
        setup = self.setup
        try:
            setup.python = setup.python or "PYTHON"
            setup.use_python = setup.use_python or "PY"
            setup.orig_rezup = setup.orig_rezup or Path("ORIG/bin/rezup")
            setup.use_roots = setup.use_roots or {
                n: Path(f"ROOT-{n}") for n in FAKE_REVISION_COUNTS
            }
            lanes, _ = case.build(self.ws.tmp / "RUN")
        except Exception as exc:  # only a listing
            return f"({exc})"

        def show(lane: list[list[str]]) -> str:
            return " && ".join(self.ws.short(subprocess.list2cmdline(c)) for c in lane)

        if len(lanes) > 1 and all(lane == lanes[0] for lane in lanes):
            text = f"{len(lanes)} at once: {show(lanes[0])}"
        else:
            text = " & ".join(show(lane) for lane in lanes)
        return (case.setup_note + text).replace("$TMP/RUN", "$RUN")

    def importtime_report(self) -> None:
        """Which imports ``rezup use`` spends its start-up on (``python -X importtime``)."""
        env = self.ws.use_env(self.setup.use_home, self.setup.use_roots[1])
        done = quiet_run(
            [
                str(self.ws.rezup_python),
                "-X",
                "importtime",
                str(self.ws.rezup),
                "use",
                "--",
                *self.use_command(),
            ],
            env,
            self.setup.use_home,
        )
        rows = []
        for line in done.stderr.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[0].startswith("import time:"):
                try:
                    rows.append((int(parts[1]), int(parts[0].split(":")[1]), parts[2].rstrip()))
                except ValueError:
                    continue
        top = [r for r in rows if not r[2].startswith("  ")]
        log("  import time of `rezup use` (cumulative, top level, microseconds):")
        for cumulative, own, name in sorted(top, reverse=True)[:12]:
            log(f"    {cumulative:>8} {own:>8}  {name.strip()}")


def _matches(case: Case, token: str) -> bool:
    return (
        case.id == token
        or case.group == token
        or case.id.startswith((token + "-", token + "/"))
        or fnmatch.fnmatch(case.id, token)
    )


def select(cases: list[Case], only: Optional[str]) -> list[Case]:
    """The cases ``--only`` names (ids, groups, prefixes or patterns); ``use/python`` comes
    with any use case, as the reference the others are compared to."""
    if not only:
        return cases
    tokens = [t.strip() for t in only.split(",") if t.strip()]
    chosen = [case for case in cases if any(_matches(case, token) for token in tokens)]
    unknown = [t for t in tokens if not any(_matches(c, t) for c in cases)]
    if unknown:
        raise SystemExit(f"bench: --only: no case matches {', '.join(unknown)} (see --list)")
    if any(c.group == "use" for c in chosen) and not any(c.id == "use/python" for c in chosen):
        chosen.insert(0, next(c for c in cases if c.id == "use/python"))
    return chosen
