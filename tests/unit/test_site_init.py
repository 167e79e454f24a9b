"""Site customisation: the ``[init] script`` of ``~/rezup.toml`` runs on every launch, before
any other setting is read, in process (the seeds' own dotenv example)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import REZ_RECIPE, Sandbox, fake_revision, rez_recipe

SEEDS_EXAMPLE = textwrap.dedent("""\
    # /path/to/script.py
    import os
    from dotenv import load_dotenv
    load_dotenv(os.path.splitext(__file__)[0] + ".env")
""")


def site(box: Sandbox, script: str, dotenv: str = "", where: str = "site/init.py") -> Path:
    path = box.home / where
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script, encoding="utf-8")
    if dotenv:
        path.with_suffix(".env").write_text(dotenv, encoding="utf-8")
    box.write_recipe(f'[init]\nscript = "~/{where}"\n')
    return path


def test_the_seeds_example_sets_variables_for_sessions(sandbox: Sandbox):
    site(sandbox, SEEDS_EXAMPLE, "STUDIO_VAR=from-dotenv\n")
    fake_revision(sandbox.local_root, "dev", "100.0")
    result = sandbox.rezup("use", "dev", "--", "sh", "-c", 'echo "$STUDIO_VAR"', check=True)
    assert result.stdout.strip() == "from-dotenv"


def test_it_runs_before_any_other_setting_is_read(sandbox: Sandbox, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    fake_revision(elsewhere, "dev", "100.0")
    # (load_dotenv never overrides a variable already set, as REZUP_ROOT_LOCAL is here)
    site(sandbox, f"import os\nos.environ['REZUP_ROOT_LOCAL'] = {str(elsewhere)!r}\n")
    result = sandbox.rezup("use", "dev", "--", "sh", "-c", "echo $REZUP_REVISION", check=True)
    assert result.stdout.strip() == "100.0", "the root the script set is the one used"


def test_an_index_setting_from_the_dotenv_steers_the_build(sandbox: Sandbox):
    site(
        sandbox,
        SEEDS_EXAMPLE,
        "UV_INDEX_URL=http://127.0.0.1:9/simple\nUV_DEFAULT_INDEX=http://127.0.0.1:9/simple\n",
    )
    (sandbox.home / "rezup.dev.toml").write_text(REZ_RECIPE)
    result = sandbox.rezup("add", "dev", "--dry-run", env={"UV_NO_CACHE": "1"})
    assert result.returncode == 1
    assert "127.0.0.1:9" in result.stderr  # uv asked the index the .env named
    assert "Traceback" not in result.stderr


def test_it_runs_once_per_launch_with_its_own_file(sandbox: Sandbox):
    log = sandbox.base / "runs.log"
    script = site(sandbox, f"open({str(log)!r}, 'a').write(__file__ + '\\n')\n")
    sandbox.rezup("status", check=True)  # the full command line
    fake_revision(sandbox.local_root, "dev", "100.0")
    sandbox.rezup("use", "dev", "--", "true", check=True)  # the lean path
    assert log.read_text().splitlines() == [str(script), str(script)]


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ("raise RuntimeError('boom')\n", "RuntimeError: boom"),
        (
            "import no_such_module_xyz\n",
            "ModuleNotFoundError: No module named 'no_such_module_xyz'",
        ),
        (None, "not found"),
    ],
)
def test_a_broken_script_is_a_one_line_error(sandbox: Sandbox, script, reason):
    path = site(sandbox, script or "")
    if script is None:
        path.unlink()
    fake_revision(sandbox.local_root, "dev", "100.0")
    for args in (["use", "dev", "--", "echo", "ran"], ["status"]):
        result = sandbox.rezup(*args)
        assert result.returncode == 1 and "ran" not in result.stdout
        [line] = result.stderr.splitlines()
        assert line == f"rezup: error: [init] script {path} failed: {reason}"
    debug = sandbox.rezup("-D", "status")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_a_script_that_is_not_a_path_is_a_recipe_error(sandbox: Sandbox):
    sandbox.write_recipe("[init]\nscript = 3\n")
    result = sandbox.rezup("status")
    assert result.returncode == 2
    assert "[init] script: must be a string" in result.stderr


def test_the_cost_of_an_init_script_is_its_own(sandbox: Sandbox):
    """Without [init], the lean path reads ~/rezup.toml and parses no TOML at all."""
    sandbox.write_recipe(rez_recipe(name=False))
    fake_revision(sandbox.local_root, ".main", "100.0")
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            "import sys; sys.argv = ['rezup', 'use', '--', 'true']; "
            "from rezup.entry import main; main()",
        ],
        env={**sandbox.env, "HOME": str(sandbox.home)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    imported = {
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "tomllib" not in imported and "tomli" not in imported
    assert os.path.isfile(sandbox.home / "rezup.toml")
