"""End to end: real uv, real rez 3.4.0 from the index, real revisions, real rez commands."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import (
    REZ_PIN,
    REZ_RECIPE,
    Sandbox,
    copy_package,
    find_pyenv_python,
    lean_use_imports,
    make_rez_repository,
    make_sandbox,
    rez_recipe,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Sandbox:
    """One sandbox with one ready revision of .main (rez only), shared by read-only tests."""
    box = make_sandbox(tmp_path_factory.mktemp("built"))
    box.write_recipe(REZ_RECIPE)
    box.rezup("add", "--skip-use", check=True)
    return box


def rez_venv(revision: Path) -> Path:
    return revision / "venv" / "rez"


def interpreter_line(script: Path) -> str:
    """The interpreter and flags a script runs with, for both forms distlib writes: a plain
    shebang, or (when the path is too long for the kernel) a /bin/sh line that execs it."""
    lines = script.read_text().splitlines()
    if lines[0] == "#!/bin/sh":
        return lines[1].removeprefix("'''exec' ").replace(' "$0" "$@"', "")
    return lines[0].removeprefix("#!")


def test_add_makes_one_ready_production_revision(built: Sandbox):
    revisions = built.revisions()
    assert len(revisions) == 1
    revision = revisions[0]
    assert (revision / "revision.json").is_file()
    assert (revision / "rezup.toml").read_text() == (built.home / "rezup.toml").read_text()

    venv = rez_venv(revision)
    bin_rez = venv / "bin" / "rez"
    assert bin_rez.is_dir(), "uv's bin/rez script must give way to the production folder"
    assert (bin_rez / ".rez_production_install").read_text().strip() == "3.4.0"
    for name in ("rez", "rez-env", "rez-pip", "rez-build", "rezolve", "_rez_fwd"):
        script = bin_rez / name
        assert script.is_file(), name
        assert os.access(script, os.X_OK)
        shebang = interpreter_line(script)
        assert shebang.endswith(" -E"), shebang
        assert str(venv / "bin" / "python") in shebang
        assert not (venv / "bin" / name).is_file(), f"installer's {name} should be gone"
    assert (venv / "bin" / "pip").exists(), "venvs are seeded with pip so rez-pip works"
    assert list((venv / "lib").glob("python*/site-packages/rez/__pycache__/*.pyc")), (
        "bytecode is compiled at install time"
    )

    metadata = json.loads((revision / "revision.json").read_text())
    assert metadata["rez_version"] == "3.4.0"
    assert metadata["venvs"] == ["rez"]
    assert metadata["revision_path"] == str(revision)
    for key in ("rezup_version", "creator", "hostname", "python", "plan_digest"):
        assert metadata[key], key

    plan = (revision / "plan.lock").read_text()
    assert '"rez==3.4.0 --hash=sha256:' in plan


def test_plan_digest_matches_stored_plan(built: Sandbox):
    from rezup.stages.plan import Plan

    revision = built.revisions()[0]
    plan = Plan.read(revision / "plan.lock")
    assert plan.to_text() == (revision / "plan.lock").read_text()
    assert json.loads((revision / "revision.json").read_text())["plan_digest"] == plan.digest


def test_rez_version_runs_as_production_install(built: Sandbox):
    result = built.rezup("use", "--", "rez", "--version", check=True)
    assert "Rez 3.4.0" in result.stdout
    assert "Pip-based rez installation" not in result.stderr
    assert str(built.revisions()[0]) in result.stdout.replace("\n", "")  # rez wraps lines


def test_nested_rez_env_finds_rez_tools(built: Sandbox, tmp_path: Path):
    repo = make_rez_repository(tmp_path / "packages")
    env = {"REZ_PACKAGES_PATH": str(repo), "REZ_LOCAL_PACKAGES_PATH": str(repo)}
    result = built.rezup("use", "--", "rez-env", "--", "rez", "--version", env=env, check=True)
    assert "Rez 3.4.0" in result.stdout
    assert "Pip-based" not in result.stderr

    # a real resolve against the tiny repository, and rez's own tools inside the context
    probe = "echo foo=$REZ_FOO_VERSION bar=$REZ_BAR_VERSION loaded=$FOO_LOADED; command -v rez-env"
    result = built.rezup(
        "use", "--", "rez-env", "foo", "--", "sh", "-c", probe, env=env, check=True
    )
    assert "foo=1.0 bar=2.1 loaded=yes" in result.stdout
    assert str(rez_venv(built.revisions()[0]) / "bin" / "rez" / "rez-env") in result.stdout


def test_command_exit_code_and_environment(built: Sandbox):
    result = built.rezup(
        "use", "--", "sh", "-c", 'echo "$REZUP_CONTAINER|$REZUP_USING_REMOTE|$PATH"; exit 3'
    )
    assert result.returncode == 3
    container, using_remote, path = result.stdout.strip().split("|", 2)
    assert container == ".main"
    assert using_remote == ""
    assert path.split(os.pathsep)[0] == str(rez_venv(built.revisions()[0]) / "bin" / "rez")


def test_do_runs_quoted_command_and_script(built: Sandbox, tmp_path: Path):
    result = built.rezup("use", "--do", 'echo "do:$REZUP_CONTAINER"; exit 4')
    assert result.returncode == 4
    assert "do:.main" in result.stdout

    script = tmp_path / "job.sh"
    script.write_text('echo "script:$1:$(command -v rez)"\nexit 5\n')
    result = built.rezup("use", "--do", str(script))
    assert result.returncode == 5
    assert "script::" + str(rez_venv(built.revisions()[0]) / "bin" / "rez" / "rez") in result.stdout


def test_no_wait_returns_at_once(built: Sandbox, tmp_path: Path):
    marker = tmp_path / "done"
    started = time.monotonic()
    result = built.rezup(
        "use", "--no-wait", "--", "sh", "-c", f"exec >/dev/null 2>&1; sleep 2; echo ok > {marker}"
    )
    assert result.returncode == 0
    assert time.monotonic() - started < 2
    assert not marker.exists()
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.read_text().strip() == "ok"


def test_missing_command_is_a_clear_error(built: Sandbox):
    result = built.rezup("use", "--", "no-such-command-xyz")
    assert result.returncode == 127
    assert "rezup: error: cannot run no-such-command-xyz" in result.stderr
    assert "Traceback" not in result.stderr


def test_session_refuses_to_nest(built: Sandbox):
    """A shell inside a session is refused; a command in another session's container runs,
    with the outer session's rezup variables and PATH entries replaced, not stacked."""
    result = built.rezup("use", "--", sys.executable, "-m", "rezup", "use")
    assert result.returncode == 2
    assert "already inside a rezup session of container '.main'" in result.stderr
    nested = built.rezup(
        "use",
        "--",
        sys.executable,
        "-m",
        "rezup",
        "use",
        "--",
        "sh",
        "-c",
        'echo "$REZUP_CONTAINER $PATH"',
        check=True,
    )
    container, path = nested.stdout.strip().split(" ", 1)
    bin_dir = str(rez_venv(built.revisions()[0]) / "bin" / "rez")
    assert container == ".main"
    assert path.split(os.pathsep).count(bin_dir) == 1, "replaced, not stacked"


def test_interactive_shell_through_a_pty(built: Sandbox):
    pexpect = pytest.importorskip("pexpect")
    if not shutil.which("bash"):
        pytest.skip("bash is not installed")
    env = {**built.env, "REZUP_DEFAULT_SHELL": "bash", "TERM": "dumb", "PS1": "$ "}
    (built.home / ".bashrc").write_text("export FROM_USER_BASHRC=yes\n")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "rezup", "use"],
        env=env,
        encoding="utf-8",
        timeout=60,
        cwd=str(built.base),
    )
    try:
        child.expect_exact("rezup (.main/local) ")
        child.sendline('echo "in=$REZUP_CONTAINER rc=$FROM_USER_BASHRC"; command -v rez-env')
        child.expect_exact("in=.main rc=yes")
        child.expect_exact(str(rez_venv(built.revisions()[0]) / "bin" / "rez" / "rez-env"))
        child.expect_exact("rezup (.main/local) ")
        child.sendline("exit 6")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 6


def test_status_reports_revision(built: Sandbox):
    result = built.rezup("status", "--json", check=True)
    data = json.loads(result.stdout)
    main = next(c for c in data["containers"] if c["name"] == ".main")
    assert main["local_root"] == str(built.local_root)
    assert [r["local"] for r in main["revisions"]] == ["ready"]
    assert main["revisions"][0]["rez_version"] == "3.4.0"
    [revision] = built.revisions()
    assert main["local_path"] == str(built.local_root / ".main")
    assert main["revisions"][0]["local_path"] == str(revision)
    assert main["size"] >= main["revisions"][0]["size"] > 1_000_000  # rez is several MB
    assert main["use_enters"] == revision.name
    text = built.rezup("status", check=True).stdout
    assert revision.name in text and "ready" in text and "3.4.0" in text
    assert str(built.local_root / ".main") in text and " MB" in text
    assert "1 revision, " in text and "legend:" in text
    marked = [line for line in text.splitlines() if line.startswith(" *")]
    assert len(marked) == 1 and revision.name in marked[0]


def test_bare_rezup_builds_default_container_on_first_run(sandbox: Sandbox):
    sandbox.write_recipe(REZ_RECIPE)
    result = sandbox.rezup("--", "rez", "--version")
    assert result.returncode == 0, result.stderr
    assert "Rez 3.4.0" in result.stdout
    assert len(sandbox.ready_revisions()) == 1
    # the second run enters the same revision and builds nothing
    again = sandbox.rezup("--", "rez", "--version", check=True)
    assert "building" not in again.stderr
    assert len(sandbox.revisions()) == 1


def test_use_unknown_container_is_an_error(sandbox: Sandbox):
    result = sandbox.rezup("use", "nothing-here", "--", "true")
    assert result.returncode == 1
    assert "container 'nothing-here' has no ready revision" in result.stderr
    assert "rezup add nothing-here" in result.stderr


def test_dry_run_prints_plan_and_builds_nothing(sandbox: Sandbox):
    sandbox.write_recipe(REZ_RECIPE)
    result = sandbox.rezup("add", "--dry-run", check=True)
    assert 'name = "rez"' in result.stdout
    assert '"rez==3.4.0 --hash=sha256:' in result.stdout
    assert not sandbox.local_root.exists()


def test_isolated_and_editable_extensions(sandbox: Sandbox, tmp_path: Path):
    other_python = find_pyenv_python("3.12") or find_pyenv_python("3.10")
    if other_python is None:
        pytest.skip("no second CPython (3.12 or 3.10) installed")
    source = copy_package("hello_ext", tmp_path)
    editable = copy_package("hello_ext", tmp_path / "editable")
    (editable / "pyproject.toml").write_text(
        (editable / "pyproject.toml")
        .read_text()
        .replace('name = "hello-ext"', 'name = "hello-dev"')
        .replace('hello-ext = "hello_ext:main"', 'hello-dev = "hello_ext:main"')
    )
    sandbox.write_recipe(
        rez_recipe(f"""
        [[extension]]
        name = "hello-ext"
        url = "{source}"
        isolation = true
        python = "{other_python}"
        lib = ["six==1.17.0"]

        [[extension]]
        name = "hello-dev"
        url = "{editable}"
        edit = true
        flags = []
    """)
    )
    sandbox.rezup("add", "--skip-use", check=True)
    revision = sandbox.ready_revisions()[0]
    ext_venv = revision / "venv" / "hello-ext"
    script = ext_venv / "bin" / "rez" / "hello-ext"
    assert interpreter_line(script) == f"{ext_venv / 'bin' / 'python'} -E"
    assert (ext_venv / "bin" / "rez" / ".rez_production_install").is_file()
    assert not (rez_venv(revision) / "bin" / "rez" / "hello-ext").exists()

    result = sandbox.rezup("use", "--", "hello-ext", check=True)
    version = ".".join(other_python.split("/versions/")[1].split(".")[:2])
    assert f"ignore_environment=1; python={version}; rez=3.4.0" in result.stdout

    # the editable one runs from its source folder, without -E (flags = [])
    dev_script = rez_venv(revision) / "bin" / "rez" / "hello-dev"
    assert interpreter_line(dev_script) == str(rez_venv(revision) / "bin" / "python")
    (editable / "hello_ext" / "__init__.py").write_text(
        (editable / "hello_ext" / "__init__.py")
        .read_text()
        .replace('GREETING = "hello"', 'GREETING = "edited"')
    )
    result = sandbox.rezup("use", "--", "hello-dev", check=True)
    assert "edited from hello-ext; ignore_environment=0" in result.stdout


def test_failed_install_leaves_no_revision(sandbox: Sandbox, tmp_path: Path):
    broken = copy_package("broken_build", tmp_path)
    sandbox.write_recipe(
        rez_recipe(f"""
        [[extension]]
        name = "broken-build"
        url = "{broken}"
    """)
    )
    result = sandbox.rezup("add", "--skip-use")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("rezup: error:")]
    assert len(errors) == 1 and "refuses to build on purpose" in errors[0]
    assert "Traceback (most recent call last)" not in result.stderr.split("rezup: error:")[0]
    assert sandbox.revisions() == []


def test_unresolvable_recipe_fails_cleanly(sandbox: Sandbox):
    sandbox.write_recipe('[rez]\nname = "rez"\nurl = "rez==999.0.0"\n')
    result = sandbox.rezup("add", "--skip-use")
    assert result.returncode == 1
    assert "rezup: error: resolving venv 'rez' failed" in result.stderr
    assert "rez==999.0.0" in result.stderr
    assert sandbox.revisions() == []


def test_status_with_broken_recipe_beside_good_one(built: Sandbox):
    broken = built.write_recipe("[rez\nname = 1\n", name="broken")
    try:
        result = built.rezup("status", "--json", check=True)
        report = json.loads(result.stdout)
        data = {c["name"]: c for c in report["containers"]}
        apart = {r["name"]: r for r in report["recipes_without_container"]}
        assert "broken" not in data  # a recipe alone is not a container
        assert "invalid TOML" in apart["broken"]["recipe_error"]
        assert "line 1" in apart["broken"]["recipe_error"]
        assert data[".main"]["recipe_error"] is None
        assert [r["local"] for r in data[".main"]["revisions"]] == ["ready"]
        text = built.rezup("status", check=True).stdout
        assert "recipe error" in text and "ready" in text
    finally:
        broken.unlink()


def test_drop_removes_container(sandbox: Sandbox):
    sandbox.write_recipe(REZ_RECIPE, name="tmp")
    sandbox.rezup("add", "tmp", "--skip-use", check=True)
    assert (sandbox.local_root / "tmp").is_dir()
    sandbox.rezup("drop", "tmp", check=True)
    assert not (sandbox.local_root / "tmp").exists()
    again = sandbox.rezup("drop", "tmp")
    assert again.returncode == 1 and "no container named 'tmp'" in again.stderr


def test_shared_libs_installed_once_and_linked(sandbox: Sandbox):
    sandbox.write_recipe(
        rez_recipe("""
        [shared]
        name = "production"
        requires = ["six==1.17.0"]
    """)
    )
    first = sandbox.rezup("add", "--skip-use", check=True)
    assert "[shared] is deprecated" in first.stderr
    sandbox.rezup("add", "--skip-use", check=True)
    libs = sandbox.local_root / ".main" / "libs" / "production"
    assert (libs / "six.py").is_file()
    for revision in sandbox.ready_revisions():
        python = rez_venv(revision) / "bin" / "python"
        import subprocess

        out = subprocess.run(
            [str(python), "-c", "import six; print(six.__file__)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.strip() == str(libs / "six.py")


def _environment(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.split("\0") if "=" in line)


def test_fast_path_and_full_cli_give_the_same_session(built: Sandbox, tmp_path: Path):
    dotenv = tmp_path / "site.env"
    dotenv.write_text('FROM_DOTENV="dot:${REZUP_TEST_BASE}"\n')
    recipe = built.home / "rezup.dev.toml"
    recipe.write_text(
        rez_recipe(f'\n[env]\nFROM_ENV = "env:${{FROM_DOTENV}}"\n\n[dotenv]\n1 = "{dotenv}"\n')
    )
    try:
        built.rezup("add", "dev", "--skip-use", check=True)
        env = {"REZUP_TEST_BASE": "base"}
        dump = [
            sys.executable,
            "-c",
            "import os, sys; sys.stdout.write('\\0'.join(f'{k}={v}' for k, v in "
            "sorted(os.environ.items())))",
        ]
        fast = built.rezup("use", "dev", "--", *dump, env=env, check=True)
        full = built.rezup("--debug", "use", "dev", "--", *dump, env=env, check=True)
    finally:
        recipe.unlink()
    fast_env, full_env = _environment(fast.stdout), _environment(full.stdout)
    assert fast_env["FROM_ENV"] == "env:dot:base"
    assert fast_env["REZUP_CONTAINER"] == "dev"
    assert fast_env == full_env


def test_use_start_up_path_stays_lean(built: Sandbox):
    """The ``use -- CMD`` path imports none of click, logging, pathlib, typing or the builder."""
    imported = lean_use_imports(built.env)
    assert "rezup.entry" in imported
    package = {name for name in imported if name == "rezup" or name.startswith("rezup.")}
    assert package == {
        "rezup",
        "rezup.entry",
        "rezup.ground",
        "rezup.ground.paths",
        "rezup.ground.root_settings",
        "rezup.ground.revision_json",
        "rezup.ground.newest",
        "rezup.ground.upgrade_check",
        "rezup.runtime",
        "rezup.runtime.session",
    }
    for heavy in (
        "click",
        "logging",
        "pathlib",
        "typing",
        "subprocess",
        "filelock",
        "packaging",
        "dotenv",
        "rezup.cli",
        "rezup.stages.build",
        "rezup.stages.plan",
        "tomllib",
    ):
        assert heavy not in imported, heavy


def test_editable_rez_from_source_in_production(built: Sandbox, tmp_path: Path):
    """rez installed editable from its own sdist: scripts still production-style, and with
    REZUP_EDIT_IN_PRODUCTION set, nested contexts find rez's tools."""
    import subprocess
    import tarfile

    # fetch rez's sdist with the seeded pip of an existing revision (real index, no mock)
    pip = rez_venv(built.revisions()[0]) / "bin" / "pip"
    subprocess.run(
        [
            str(pip),
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--disable-pip-version-check",
            "-d",
            str(tmp_path),
            REZ_PIN,
        ],
        check=True,
        env=built.env,
        capture_output=True,
    )
    [sdist] = tmp_path.glob("rez-3.4.0.tar.gz")
    with tarfile.open(sdist) as archive:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(tmp_path, **safe)
    source = tmp_path / "rez-3.4.0"

    box = make_sandbox(tmp_path / "box")
    box.write_recipe(f'[rez]\nname = "rez"\nurl = "{source}"\nedit = true\n')
    box.rezup("add", "--skip-use", check=True)
    [revision] = box.ready_revisions()
    script = (rez_venv(revision) / "bin" / "rez" / "rez-env").read_text()
    assert 'if os.getenv("REZUP_EDIT_IN_PRODUCTION"):' in script
    assert interpreter_line(rez_venv(revision) / "bin" / "rez" / "rez-env").endswith(" -E")

    result = box.rezup("use", "--", "rez", "--version", check=True)
    assert str(source / "src" / "rez") in result.stdout.replace("\n", "")
    assert "Pip-based" not in result.stderr

    repo = make_rez_repository(tmp_path / "packages")
    probe = ["rez-env", "bar", "--", "sh", "-c", "command -v rez-env || echo missing"]
    env = {"REZ_PACKAGES_PATH": str(repo)}
    plain = box.rezup("use", "--", *probe, env=env, check=True)
    assert plain.stdout.strip() == "missing"  # editable rez is not a production install ...
    prod = box.rezup("use", "--", *probe, env={**env, "REZUP_EDIT_IN_PRODUCTION": "1"}, check=True)
    # ... unless asked: then the nested context gets rez's production bin folder
    assert prod.stdout.strip() == str(rez_venv(revision) / "bin" / "rez" / "rez-env")


def test_add_with_file_enters_the_revision_it_built(sandbox: Sandbox, tmp_path: Path):
    """--file with its own [root] local: add builds there and enters that revision."""
    elsewhere = tmp_path / "elsewhere"
    recipe = tmp_path / "team.toml"
    recipe.write_text(f'[root]\nlocal = "{elsewhere}"\n\n{REZ_RECIPE}')
    result = sandbox.rezup(
        "add",
        "team",
        "--file",
        str(recipe),
        "--",
        "sh",
        "-c",
        'echo "$REZUP_CONTAINER $REZUP_REVISION"',
        check=True,
    )
    [revision] = (elsewhere / "team" / "revisions").iterdir()
    assert result.stdout.strip() == f"team {revision.name}"
    assert not sandbox.local_root.exists()


def test_relative_recipe_file_and_root(sandbox: Sandbox, tmp_path: Path):
    """A relative --file and a relative REZUP_ROOT_LOCAL mean what they say from the cwd."""
    work = sandbox.base / "work"
    copy_package("hello_ext", work)
    (work / "my.toml").write_text(
        rez_recipe('\n[[extension]]\nname = "hello-ext"\nurl = "./hello_ext"\nedit = true\n')
    )
    result = sandbox.rezup(
        "add",
        "--file",
        "work/my.toml",
        "--skip-use",
        check=True,
        env={"REZUP_ROOT_LOCAL": "relroot"},
    )
    [revision] = (sandbox.base / "relroot" / ".main" / "revisions").iterdir()
    assert (revision / "revision.json").is_file(), result.stderr
    script = revision / "venv" / "rez" / "bin" / "rez" / "hello-ext"
    assert interpreter_line(script).startswith(str(sandbox.base / "relroot"))
    out = sandbox.rezup(
        "use", "--", "hello-ext", check=True, env={"REZUP_ROOT_LOCAL": "relroot"}
    ).stdout
    assert "hello from hello-ext" in out


def test_many_first_runs_at_once_make_one_revision(sandbox: Sandbox):
    import subprocess

    sandbox.write_recipe(REZ_RECIPE)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "rezup", "--", "rez", "--version"],
            env=sandbox.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(sandbox.base),
        )
        for _ in range(4)
    ]
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0] * 4, results
    assert all("Rez 3.4.0" in out for _, out, _ in results)
    assert len(sandbox.revisions()) == 1


def test_killed_add_is_cleared_by_the_next_add(sandbox: Sandbox):
    import subprocess

    sandbox.write_recipe(REZ_RECIPE, name="k")
    victim = subprocess.Popen(
        [sys.executable, "-m", "rezup", "add", "k", "--skip-use"],
        env=sandbox.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=str(sandbox.base),
    )
    deadline = time.monotonic() + 60
    while not list((sandbox.local_root / "k" / "revisions").glob("*/venv/rez/bin/python")):
        assert victim.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(victim.pid, 9)
    victim.wait()
    [partial] = sandbox.revisions("k")
    assert not (partial / "revision.json").exists()
    assert sandbox.rezup("use", "k", "--", "true").returncode == 1  # nothing ready to enter

    result = sandbox.rezup("add", "k", "--skip-use", check=True)
    assert f"removing incomplete revision {partial.name}" in result.stderr
    assert not partial.exists()
    assert len(sandbox.ready_revisions("k")) == 1


@pytest.mark.parametrize(
    "args",
    [
        ("status", "--", "true"),
        ("drop", "x", "--", "true"),
        ("add", "--skip-use", "--", "true"),
        ("add", "--dry-run", "--", "true"),
    ],
)
def test_a_command_where_none_runs_is_a_usage_error(sandbox: Sandbox, args):
    result = sandbox.rezup(*args)
    assert result.returncode == 2
    assert "runs no command" in result.stderr and "Traceback" not in result.stderr


def test_filesystem_errors_are_one_line(sandbox: Sandbox):
    sandbox.write_recipe(REZ_RECIPE)
    result = sandbox.rezup("add", "--skip-use", env={"REZUP_ROOT_LOCAL": "/proc/no-such"})
    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if "rezup: error" in line]
    assert line.startswith("rezup: error: ") and "internal error" not in line
    assert "/proc/no-such" in line
