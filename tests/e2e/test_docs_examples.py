"""The examples of docs/python-api.md, run as they are written (real uv, real rez)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REZ_PIN, Sandbox, make_sandbox

DOC = Path(__file__).parents[2] / "docs" / "python-api.md"


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def make_packages(root: Path) -> Path:
    for name in ("pkg_a", "pkg_b"):
        folder = root / name / "1.0"
        folder.mkdir(parents=True)
        (folder / "package.py").write_text(
            f'name = "{name}"\nversion = "1.0"\n'
            f"def commands():\n    env.{name.upper()}_LOADED = 'yes'\n",
            encoding="utf-8",
        )
    return root


@pytest.fixture(scope="module")
def box(tmp_path_factory) -> Sandbox:
    base = tmp_path_factory.mktemp("docs")
    box = make_sandbox(base)
    recipe = f'[rez]\nname = "rez"\nurl = "{REZ_PIN}"\n[env]\nFROM_DOCS = "yes"\n'
    box.write_recipe(recipe)
    other = base / "other-recipes"
    other.mkdir()
    (other / "rezup.toml").write_text(recipe, encoding="utf-8")
    box.env["REZ_PACKAGES_PATH"] = str(make_packages(base / "packages"))
    box.env["OTHER_RECIPES"] = str(other)
    box.rezup("add", "--skip-use", check=True)
    return box


@pytest.mark.parametrize("index", range(len(examples())))
def test_a_docs_example_runs(box: Sandbox, index: int):
    code = examples()[index].replace('"/to/other/recipes"', 'os.environ["OTHER_RECIPES"]')
    checks = {
        "resolve_environ": "assert env['PKG_A_LOADED'] == env['PKG_B_LOADED'] == 'yes'",
        "dot_main": "assert os.environ['FROM_DOCS'] == 'yes'",
        "new_revision": "assert exit_code == 0",
    }
    check = next(line for word, line in checks.items() if word in code)
    done = subprocess.run(
        [sys.executable, "-c", f"import os\n{code}\n{check}\n"],
        env=box.env,
        cwd=str(box.base),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"example {index}:\n{code}\n{done.stderr}"
