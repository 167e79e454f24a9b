"""Unit tests for rezup.stages.plan and .resolve (pure parts), its TOML text (written with
tomli-w) included."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from rezup.ground.compat import tomllib
from rezup.ground.errors import BuildError
from rezup.stages.installer_settings import installer_settings
from rezup.stages.plan import (
    PLAN_FILENAME,
    Plan,
    ScriptTool,
    SharedPlan,
    VenvPlan,
    describe,
    requirements_text,
)
from rezup.stages.recipe_loading import parse_recipe
from rezup.stages.resolve import parse_compiled, venv_specs

HASH_A = "sha256:" + "a" * 64
HASH_B = "sha256:" + "b" * 64


def rez_venv(**changes) -> VenvPlan:
    venv = VenvPlan(
        name="rez",
        python="/usr/bin/python3.11",
        python_request="",
        python_version="3.11.7",
        requirements=(
            f"rez==3.4.0 --hash={HASH_A} --hash={HASH_B}",
            f"colorama==0.4.6 ; sys_platform == 'win32' --hash={HASH_A}",
            "foo @ file:///home/me/dev/foo",
        ),
        editables=("/home/me/dev/bar",),
        tools=(
            ScriptTool("rez", ("-E",)),
            ScriptTool("bar", ("-E", "-s"), editable=True),
        ),
        link_shared=True,
    )
    return dataclasses.replace(venv, **changes)


def full_plan(**changes) -> Plan:
    isolated = VenvPlan(
        name="iso",
        python="/opt/python3.9/bin/python3.9",
        python_request="3.9",
        python_version="3.9.18",
        requirements=(f"iso==1.0 --hash={HASH_B}", f"rez==3.4.0 --hash={HASH_A}"),
        editables=(),
        tools=(ScriptTool("iso", ()),),
    )
    plan = Plan(
        container=".main",
        venvs=(rez_venv(), isolated),
        description='My "rez" setup\nsecond line ✓',
        uv_options=("--index-url", "https://pypi.example/simple", "--prerelease=allow"),
        uv_env=(("UV_INDEX_URL", "https://x/simple"), ("UV_LINK_MODE", "copy")),
        env=(
            ("REZ_CONFIG_FILE", "/path/to/rezconfig.py"),
            ("WITH SPACE", 'quote " and \\ backslash'),
            ("dotted.key", "multi\nline\tvalue"),
            ("UNICODE_ÉTÉ", "日本語 — ünïcödé"),
            ("", "empty key"),
            ("CTRL", "bell\x07 del\x7f nul\x00"),
            ("EMPTY", ""),
            ("EXPAND", "${HOME}/x:${PATH:-/bin}"),
        ),
        dotenv=("/etc/rez/common.env", "/home/me/my.env"),
        dotenv_platform=(("linux", ("/etc/rez/linux.env",)), ("windows", ("C:\\rez\\w.env",))),
        shared=SharedPlan("production", "/usr/bin/python3.11", (f"toml==0.10.2 --hash={HASH_A}",)),
        wheels=True,
    )
    return dataclasses.replace(plan, **changes)


def minimal_plan() -> Plan:
    return Plan(
        container="dev",
        venvs=(VenvPlan("rez", "/py", "", "3.11.7", ("rez==3.4.0",)),),
    )


# --------------------------------------------------------------------------------------------
# Serialisation


@pytest.mark.parametrize("make", [full_plan, minimal_plan])
def test_plan_round_trips_byte_for_byte(make):
    plan = make()
    text = plan.to_text()
    again = Plan.from_text(text)
    assert again == plan
    assert again.to_text() == text
    assert again.digest == plan.digest
    # the text is valid TOML on its own
    assert tomllib.loads(text)["container"] == plan.container


def test_plan_text_is_commented_and_stable():
    text = full_plan().to_text()
    assert text.startswith("# rezup plan:")
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert text == full_plan().to_text()


def test_plan_round_trip_through_files(tmp_path):
    plan = full_plan()
    path = tmp_path / PLAN_FILENAME
    plan.write(path)
    assert path.read_text(encoding="utf-8") == plan.to_text()
    assert Plan.read(path) == plan
    with pytest.raises(BuildError, match="cannot read plan"):
        Plan.read(tmp_path / "missing.lock")


def test_plan_without_shared_and_empty_tables():
    plan = full_plan(shared=None, uv_env=(), env=(), dotenv=(), dotenv_platform=(), wheels=False)
    text = plan.to_text()
    assert "[shared]" not in text
    assert Plan.from_text(text) == plan
    assert Plan.from_text(text).to_text() == text


def test_plan_venv_without_tools():
    plan = Plan(container="x", venvs=(VenvPlan("rez", "/py", "", "3.9.0", ()),))
    assert Plan.from_text(plan.to_text()) == plan


def test_digest_is_stable_and_changes_with_anything():
    base = full_plan()
    assert base.digest.startswith("sha256:")
    assert len(base.digest) == len("sha256:") + 64
    assert base.digest == full_plan().digest
    variants = [
        full_plan(container="other"),
        full_plan(description="changed"),
        full_plan(wheels=False),
        full_plan(uv_options=("--no-index",)),
        full_plan(uv_env=(("UV_LINK_MODE", "copy"),)),
        full_plan(env=(("A", "1"),)),
        full_plan(env=tuple(reversed(full_plan().env))),
        full_plan(dotenv=("/etc/rez/common.env",)),
        full_plan(dotenv_platform=()),
        full_plan(shared=None),
        full_plan(shared=SharedPlan("production", "/usr/bin/python3.11", ())),
        full_plan(venvs=(rez_venv(),)),
        full_plan(venvs=(rez_venv(python="/other/python"), full_plan().venvs[1])),
        full_plan(venvs=(rez_venv(python_version="3.11.8"), full_plan().venvs[1])),
        full_plan(venvs=(rez_venv(python_request="3.11"), full_plan().venvs[1])),
        full_plan(venvs=(rez_venv(requirements=("rez==3.4.1",)), full_plan().venvs[1])),
        full_plan(venvs=(rez_venv(editables=()), full_plan().venvs[1])),
        full_plan(venvs=(rez_venv(link_shared=False), full_plan().venvs[1])),
        full_plan(venvs=(rez_venv(tools=(ScriptTool("rez", ("-E", "-s")),)), full_plan().venvs[1])),
        full_plan(
            venvs=(
                rez_venv(tools=(ScriptTool("rez", ("-E",), editable=True),)),
                full_plan().venvs[1],
            )
        ),
    ]
    digests = {plan.digest for plan in variants}
    assert base.digest not in digests
    assert len(digests) == len(variants)


def test_with_wheels():
    plan = full_plan(wheels=False)
    assert plan.with_wheels(True).wheels is True
    assert plan.with_wheels(True).digest != plan.digest
    assert plan.with_wheels(False) == plan


def test_plan_dotenv_files():
    plan = full_plan()
    assert plan.dotenv_files("linux") == [
        "/etc/rez/common.env",
        "/home/me/my.env",
        "/etc/rez/linux.env",
    ]
    assert plan.dotenv_files("darwin") == ["/etc/rez/common.env", "/home/me/my.env"]
    assert plan.dotenv_files("windows")[-1] == "C:\\rez\\w.env"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "[[[",
        "format = 1\n",
        "format = 2\ncontainer = 'x'\n",
        'container = ".main"\n',
        "\x00\x01binary",
        minimal_plan().to_text().replace("format = 1", "format = 99"),
        minimal_plan().to_text().replace('name = "rez"', 'nme = "rez"'),
        minimal_plan().to_text().replace("requirements = ", "requirements = 5 #"),
        '{"format": 1}',
        minimal_plan().to_text().replace("[runtime.env]", 'env = "not a table"'),
        minimal_plan().to_text().replace("[installer.env]", "env = [1, 2]"),
        minimal_plan().to_text().replace("tool = []", 'tool = ["rez"]'),
        minimal_plan().to_text().replace("[[venv]]", "[venv]"),
    ],
)
def test_from_text_on_garbage_raises_build_error(text):
    with pytest.raises(BuildError) as info:
        Plan.from_text(text, label="some/plan.lock")
    assert str(info.value).startswith("some/plan.lock: not a valid rezup plan")
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------
# uv pip compile output


COMPILED = f"""\
# This file was autogenerated by uv via the following command:
#    uv pip compile - --generate-hashes
-e file:///home/me/dev/bar
    # via -r -
colorama==0.4.6 ; sys_platform == 'win32' \\
    --hash={HASH_A} \\
    --hash={HASH_B}
    # via rez
foo @ file:///home/me/dev/foo
    # via -r -
rez==3.4.0 \\
    --hash={HASH_A}  # via -r -

--editable ./local/thing
six==1.16.0 \\
    --hash={HASH_B}
    # via
    #   foo
    #   rez
git-pkg @ git+https://github.com/x/git-pkg@0123456789abcdef0123456789abcdef01234567#egg=git-pkg
"""


def test_parse_compiled():
    assert parse_compiled(COMPILED) == [
        f"colorama==0.4.6 ; sys_platform == 'win32' --hash={HASH_A} --hash={HASH_B}",
        "foo @ file:///home/me/dev/foo",
        f"rez==3.4.0 --hash={HASH_A}",
        f"six==1.16.0 --hash={HASH_B}",
        "git-pkg @ git+https://github.com/x/git-pkg@0123456789abcdef0123456789abcdef01234567"
        "#egg=git-pkg",
    ]


def test_parse_compiled_edge_cases():
    assert parse_compiled("") == []
    assert parse_compiled("# only a comment\n\n   \n") == []
    # a dangling continuation at the end of the text is kept
    assert parse_compiled(f"rez==3.4.0 \\\n    --hash={HASH_A} \\\n") == [
        f"rez==3.4.0 --hash={HASH_A}"
    ]
    # Windows line endings
    assert parse_compiled(f"rez==3.4.0 \\\r\n    --hash={HASH_A}\r\nsix==1\r\n") == [
        f"rez==3.4.0 --hash={HASH_A}",
        "six==1",
    ]


def test_parse_compiled_real_uv_shape():
    """The shape `uv pip compile --no-header --no-annotate --generate-hashes` prints."""
    text = (
        "filelock==3.16.1 \\\n"
        f"    --hash={HASH_A} \\\n"
        f"    --hash={HASH_B}\n"
        "rez==3.4.0 \\\n"
        f"    --hash={HASH_B}\n"
    )
    lines = parse_compiled(text)
    assert lines == [
        f"filelock==3.16.1 --hash={HASH_A} --hash={HASH_B}",
        f"rez==3.4.0 --hash={HASH_B}",
    ]


# --------------------------------------------------------------------------------------------
# Recipe -> venvs


def recipe_from(text: str, folder: Path):
    path = folder / "rezup.toml"
    path.write_text(text, encoding="utf-8")
    return parse_recipe(text, source=path)


def test_venv_specs_default_recipe(tmp_path):
    (spec,) = venv_specs(recipe_from("", tmp_path))
    assert spec.name == "rez"
    assert spec.python_request == ""
    assert spec.inputs == ["rez"]
    assert spec.editables == []
    assert spec.tools == [ScriptTool("rez", ("-E",), False)]
    assert spec.link_shared is False


def test_venv_specs_split(tmp_path):
    recipe = recipe_from(
        '[rez]\nurl = "rez>=3"\npython = "3.11"\nlib = ["PySide6"]\n'
        '[[extension]]\nname = "foo"\nurl = "./dev/foo"\nedit = true\nflags = ["-s"]\n'
        '[[extension]]\nname = "plain"\nurl = "plain==2.0"\nlib = ["toml"]\n'
        '[[extension]]\nname = "local"\nurl = "/opt/local-pkg"\n'
        '[[extension]]\nname = "iso"\nurl = "iso-pkg>=1"\nisolation = true\npython = 3.10\n'
        'lib = ["numpy"]\n'
        '[shared]\nrequires = ["six"]\n',
        tmp_path,
    )
    rez, iso = venv_specs(recipe)

    assert rez.name == "rez"
    assert rez.python_request == "3.11"
    assert rez.inputs == [
        "rez>=3",
        "PySide6",
        f"-e {tmp_path / 'dev' / 'foo'}",
        "plain==2.0",
        "toml",
        f"local @ {Path('/opt/local-pkg').as_uri()}",
    ]
    assert rez.editables == [str(tmp_path / "dev" / "foo")]
    assert rez.tools == [
        ScriptTool("rez", ("-E",), False),
        ScriptTool("foo", ("-s",), True),
        ScriptTool("plain", ("-E",), False),
        ScriptTool("local", ("-E",), False),
    ]
    assert rez.link_shared is True

    # the isolated extension: its own venv, its libs, and rez as a library (no rez scripts)
    assert iso.name == "iso"
    assert iso.python_request == "3.10"
    assert iso.inputs == ["iso-pkg>=1", "numpy", "rez>=3"]
    assert iso.editables == []
    assert iso.tools == [ScriptTool("iso", ("-E",), False)]
    assert iso.link_shared is False


def test_venv_specs_isolated_with_editable_rez(tmp_path):
    recipe = recipe_from(
        '[rez]\nurl = "./src/rez"\nedit = true\n[[extension]]\nname = "iso"\nisolation = true\n',
        tmp_path,
    )
    rez, iso = venv_specs(recipe)
    source = str(tmp_path / "src" / "rez")
    assert rez.editables == [source]
    assert rez.inputs == [f"-e {source}"]
    assert rez.tools == [ScriptTool("rez", ("-E",), True)]
    assert iso.inputs == ["iso", f"-e {source}"]
    assert iso.editables == [source]  # rez is editable in the isolated venv too
    assert iso.tools == [ScriptTool("iso", ("-E",), False)]


def test_requirements_text():
    venv = rez_venv()
    assert requirements_text(venv) == (
        f"rez==3.4.0 --hash={HASH_A} --hash={HASH_B}\n"
        f"colorama==0.4.6 ; sys_platform == 'win32' --hash={HASH_A}\n"
        "foo @ file:///home/me/dev/foo\n"
        "-e /home/me/dev/bar\n"
    )
    assert requirements_text(VenvPlan("x", "/py", "", "3.9.0", ())) == "\n"


def test_describe():
    assert describe(full_plan()) == (
        "venv rez: Python 3.11.7, 4 packages; venv iso: Python 3.9.18, 2 packages"
    )
    single = replace(
        full_plan(),
        venvs=(replace(full_plan().venvs[0], requirements=("rez==3.4.0",), editables=()),),
    )
    assert describe(single) == "venv rez: Python 3.11.7, 1 package"


def test_installer_settings(tmp_path):
    recipe = recipe_from(
        '[pip]\noptions = ["-i", "https://pypi.example/simple", "--pre", '
        '"--disable-pip-version-check"]\n'
        '[pip.env]\nPIP_EXTRA_INDEX_URL = "https://extra/simple"\nPIP_RETRIES = 3\n'
        'PIP_NO_SUCH_SETTING = "x"\n'
        '[uv]\noptions = ["--index-strategy", "unsafe-best-match"]\n'
        '[uv.env]\nUV_LINK_MODE = "copy"\nUV_EXTRA_INDEX_URL = "https://uv-wins/simple"\n',
        tmp_path,
    )
    logger = logging.getLogger("rezup")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        options, env = installer_settings(recipe)
    finally:
        logger.removeHandler(handler)
    assert options == [
        "--index-url",
        "https://pypi.example/simple",
        "--prerelease=allow",
        "--index-strategy",
        "unsafe-best-match",
    ]
    # [uv] env is laid over the translated [pip] env
    assert env == {
        "UV_EXTRA_INDEX_URL": "https://uv-wins/simple",
        "UV_LINK_MODE": "copy",
        "UV_HTTP_RETRIES": "3",
    }
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "--disable-pip-version-check" in warnings[0]
    assert "PIP_NO_SUCH_SETTING" in warnings[0]


# --------------------------------------------------------------------------------------------
# The TOML text (tomli-w)


@pytest.mark.parametrize(
    "env",
    [
        (),
        (("a", "1"), ("b", "true"), ("c", ""), ("d", "-5")),
        (("quoted key", "v"), ("a.b", "c"), ("", "empty"), ("é", "ü"), ("1", "one")),
        (("s", "quotes \" ' and \\ backslashes \\n literal"), ("u", "日本語 ✓ \u2028 \U0001f600")),
        (("ctrl", "".join(chr(i) for i in range(32)) + "\x7f" + "\x80\x9f"),),
        (("del\x7fkey", "v"), ("nl\nkey", "y")),
        (("long", "x" * 300),),
    ],
)
def test_plan_text_round_trips_any_strings(env):
    """Whatever a recipe's strings hold, the plan's text reads back to the same plan and is
    written again byte for byte (what the digest relies on)."""
    plan = full_plan(env=env, uv_env=env, description="".join(value for _, value in env))
    text = plan.to_text()
    assert Plan.from_text(text) == plan
    assert Plan.from_text(text).to_text() == text


def test_plan_text_layout():
    """Tables and arrays of tables are written as sections, one pinned line per line."""
    text = minimal_plan().to_text()
    body = tomllib.loads(text)
    assert body["installer"] == {"options": [], "env": {}}
    for header in (
        "[installer]",
        "[installer.env]",
        "[runtime]",
        "[runtime.env]",
        "[runtime.dotenv_platform]",
        "[[venv]]",
    ):
        assert f"\n{header}\n" in text
    assert '\n    "rez==3.4.0",\n' in text
    assert "tool = []" in text
    # plain values of a table come before its sub-tables, in a fixed order
    assert text.index("format = 1") < text.index("container = ") < text.index("[installer]")


def test_plan_text_refuses_what_toml_cannot_hold():
    with pytest.raises(TypeError):
        full_plan(env=(("n", None),)).to_text()  # type: ignore[arg-type]


def test_relative_paths_in_installer_options_are_anchored_at_the_recipe(tmp_path):
    from rezup.stages.installer_settings import installer_settings
    from rezup.stages.recipe_loading import parse_recipe

    recipe = parse_recipe(
        '[pip]\noptions = ["--find-links", "./wheels", "-c=../pins.txt", '
        '"--index-url", "https://example.com/simple"]\n'
        '[uv]\noptions = ["--find-links", "https://example.com/links", "-f", "/abs/links"]\n',
        source=tmp_path / "team" / "rezup.toml",
    )
    options, _ = installer_settings(recipe)
    assert options == [
        "--find-links",
        str(tmp_path / "team" / "wheels"),
        "--constraint",
        str(tmp_path / "pins.txt"),
        "--index-url",
        "https://example.com/simple",
        "--find-links",
        "https://example.com/links",
        "-f",
        "/abs/links",
    ]
