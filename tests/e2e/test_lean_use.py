"""The lean ``rezup use`` path: revision metadata without json, ``${VAR}`` without re, and the
imports left on the path (issue 13, "Lean use")."""

from __future__ import annotations

from tests.helpers import Sandbox, lean_use_imports, rez_recipe

# --------------------------------------------------------------------------------------------
# What the lean path imports


def test_use_of_a_revision_built_by_this_version_imports_no_json_nor_re(sandbox: Sandbox):
    sandbox.write_recipe(rez_recipe('\n[env]\nX = "${HOME}"\n'))
    sandbox.rezup("add", "--skip-use", check=True)
    imported = lean_use_imports(sandbox.env)
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
