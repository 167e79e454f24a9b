"""Unit tests for rezup.stages.recipe_*: parsing, validation, merging, container recipe files."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest

from rezup.ground.compat import tomllib
from rezup.ground.errors import RecipeError, UsageError
from rezup.ground.paths import DEFAULT_CONTAINER as DEFAULT_CONTAINER_NAME
from rezup.ground.paths import check_container_name as validate_container_name
from rezup.ground.root_settings import read_root_settings, recipe_file
from rezup.stages import recipe_validation
from rezup.stages.recipe_files import ContainerRecipe
from rezup.stages.recipe_loading import (
    deep_merge,
    load_default_recipe,
    load_recipe,
    parse_recipe,
)
from rezup.stages.recipe_model import Recipe, Shared, Tool
from rezup.stages.recipe_validation import is_local_path


@pytest.fixture
def recipe_dir(tmp_path):
    folder = tmp_path / "recipes"
    folder.mkdir()
    return folder


def write_recipe(folder: Path, text: str, name: str = "rezup.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load(folder: Path, text: str) -> Recipe:
    return load_recipe(write_recipe(folder, text))


def error_of(folder: Path, text: str) -> str:
    path = write_recipe(folder, text)
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    message = str(info.value)
    assert "\n" not in message, "recipe errors must fit on one line"
    assert message.startswith(f"{path}: "), message
    return message


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def rezup_log(monkeypatch):
    """Records of the 'rezup' logger, whatever other tests did to its handlers."""
    logger = logging.getLogger("rezup")
    handler = _ListHandler()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    monkeypatch.setattr(recipe_validation, "_warned", set())
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(old_level)


# --------------------------------------------------------------------------------------------
# Container names


@pytest.mark.parametrize(
    "name", ["", ".", "..", "a/b", "../x", "a\\b", "x/..", "a..b", "/abs", "a b", "-x", "tab\t"]
)
def test_validate_container_name_refuses(name):
    with pytest.raises(UsageError, match="invalid container name"):
        validate_container_name(name)


@pytest.mark.parametrize("name", [".main", "dev", "foo_bar", "v1.2", "a+b", "a-b", "_x", "X9"])
def test_validate_container_name_accepts(name):
    assert validate_container_name(name) == name


# --------------------------------------------------------------------------------------------
# The default recipe and merging


def test_default_recipe(home):
    recipe = load_default_recipe()
    assert recipe.source is None
    assert recipe.rez == Tool(name="rez", url="rez")
    assert recipe.rez.flags == ("-E",)
    assert recipe.extensions == ()
    assert recipe.shared is None
    assert recipe.env == ()
    assert recipe.root_local == "" and recipe.root_remote == ""
    assert recipe.init_script is None
    # the text kept for a revision is the packaged default recipe itself
    packaged = Path(recipe_validation.__file__).with_name("default_recipe.toml").read_text("utf-8")
    assert recipe.text == packaged
    assert recipe.tools == (recipe.rez,)


def test_empty_file_gives_default_values(recipe_dir):
    recipe = load(recipe_dir, "")
    default = load_default_recipe()
    assert recipe.rez == default.rez
    assert recipe.description == default.description
    assert recipe.text == ""  # the file as written, not the default
    assert recipe.source == recipe_dir / "rezup.toml"


def test_deep_merge_over_default(recipe_dir):
    # only [rez] url given: name still comes from the packaged default
    recipe = load(recipe_dir, '[rez]\nurl = "rez>=3"\n')
    assert recipe.rez.name == "rez"
    assert recipe.rez.url == "rez>=3"
    # [rez] name given without url: the default url is kept by the merge
    recipe = load(recipe_dir, '[rez]\nname = "rez"\nflags = ["-E", "-s"]\n')
    assert recipe.rez.url == "rez"
    assert recipe.rez.flags == ("-E", "-s")


def test_deep_merge_function():
    base = {"a": {"x": 1, "y": {"p": 1}}, "b": [1, 2], "c": 1}
    over = {"a": {"y": {"q": 2}, "z": 3}, "b": [3], "d": {"k": "v"}}
    merged = deep_merge(base, over)
    assert merged == {
        "a": {"x": 1, "y": {"p": 1, "q": 2}, "z": 3},
        "b": [3],
        "c": 1,
        "d": {"k": "v"},
    }
    assert base == {"a": {"x": 1, "y": {"p": 1}}, "b": [1, 2], "c": 1}, "base not modified"
    # a table replaced by a scalar and the other way round
    assert deep_merge({"a": {"x": 1}}, {"a": 5}) == {"a": 5}
    assert deep_merge({"a": 5}, {"a": {"x": 1}}) == {"a": {"x": 1}}


# --------------------------------------------------------------------------------------------
# Sections, one by one


def test_description(recipe_dir):
    assert load(recipe_dir, 'description = "My rez setup"\n').description == "My rez setup"
    message = error_of(recipe_dir, "description = 5\n")
    assert "description" in message and "must be a string, got an integer" in message
    message = error_of(recipe_dir, "description = 1.5\n")
    assert "must be a string, got a number" in message
    message = error_of(recipe_dir, "description = [1]\n")
    assert "must be a string, got an array" in message


def test_schema_key_of_rezup2_is_accepted(recipe_dir):
    assert load(recipe_dir, 'schema = "1.0"\n').rez.name == "rez"
    assert "schema" in error_of(recipe_dir, "schema = 1\n")


def test_root_paths(recipe_dir, home):
    recipe = load(recipe_dir, '[root]\nlocal = "~/containers"\nremote = "/shared/rezup"\n')
    assert recipe.root_local == str(home / "containers")
    assert recipe.root_remote == os.path.normpath("/shared/rezup")


def test_root_relative_to_recipe_folder(recipe_dir):
    recipe = load(recipe_dir, '[root]\nlocal = "roots/local"\nremote = "../remote"\n')
    assert recipe.root_local == str(recipe_dir / "roots" / "local")
    assert recipe.root_remote == str(recipe_dir.parent / "remote")


@pytest.mark.parametrize("value", ["false", '""'])
def test_root_false_or_empty_means_unset(recipe_dir, value):
    recipe = load(recipe_dir, f"[root]\nlocal = {value}\nremote = {value}\n")
    assert recipe.root_local == ""
    assert recipe.root_remote == ""


def test_root_errors(recipe_dir):
    message = error_of(recipe_dir, "[root]\nlocal = 1\n")
    assert "[root] local" in message and "must be a string" in message
    message = error_of(recipe_dir, "[root]\nremote = true\n")
    assert "[root] remote" in message
    message = error_of(recipe_dir, "[root]\nlocl = '/x'\n")
    assert "[root]" in message and "unknown key 'locl'" in message
    message = error_of(recipe_dir, 'root = "/x"\n')
    assert "[root]" in message and "must be a table" in message


def test_read_root_settings(recipe_dir, home):
    path = write_recipe(recipe_dir, '[root]\nlocal = "~/l"\nremote = "r"\n[env]\nBAD = true\n')
    # forgiving of errors outside [root]
    assert read_root_settings(path) == (str(home / "l"), str(recipe_dir / "r"))
    assert read_root_settings(recipe_dir / "missing.toml") == ("", "")
    path = write_recipe(recipe_dir, '[env]\nA = "x"\n', "noroot.toml")
    assert read_root_settings(path) == ("", "")
    path = write_recipe(recipe_dir, "[root]\nlocal = false\n", "false.toml")
    assert read_root_settings(path) == ("", "")
    path = write_recipe(recipe_dir, "root = 3\n", "bad.toml")
    with pytest.raises(RecipeError, match=r"\[root\] must be a table"):
        read_root_settings(path)
    path = write_recipe(recipe_dir, '[root\nlocal = "x"\n', "syntax.toml")
    with pytest.raises(RecipeError, match="invalid TOML"):
        read_root_settings(path)


def test_rez_section(recipe_dir):
    recipe = load(
        recipe_dir,
        '[rez]\nname = "rez"\nurl = "rez==3.2.1"\nflags = ["-E", "-s"]\npython = "3.11"\n'
        'lib = ["PySide6", "toml"]\n',
    )
    assert recipe.rez == Tool(
        name="rez",
        url="rez==3.2.1",
        edit=False,
        flags=("-E", "-s"),
        isolation=False,
        python="3.11",
        lib=("PySide6", "toml"),
    )


def test_rez_flags_may_be_empty(recipe_dir):
    assert load(recipe_dir, "[rez]\nflags = []\n").rez.flags == ()


def test_rez_edit_with_local_folder(recipe_dir, home):
    recipe = load(recipe_dir, '[rez]\nurl = "./src/rez"\nedit = true\n')
    assert recipe.rez.edit is True
    assert recipe.rez.url == str(recipe_dir / "src" / "rez")
    recipe = load(recipe_dir, '[rez]\nurl = "~/dev/rez"\nedit = true\n')
    assert recipe.rez.url == str(home / "dev" / "rez")
    recipe = load(recipe_dir, '[rez]\nurl = "/opt/src/rez/"\n')
    assert recipe.rez.url == os.path.normpath("/opt/src/rez")
    assert recipe.rez.edit is False


@pytest.mark.parametrize("url", ["rez", "rez>=3", "git+https://github.com/x/rez", "rez==3.0"])
def test_edit_needs_a_local_path(recipe_dir, url):
    message = error_of(recipe_dir, f'[rez]\nurl = "{url}"\nedit = true\n')
    assert "[rez] url" in message
    assert "edit = true needs a local folder" in message
    assert repr(url) in message


def test_url_is_stripped_and_must_not_be_empty(recipe_dir):
    assert load(recipe_dir, '[rez]\nurl = "  rez>=3  "\n').rez.url == "rez>=3"
    message = error_of(recipe_dir, '[rez]\nurl = "   "\n')
    assert "[rez] url" in message and "must not be empty" in message


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("[rez]\nname = 3\n", "[rez] name", "must be a string"),
        ('[rez]\nname = "bad name"\n', "[rez] name", "not a valid package name"),
        ('[rez]\nurl = ["rez"]\n', "[rez] url", "must be a string"),
        ('[rez]\nedit = "yes"\n', "[rez] edit", "must be true or false"),
        ('[rez]\nflags = "-E"\n', "[rez] flags", "must be a list of strings"),
        ('[rez]\nflags = ["-E", 1]\n', "[rez] flags", "must be a list of strings"),
        ('[rez]\nlib = "toml"\n', "[rez] lib", "must be a list of strings"),
        ("[rez]\npython = true\n", "[rez] python", "must be a version or a path"),
        ('[rez]\npython = ["3.11"]\n', "[rez] python", "must be a version or a path"),
        ('rez = "rez"\n', "[rez]", "must be a table"),
        ("[rez]\nisolation = true\n", "[rez]", "unknown key 'isolation'"),
        ('[rez]\nversion = "3"\n', "[rez]", "unknown key 'version'"),
    ],
)
def test_rez_errors(recipe_dir, text, where, what):
    message = error_of(recipe_dir, text)
    assert where in message
    assert what in message


def test_python_versions_and_paths(recipe_dir, home):
    assert load(recipe_dir, "[rez]\npython = 3.11\n").rez.python == "3.11"
    assert load(recipe_dir, "[rez]\npython = 3\n").rez.python == "3"
    assert load(recipe_dir, '[rez]\npython = "3.12"\n').rez.python == "3.12"
    assert load(recipe_dir, '[rez]\npython = ""\n').rez.python is None
    assert load(recipe_dir, '[rez]\npython = "/usr/bin/python3"\n').rez.python == "/usr/bin/python3"
    assert load(recipe_dir, '[rez]\npython = "~/py/bin/python"\n').rez.python == str(
        home / "py" / "bin" / "python"
    )
    assert load(recipe_dir, '[rez]\npython = "py/bin/python"\n').rez.python == str(
        recipe_dir / "py" / "bin" / "python"
    )


def test_python_float_keeps_its_written_form(recipe_dir):
    # `python = 3.10` is how rezup 2.x recipes wrote versions (`python = 2.7`); as a TOML float
    # it is 3.1, which would ask uv for Python 3.1.
    assert (
        load(recipe_dir, "[[extension]]\nname = 'x'\npython = 3.10\n").extensions[0].python
        == "3.10"
    )
    assert load(recipe_dir, "[rez]\npython = 2.7\n").rez.python == "2.7"


def test_recipe_data_with_floats_can_be_copied_and_pickled(home):
    import copy
    import pickle

    (home / "rezup.dev.toml").write_text("[env]\nVERSION = 1.10\n", encoding="utf-8")
    data = ContainerRecipe("dev").data()
    assert data["env"]["VERSION"] == 1.1  # still a number for the rezup 2.x API
    for clone in (copy.deepcopy(data), pickle.loads(pickle.dumps(data))):
        assert clone == data
        assert str(clone["env"]["VERSION"]) == "1.10"


def test_extensions(recipe_dir, home):
    recipe = load(
        recipe_dir,
        '[[extension]]\nname = "foo"\nurl = "~/dev/foo"\nedit = true\n\n'
        '[[extension]]\nname = "bar"\nurl = "git+https://github.com/get-bar/bar"\n'
        'isolation = true\npython = 3.9\nflags = []\nlib = ["six"]\n\n'
        '[[extension]]\nname = "baz"\n',
    )
    foo, bar, baz = recipe.extensions
    assert foo == Tool(name="foo", url=str(home / "dev" / "foo"), edit=True)
    assert bar == Tool(
        name="bar",
        url="git+https://github.com/get-bar/bar",
        edit=False,
        flags=(),
        isolation=True,
        python="3.9",
        lib=("six",),
    )
    assert baz == Tool(name="baz", url="baz")  # url defaults to the name
    assert recipe.tools == (recipe.rez, foo, bar, baz)


def test_single_extension_table_and_empty_ones(recipe_dir):
    recipe = load(recipe_dir, '[extension]\nname = "foo"\n')
    assert [t.name for t in recipe.extensions] == ["foo"]
    # rezup 2.x's default recipe carried an empty [[extension]]
    recipe = load(recipe_dir, '[[extension]]\n\n[[extension]]\nname = "foo"\n')
    assert [t.name for t in recipe.extensions] == ["foo"]


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ('[[extension]]\nurl = "foo"\n', "[[extension]] #1", "missing required key 'name'"),
        (
            '[[extension]]\nname = "a"\n[[extension]]\nname = "a"\n',
            "[[extension]] #2 name",
            "'a' is used twice",
        ),
        ('[[extension]]\nname = "rez"\n', "[[extension]] #1 name", "'rez' is used twice"),
        (
            '[[extension]]\nname = "a"\nisolation = 1\n',
            "[[extension]] #1 isolation",
            "must be true or false",
        ),
        ('[[extension]]\nname = "a"\nbogus = 1\n', "[[extension]] #1", "unknown key 'bogus'"),
        ('extension = "foo"\n', "[[extension]]", "must be an array of tables"),
        ('extension = ["foo"]\n', "[[extension]] #1", "must be a table"),
        (
            '[[extension]]\nname = "foo"\nurl = "foo"\nedit = true\n',
            "[[extension]] #1 url",
            "edit = true needs a local folder",
        ),
    ],
)
def test_extension_errors(recipe_dir, text, where, what):
    message = error_of(recipe_dir, text)
    assert where in message
    assert what in message


def test_unknown_key_names_file_section_and_key(recipe_dir):
    path = write_recipe(recipe_dir, '[pip]\noptions = []\nindex = "x"\n')
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    message = str(info.value)
    assert str(path) in message
    assert "[pip]" in message
    assert "'index'" in message
    assert "allowed: env, options" in message

    message = error_of(recipe_dir, 'descripton = "typo"\n')
    assert "top level" in message and "'descripton'" in message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('description = "x"\n[rez]\nname = \n', 3),
        ('[rez\nname = "rez"\n', 1),
        ('a = "unterminated\n', 1),
        ('[env]\nA = "1"\nA = "2"\n', 3),
    ],
)
def test_toml_syntax_error_has_line_and_column(recipe_dir, text, line):
    message = error_of(recipe_dir, text)
    assert "invalid TOML" in message
    assert re.search(rf"line {line}, column \d+", message), message


def test_missing_and_unreadable_files(recipe_dir):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(recipe_dir / "nope.toml")
    bad = recipe_dir / "latin1.toml"
    bad.write_bytes(b'description = "caf\xe9"\n')
    with pytest.raises(RecipeError, match="cannot read recipe"):
        load_recipe(bad)


def test_shared_is_parsed_and_warns_once(recipe_dir, rezup_log):
    text = '[shared]\nname = "production"\nrequires = ["toml", "pyside2", "Qt5.py"]\n'
    recipe = load(recipe_dir, text)
    assert recipe.shared == Shared(name="production", requires=("toml", "pyside2", "Qt5.py"))
    again = load(recipe_dir, text)
    assert again.shared == recipe.shared
    warnings = [r for r in rezup_log if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "deprecated" in warnings[0].getMessage()
    assert "[shared]" in warnings[0].getMessage()


def test_shared_defaults_and_errors(recipe_dir, rezup_log):
    assert load(recipe_dir, "[shared]\n").shared is None
    assert load(recipe_dir, '[shared]\nname = "x"\nrequires = []\n').shared is None
    assert not rezup_log, "no warning when [shared] holds nothing"
    assert load(recipe_dir, '[shared]\nrequires = ["toml"]\n').shared == Shared(
        "production", ("toml",)
    )
    assert len(rezup_log) == 1
    assert "[shared]" in error_of(recipe_dir, "[shared]\nfoo = 1\n")
    assert "[shared] requires" in error_of(recipe_dir, '[shared]\nrequires = "toml"\n')
    assert "[shared] name" in error_of(recipe_dir, '[shared]\nname = "a/b"\nrequires = ["x"]\n')
    assert "[shared]" in error_of(recipe_dir, 'shared = ["toml"]\n')


def test_env(recipe_dir):
    recipe = load(
        recipe_dir,
        '[env]\nREZ_CONFIG_FILE = "/path/to/rezconfig.py"\nCOUNT = 3\nRATIO = 1.5\n'
        'NEG = -2\nEMPTY = ""\nEXPANDED = "${HOME}/x"\n',
    )
    assert recipe.env == (
        ("REZ_CONFIG_FILE", "/path/to/rezconfig.py"),
        ("COUNT", "3"),
        ("RATIO", "1.5"),
        ("NEG", "-2"),
        ("EMPTY", ""),
        ("EXPANDED", "${HOME}/x"),  # expanded at session time, not here
    )


def test_env_numbers_keep_their_written_form(recipe_dir):
    # an unquoted VERSION = 1.10 must not become "1.1"
    recipe = load(recipe_dir, "[env]\nVERSION = 1.10\nBIG = 1e3\n")
    assert dict(recipe.env)["VERSION"] == "1.10"
    assert dict(recipe.env)["BIG"] == "1e3"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[env]\nFLAG = true\n", "[env].FLAG"),
        ('[env]\nLIST = ["a"]\n', "[env].LIST"),
        ("[env.SUB]\nA = 1\n", "[env].SUB"),
        ("[env]\nWHEN = 1979-05-27\n", "[env].WHEN"),
        ('env = "A=1"\n', "[env]"),
    ],
)
def test_env_errors(recipe_dir, text, where):
    message = error_of(recipe_dir, text)
    assert where in message
    assert "must be" in message


def test_dotenv_sorted_by_key_then_platform(recipe_dir, home):
    recipe = load(
        recipe_dir,
        '[dotenv]\nz = "z.env"\na = "~/a.env"\nm = "/etc/m.env"\n\n'
        '[dotenv.linux]\n2 = "linux2.env"\n1 = "linux1.env"\n\n'
        '[dotenv.windows]\nx = "win.env"\n',
    )
    assert recipe.dotenv == (
        str(home / "a.env"),
        os.path.normpath("/etc/m.env"),
        str(recipe_dir / "z.env"),
    )
    assert recipe.dotenv_files("linux") == [
        str(home / "a.env"),
        os.path.normpath("/etc/m.env"),
        str(recipe_dir / "z.env"),
        str(recipe_dir / "linux1.env"),
        str(recipe_dir / "linux2.env"),
    ]
    assert recipe.dotenv_files("windows")[-1] == str(recipe_dir / "win.env")
    assert len(recipe.dotenv_files("windows")) == 4
    assert recipe.dotenv_files("darwin") == list(recipe.dotenv)


def test_dotenv_errors(recipe_dir):
    message = error_of(recipe_dir, '[dotenv.solaris]\na = "x.env"\n')
    assert "[dotenv.solaris]" in message and "unknown platform" in message
    message = error_of(recipe_dir, "[dotenv]\na = 1\n")
    assert "[dotenv] a" in message and "must be a string" in message
    message = error_of(recipe_dir, "[dotenv.linux]\na = false\n")
    assert "[dotenv.linux] a" in message
    assert "[dotenv]" in error_of(recipe_dir, 'dotenv = ["a.env"]\n')


def test_pip_and_uv_sections(recipe_dir):
    recipe = load(
        recipe_dir,
        '[pip]\noptions = ["--index-url", "https://pypi.example/simple", "--pre"]\n'
        '[pip.env]\nPIP_TRUSTED_HOST = "pypi.example"\nPIP_TIMEOUT = 30\n'
        '[uv]\noptions = ["--index-strategy", "unsafe-best-match"]\n'
        '[uv.env]\nUV_LINK_MODE = "copy"\nUV_CONCURRENT_DOWNLOADS = 4\n',
    )
    assert recipe.pip_options == ("--index-url", "https://pypi.example/simple", "--pre")
    assert recipe.pip_env == (("PIP_TRUSTED_HOST", "pypi.example"), ("PIP_TIMEOUT", "30"))
    assert recipe.uv_options == ("--index-strategy", "unsafe-best-match")
    assert recipe.uv_env == (("UV_LINK_MODE", "copy"), ("UV_CONCURRENT_DOWNLOADS", "4"))


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[pip]\noptions = "--pre"\n', "[pip] options"),
        ("[pip]\nenv = 1\n", "[pip] env"),
        ("[pip.env]\nPIP_PRE = true\n", "[pip] env.PIP_PRE"),
        ("[pip]\nextra = 1\n", "[pip]"),
        ("[uv]\noptions = [1]\n", "[uv] options"),
        ('[uv.env]\nUV_X = ["a"]\n', "[uv] env.UV_X"),
        ("[uv]\nextra = 1\n", "[uv]"),
        ('uv = "x"\n', "[uv]"),
        ('pip = "x"\n', "[pip]"),
    ],
)
def test_pip_and_uv_errors(recipe_dir, text, where):
    assert where in error_of(recipe_dir, text)


def test_init_script(recipe_dir, home):
    assert load(recipe_dir, '[init]\nscript = "site.py"\n').init_script == str(
        recipe_dir / "site.py"
    )
    assert load(recipe_dir, '[init]\nscript = "~/site.py"\n').init_script == str(home / "site.py")
    assert load(recipe_dir, "[init]\n").init_script is None
    assert "[init] script" in error_of(recipe_dir, "[init]\nscript = 1\n")
    assert "unknown key 'other'" in error_of(recipe_dir, "[init]\nother = 1\n")


def test_full_readme_example(recipe_dir, home, rezup_log):
    """The recipe of the original README still loads."""
    recipe = load(
        recipe_dir,
        'description = "My rez setup"\n\n[root]\nlocal = false\nremote = false\n\n'
        '[rez]\nname = "rez"\nurl = "rez>=2.83"\n\n'
        '[[extension]]\nname = "foo"\nurl = "~/dev/foo"\nedit = true\n\n'
        '[[extension]]\nname = "bar"\nurl = "git+git://github.com/get-bar/bar"\n'
        "isolation = true\npython = 2.7\n\n"
        '[shared]\nname = "production"\nrequires = [\n    "toml",\n    "pyside2",\n'
        '    "Qt5.py",\n]\n\n[env]\nREZ_CONFIG_FILE = "/path/to/rezconfig.py"\n\n'
        '[init]\nscript = "/path/to/script.py"\n',
    )
    assert recipe.description == "My rez setup"
    assert [t.name for t in recipe.tools] == ["rez", "foo", "bar"]
    assert recipe.extensions[1].isolation is True
    assert recipe.shared is not None
    assert recipe.env == (("REZ_CONFIG_FILE", "/path/to/rezconfig.py"),)
    assert recipe.init_script == os.path.normpath("/path/to/script.py")


def test_parse_recipe_without_source_anchors_at_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = parse_recipe('[[extension]]\nname = "x"\nurl = "./x"\n', source=None)
    assert recipe.extensions[0].url == str(tmp_path / "x")
    with pytest.raises(RecipeError, match=r"^<recipe>: "):
        parse_recipe("bogus = 1\n", source=None)


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("~/dev/foo", True),
        ("./foo", True),
        ("../foo", True),
        ("/opt/foo", True),
        (".", True),
        ("..", True),
        (".\\foo", True),
        ("C:\\src\\foo", True),
        ("c:/src", True),
        ("rez", False),
        ("rez>=3", False),
        ("git+https://x/y", False),
        ("foo/bar", False),
        (".foo", False),
    ],
)
def test_is_local_path(url, local):
    assert is_local_path(url) is local


# --------------------------------------------------------------------------------------------
# Recipe files bound to containers


def test_container_recipe_paths(home):
    main = ContainerRecipe()
    assert main.name() == DEFAULT_CONTAINER_NAME == ".main"
    assert main.path() == home / "rezup.toml"
    assert ContainerRecipe(".main").path() == home / "rezup.toml"
    assert ContainerRecipe("dev").path() == home / "rezup.dev.toml"
    assert Path(recipe_file("test")) == home / "rezup.test.toml"
    custom = ContainerRecipe("dev", path=home / "elsewhere.toml")
    assert custom.path() == home / "elsewhere.toml"
    assert "dev" in repr(custom)
    for bad in ("", "..", "a/b"):
        if bad == "":
            continue  # "" means the default container
        with pytest.raises(UsageError):
            ContainerRecipe(bad)


def test_container_recipe_load_create_and_data(home):
    recipe = ContainerRecipe("dev")
    assert not recipe.is_file()
    assert recipe.load().source is None  # the packaged default
    assert recipe.data()["rez"] == {"name": "rez", "url": "rez"}
    with pytest.raises(RecipeError, match="not found"):
        ContainerRecipe("dev", path=home / "given.toml").load()

    created = recipe.create()
    assert created == home / "rezup.dev.toml"
    assert tomllib.loads(created.read_text("utf-8"))["rez"]["name"] == "rez"
    created.write_text('[rez]\nurl = "rez==3.0"\n', encoding="utf-8")
    recipe.create()  # never overwrites
    assert recipe.load().rez.url == "rez==3.0"
    assert recipe.load().source == created
    assert recipe.data()["rez"] == {"name": "rez", "url": "rez==3.0"}


def test_iter_recipes(home):
    assert list(ContainerRecipe.iter_recipes()) == []
    for name in (
        "rezup.toml",
        "rezup.zeta.toml",
        "rezup.alpha.toml",
        "rezup.a..b.toml",
        "rezup..toml",
        "rezup.bad name.toml",
        "other.toml",
        "rezup.toml.bak",
    ):
        (home / name).write_text("", encoding="utf-8")
    names = [r.name() for r in ContainerRecipe.iter_recipes()]
    assert names == [".main", "alpha", "zeta"]


def test_iter_recipes_without_default(home):
    (home / "rezup.dev.toml").write_text("", encoding="utf-8")
    assert [r.name() for r in ContainerRecipe.iter_recipes()] == ["dev"]


@pytest.mark.parametrize(
    "recipe_text, key",
    [
        ('[shared]\nname = ".."\nrequires = ["six"]\n', "[shared] name"),
        ('[shared]\nname = "a/b"\nrequires = ["six"]\n', "[shared] name"),
        ('[[extension]]\nname = ".."\nurl = "six"\nisolation = true\n', "name"),
        ('[[extension]]\nname = "."\nurl = "six"\n', "name"),
        ('[[extension]]\nname = "-x"\nurl = "six"\n', "name"),
    ],
)
def test_names_that_could_leave_their_folder_are_refused(recipe_text, key, tmp_path):
    path = tmp_path / "rezup.toml"
    path.write_text(recipe_text)
    with pytest.raises(RecipeError, match=re.escape(key)):
        load_recipe(path)
