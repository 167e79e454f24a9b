"""Recipe fuzzing: whatever a recipe holds, rezup answers with exit 0, 1 or 2 and, on error,
one line of a readable length; never a traceback.

Recipes are generated over every key of the schema with values of every TOML type (long,
unicode, nested), plus broken syntax, deep nesting and random text. The command line runs in
process with uv offline, so each resolve fails or succeeds at once from the cache.
"""

from __future__ import annotations

import os
import string

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rezup.cli import main
from rezup.ground.errors import MESSAGE_LIMIT, RecipeError, one_line
from rezup.stages.recipe_loading import parse_recipe

LINE_LIMIT = MESSAGE_LIMIT + len("rezup: error: ")

# the schema's sections and keys (rezup.stages.recipe_validation.RecipeValidator), and a few
# that are not in it
SECTIONS = {
    "root": ["local", "remote"],
    "rez": ["name", "url", "edit", "flags", "python", "lib"],
    "extension": ["name", "url", "edit", "flags", "python", "lib", "isolation"],
    "shared": ["name", "requires"],
    "env": ["REZ_CONFIG_FILE", "STUDIO", "PATH_EXTRA"],
    "dotenv": ["10", "20", "linux", "windows", "darwin"],
    "pip": ["options", "env"],
    "uv": ["options", "env"],
    "init": ["script"],
}
TOP_LEVEL = ["description", "schema", *SECTIONS, "unknown", "extensions"]

texts = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=string.ascii_letters + string.digits + "._-=<>~/!@ ", max_size=40),
    st.sampled_from(
        [
            "rez",
            "rez==3.4.0",
            "rez>=3",
            "./local",
            "~/dev/foo",
            "/abs/path",
            "git+https://example.invalid/x",
            "3.11",
            "-E",
            "--index-url",
            "",
        ]
    ),
    st.builds(lambda n: "x" * n, st.integers(1000, 50_000)),  # very long values
    st.text(alphabet="äöü€日本語🙂\u202e\u0000\x7f", min_size=1, max_size=10),
)
scalars = st.one_of(
    texts, st.integers(-(10**20), 10**20), st.floats(allow_nan=False), st.booleans()
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def recipes(draw) -> str:
    """A recipe: mostly the schema's keys with values of any type, sometimes broken."""
    data = {}
    for key in draw(st.lists(st.sampled_from(TOP_LEVEL), max_size=6, unique=True)):
        if key in SECTIONS and draw(st.booleans()):
            table = {
                k: draw(values)
                for k in draw(
                    st.lists(st.sampled_from(SECTIONS[key] + ["bogus"]), max_size=4, unique=True)
                )
            }
            data[key] = [table] if key == "extension" and draw(st.booleans()) else table
        else:
            data[key] = draw(values)
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError):  # a value TOML cannot hold (a float inf, ...)
        text = ""
    mangle = draw(st.sampled_from(["none", "none", "truncate", "insert", "deep", "raw"]))
    if mangle == "truncate" and text:
        text = text[: draw(st.integers(0, len(text)))]
    elif mangle == "insert":
        at = draw(st.integers(0, len(text)))
        text = (
            text[:at]
            + draw(
                st.sampled_from(
                    ["[", "]]", "=", '"', "\n[rez\n", "\x00", "{a = ", "\ud800"[:0] + "é"]
                )
            )
            + text[at:]
        )
    elif mangle == "deep":
        depth = draw(st.integers(100, 5000))
        text += f"\nnested = {'[' * depth}{']' * depth}\n"
    elif mangle == "raw":
        text = draw(st.text(max_size=200))
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=recipes())
def test_parsing_any_recipe_gives_a_recipe_or_one_recipe_error(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("fuzz")
    try:
        parse_recipe(text, source=folder / "rezup.fz.toml")
    except RecipeError as exc:
        line = one_line(exc)
        assert "\n" not in line and len(line) <= MESSAGE_LIMIT
        assert str(folder / "rezup.fz.toml") in str(exc)


@pytest.fixture
def offline(monkeypatch):
    """uv answers from its cache only: a resolve fails or succeeds at once."""
    monkeypatch.setenv("UV_OFFLINE", "1")


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=recipes())
def test_any_recipe_through_the_command_line(home, offline, capfd, text):
    recipe = home / "rezup.fz.toml"
    recipe.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        for args, codes in (
            (["add", "fz", "--dry-run"], (0, 1, 2)),
            (["status", "fz"], (0,)),
            (["use", "fz", "--", "true"], (1, 2)),
        ):
            code = main(args)
            _, err = capfd.readouterr()
            assert code in codes, (args, code, err)
            assert "Traceback" not in err
            errors = [line for line in err.splitlines() if line.startswith("rezup: error:")]
            assert len(errors) == (0 if code == 0 else 1), (args, err)
            assert all(len(line) <= LINE_LIMIT for line in errors), errors
            assert all(len(line) <= LINE_LIMIT for line in err.splitlines()), err
    finally:
        recipe.unlink()
        assert not os.path.exists(home.parent / "local" / "fz"), "a dry run builds nothing"
