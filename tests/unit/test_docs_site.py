"""The README and the documentation site (docs/, mkdocs.yml) against the code they describe.

Every ``rezup ...`` line of a ``console`` example is parsed by rezup's own click commands, every
TOML example is a valid recipe for rezup's recipe parser, the environment variables of the
reference are exactly those the code reads, the exit codes are those of the error model, and the
site builds with ``mkdocs build --strict`` (skipped where mkdocs is not installed). Unit tests:
no network, no revision built.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from rezup import exceptions
from rezup.stages.recipe_loading import parse_recipe
from tests.helpers import TESTS_DIR


def _repository() -> Path:
    for folder in TESTS_DIR.resolve().parents:
        if (folder / "mkdocs.yml").is_file():
            return folder
    raise LookupError("no mkdocs.yml above the tests")


REPO = _repository()
DOCS = REPO / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
DOCUMENTS = [REPO / "README.md", *PAGES]
ENV_REFERENCE = DOCS / "reference" / "environment.md"
EXIT_CODES = DOCS / "reference" / "exit-codes.md"


def _load_hook():
    spec = importlib.util.spec_from_file_location(
        "rezup_docs_cli_reference", DOCS / "_hooks" / "cli_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOOK = _load_hook()
CLI = HOOK.find_cli_group()


def _name(path: Path) -> str:
    return str(path.relative_to(REPO))


def fenced(path: Path, language: str) -> Iterator[str]:
    """The code blocks of one language in a markdown file (indented ones too, in lists)."""
    text = path.read_text(encoding="utf-8")
    pattern = rf"^([ \t]*)```{language}[^\n]*\n(.*?)^\1```"
    for match in re.finditer(pattern, text, re.S | re.M):
        yield textwrap.dedent(match.group(2))


# --------------------------------------------------------------------------------------------
# Command lines


def rezup_lines() -> list[tuple[str, str]]:
    """(file, line) of every ``$ rezup ...`` (or ``$ uv run rezup ...``) console example."""
    found = []
    for path in DOCUMENTS:
        for block in fenced(path, "console"):
            for line in block.splitlines():
                line = line.strip()
                if not line.startswith("$ "):
                    continue
                words = shlex.split(line[2:], comments=True)
                while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):  # VAR=value rezup
                    words.pop(0)
                if words[:2] == ["uv", "run"]:
                    words = words[2:]
                if words and words[0] == "rezup":
                    found.append((_name(path), line[2:]))
    return found


def _words(line: str) -> list[str]:
    """The words of a command line up to a shell redirection, without variables before it."""
    words = []
    for word in shlex.split(line, comments=True):
        if word.startswith((">", "<", "&", ";")) and not word.startswith("<command"):
            break
        words.append(word)
    while re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        words.pop(0)
    return words[2:] if words[:2] == ["uv", "run"] else words


def _option_names(command: click.Command) -> set[str]:
    names = set()
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts)
            names.update(param.secondary_opts)
    names.update(["-h", "--help"])  # every command's help option (context settings)
    return names


def _expand_flags(word: str) -> list[str]:
    """``-vv`` as click reads it: ``-v`` twice; long options without ``=value``."""
    if re.fullmatch(r"-[A-Za-z]{2,}", word):
        return [f"-{letter}" for letter in word[1:]]
    return [word.split("=", 1)[0]]


_META = re.compile(r"[\[\]|<>]|\.\.\.")  # usage notation: [optional], a|b, <placeholder>, ...
_EAGER = {"-V", "--version", "-L", "--latest", "-h", "--help"}  # they print and exit


@pytest.mark.parametrize(("where", "line"), rezup_lines(), ids=lambda v: v)
def test_a_documented_command_line_is_one_rezup_accepts(where: str, line: str):
    words = _words(line)[1:]  # without "rezup"
    own = words[: words.index("--")] if "--" in words else words
    group_options = _option_names(CLI)

    positional = [w for w in own if not w.startswith(("-", "[-"))]
    command = None
    if positional and not _META.search(positional[0]):
        assert positional[0] in CLI.commands, f"{where}: no command {positional[0]!r}: {line}"
        command = CLI.commands[positional[0]]
    allowed = group_options | (_option_names(command) if command else set())

    for word in own:
        for alternative in word.strip("[]").split("|"):
            if not alternative.startswith("-") or alternative in ("-", "--"):
                continue
            for flag in _expand_flags(alternative):
                assert flag in allowed, f"{where}: unknown option {flag!r} in: {line}"

    if _META.search(" ".join(own)) or _EAGER & {f for w in own for f in _expand_flags(w)}:
        return  # usage notation, or an option that prints and exits: names checked above
    # rezup moves its own output flags to the front, wherever they are written
    flags = [
        w for w in own if w.startswith("-") and all(f in group_options for f in _expand_flags(w))
    ]
    rest = [w for w in own if w not in flags]
    with CLI.make_context("rezup", list(flags)) as root:
        if rest:
            name, args = rest[0], rest[1:]
            try:
                CLI.commands[name].make_context(name, list(args), parent=root)
            except click.UsageError as exc:
                pytest.fail(f"{where}: rezup rejects {line!r}: {exc.format_message()}")


def test_the_readme_shows_the_two_first_commands_and_enough_others():
    lines = [line for where, line in rezup_lines() if where == "README.md"]
    assert any(line.startswith("uv run rezup ") for line in lines)
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert "$ uv run pytest" in text
    used = {_words(line)[1] for line in lines if len(_words(line)) > 1}
    assert len(used & set(CLI.commands)) >= 4


# --------------------------------------------------------------------------------------------
# The generated command-line reference


def test_the_cli_reference_is_generated_for_every_command():
    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    assert HOOK.MARKER in page
    rendered = HOOK.render()
    for name, command in HOOK.commands(CLI):
        assert f"## `rezup {name}`" in rendered
        assert f"Usage: rezup {name}" in rendered
        for option in _option_names(command) - {"-h", "--help"}:
            assert option in rendered, f"{name}: {option} missing from the reference"


# --------------------------------------------------------------------------------------------
# Recipes


def toml_examples() -> list[tuple[str, int, str]]:
    return [
        (_name(path), index, block)
        for path in DOCUMENTS
        for index, block in enumerate(fenced(path, "toml"))
    ]


@pytest.mark.parametrize(
    ("where", "index", "text"),
    toml_examples(),
    ids=lambda v: v if isinstance(v, (str, int)) and "\n" not in str(v) else "",
)
def test_a_documented_recipe_is_valid(where: str, index: int, text: str, tmp_path: Path):
    recipe = parse_recipe(text, source=tmp_path / "rezup.toml")
    assert recipe.rez.name


def test_the_recipe_reference_names_every_section():
    page = (DOCS / "reference" / "recipe.md").read_text(encoding="utf-8")
    full = parse_recipe(next(fenced(DOCS / "reference" / "recipe.md", "toml")), source=None)
    assert full.extensions and full.shared and full.init_script and full.dotenv_platform
    for section in (
        "[root]",
        "[rez]",
        "[[extension]]",
        "[env]",
        "[dotenv]",
        "[pip]",
        "[uv]",
        "[init]",
        "[shared]",
    ):
        assert section in page


# --------------------------------------------------------------------------------------------
# Environment variables

_VARIABLE = re.compile(r"(?<![A-Za-z0-9_])_?REZUP_[A-Z0-9_]*[A-Z0-9]")


def variables_in_code() -> set[str]:
    found = set()
    for path in (REPO / "rezup").rglob("*"):
        if path.is_file() and path.suffix not in (".pyc", ".toml"):
            found.update(_VARIABLE.findall(path.read_text(encoding="utf-8", errors="replace")))
    return found


def test_the_environment_reference_lists_exactly_the_variables_the_code_reads():
    code = variables_in_code()
    documented = set(_VARIABLE.findall(ENV_REFERENCE.read_text(encoding="utf-8")))
    assert documented - code == set(), "documented but never read"
    assert code - documented == set(), "read by rezup but not in the reference"


@pytest.mark.parametrize("path", DOCUMENTS, ids=_name)
def test_every_variable_a_page_names_exists(path: Path):
    named = set(_VARIABLE.findall(path.read_text(encoding="utf-8")))
    assert named - variables_in_code() == set()


# --------------------------------------------------------------------------------------------
# Exit codes


def test_the_exit_codes_page_lists_every_exit_status():
    exit_status = type(exceptions.RezupError.exit_status)  # the error model's ExitStatus
    page = EXIT_CODES.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (\d+) \| `([A-Z_]+)` \|", page, re.M))
    assert rows == {str(int(member)): member.name for member in exit_status}


# --------------------------------------------------------------------------------------------
# Links and the build


def test_the_readme_links_to_files_that_exist():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if "://" not in t]
    assert local
    for target in local:
        assert (REPO / target).exists(), target


def test_every_docs_page_is_in_the_navigation():
    config = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    for page in PAGES:
        relative = page.relative_to(DOCS).as_posix()
        assert f": {relative}" in config, f"{relative} is not in mkdocs.yml's nav"


def test_the_site_builds_strictly(tmp_path: Path):
    for module in ("mkdocs", "material", "pymdownx"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (uv run --group docs pytest ...)")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--quiet",
            "--config-file",
            str(REPO / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        cwd=str(REPO),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").is_file()
