"""The lean ``rezup use`` path: revision metadata without json, ``${VAR}`` without re, and the
imports left on the path (issue 13, "Lean use")."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import Sandbox, rez_recipe

# --------------------------------------------------------------------------------------------
# What the lean path imports


def _imports(env: dict[str, str]) -> set[str]:
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            "import sys; sys.argv = ['rezup', 'use', '--', 'true']; "
            "from rezup.entry import main; main()",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return {
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }


def test_use_of_a_revision_built_by_this_version_imports_no_json_nor_re(sandbox: Sandbox):
    sandbox.write_recipe(rez_recipe('\n[env]\nX = "${HOME}"\n'))
    sandbox.rezup("add", "--skip-use", check=True)
    imported = _imports(sandbox.env)
    assert "rezup.entry" in imported
    for module in (
        "json",
        "re",
        "__future__",
        "typing",
        "warnings",
        "enum",
        "rezup.ground.lock_policy",
    ):
        assert module not in imported, module
