"""The lean ``rezup use`` path: revision metadata without json, ``${VAR}`` without re, and the
imports left on the path (issue 13, "Lean use")."""

from __future__ import annotations

import json
import marshal
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rezup.ground import mark_ready, paths, revision_json
from rezup.runtime import session
from tests.helpers import lean_use_imports

# --------------------------------------------------------------------------------------------
# ${VAR} expansion: the hand parser is the regular expression it replaced

_OLD_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _old_expand_vars(value: str, env: dict[str, str]) -> str:
    """``session.expand_vars`` as it was (rezup 3.0), with ``re``."""
    if "${" not in value:
        return value
    return _OLD_PATTERN.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)


_NAMES = st.sampled_from(["A", "B_2", "_x", "EMPTY", "UNSET", "a1", "HOME", "9X", "é", ""])
_PIECES = st.one_of(
    st.sampled_from(["${", "}", ":-", "$", "{", ":", "-", "$$", "${}", "\n", " ", "x"]),
    _NAMES,
    st.text(max_size=4),
    st.builds(lambda n, d: f"${{{n}:-{d}}}", _NAMES, st.text(max_size=5)),
    st.builds(lambda n: f"${{{n}}}", _NAMES),
)


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(_PIECES, max_size=12),
    env=st.dictionaries(_NAMES, st.text(max_size=4), max_size=5),
)
def test_expand_vars_is_the_regular_expression_it_replaced(pieces, env):
    value = "".join(pieces)
    assert session.expand_vars(value, env) == _old_expand_vars(value, env)


@settings(max_examples=500, deadline=None)
@given(
    value=st.text(alphabet="${}:-_aZ9 é", max_size=30),
    env=st.dictionaries(
        st.sampled_from(["a", "Z", "_", "a9", "aZ"]),
        st.text(alphabet="${}x", max_size=3),
        max_size=4,
    ),
)
def test_expand_vars_on_dense_text(value, env):
    assert session.expand_vars(value, env) == _old_expand_vars(value, env)


# --------------------------------------------------------------------------------------------
# revision.marshal: trusted only when it is revision.json's own content


METADATA = {
    "venvs": ["rez"],
    "rez_version": "3.4.0",
    "python": "3.11.7",
    "created": 1.5,
    "session": {"bin_dirs": ["venv/rez/bin/rez"], "env": [["A", "${HOME}"]], "dotenv": []},
    "pulled_from": "/remote/x",
    "none": None,
    "big": 2**70,
}


def written(tmp_path: Path, metadata: dict | None = None) -> Path:
    revision = tmp_path / "dev" / "revisions" / "100.0"
    revision.mkdir(parents=True)
    mark_ready.write_metadata(str(revision), metadata or METADATA)
    return revision


def json_of(revision: Path) -> dict:
    return json.loads((revision / paths.METADATA_FILENAME).read_text(encoding="utf-8"))


def test_write_metadata_writes_the_marshal_copy_of_a_local_revision(tmp_path):
    revision = written(tmp_path)
    assert (revision / paths.METADATA_MARSHAL_FILENAME).is_file()
    assert (
        revision_json.read_metadata(str(revision))
        == json_of(revision)
        == json.loads(json.dumps(METADATA))
    )
    # what the lean path reads comes from the marshal copy (the JSON is not parsed)
    assert revision_json._marshalled_metadata(
        str(revision), (revision / paths.METADATA_FILENAME).read_bytes()
    ) == json_of(revision)


def test_a_remote_revision_gets_no_marshal_copy(tmp_path):
    revision = written(tmp_path, {**METADATA, "remote": True})
    assert sorted(p.name for p in revision.iterdir()) == [paths.METADATA_FILENAME]


def _marshal_bytes(revision: Path, data) -> None:
    (revision / paths.METADATA_MARSHAL_FILENAME).write_bytes(marshal.dumps(data))


FORGED = {
    "garbage": b"\x00\xffnot marshal",
    "truncated": None,  # the real file cut in half
    "empty": b"",
    "unknown type code": b"\xf0\x01\x02",
}


@pytest.mark.parametrize("shape", sorted(FORGED))
def test_an_unreadable_marshal_copy_falls_back_to_json(tmp_path, shape):
    revision = written(tmp_path)
    path = revision / paths.METADATA_MARSHAL_FILENAME
    data = FORGED[shape]
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2] if data is None else data)
    assert (
        revision_json._marshalled_metadata(
            str(revision), (revision / paths.METADATA_FILENAME).read_bytes()
        )
        is None
    )
    assert revision_json.read_metadata(str(revision)) == json_of(revision)


@pytest.mark.parametrize("forge", ["tag", "list", "dict", "str bytes", "metadata list", "short"])
def test_a_marshal_copy_of_another_shape_is_not_trusted(tmp_path, forge):
    revision = written(tmp_path)
    raw = (revision / paths.METADATA_FILENAME).read_bytes()
    lie = {"session": {"bin_dirs": ["elsewhere"]}}
    data = {
        "tag": ("rezup revision.json 999", raw, lie),
        "list": ["rezup revision.json 1", raw, lie],
        "dict": {"tag": "rezup revision.json 1", "raw": raw, "metadata": lie},
        "str bytes": ("rezup revision.json 1", raw.decode(), lie),
        "metadata list": ("rezup revision.json 1", raw, [lie]),
        "short": ("rezup revision.json 1", raw),
    }[forge]
    _marshal_bytes(revision, data)
    assert revision_json.read_metadata(str(revision)) == json_of(revision)


def test_a_marshal_copy_of_other_content_is_not_trusted(tmp_path):
    """revision.json rewritten by someone else (rezup 2.x, an editor, a copy): its bytes no
    longer match, so the marshal copy, however well formed, is ignored."""
    revision = written(tmp_path)
    metadata = json_of(revision)
    metadata["session"]["env"] = [["CHANGED", "yes"]]
    (revision / paths.METADATA_FILENAME).write_text(json.dumps(metadata), encoding="utf-8")
    assert revision_json.read_metadata(str(revision))["session"]["env"] == [["CHANGED", "yes"]]


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_broken_json_is_broken_even_with_a_good_marshal_copy_beside_it(tmp_path, content):
    revision = written(tmp_path)
    (revision / paths.METADATA_FILENAME).write_bytes(content)
    with pytest.raises(ValueError, match=r"(broken|cannot read) revision\.json"):
        revision_json.read_metadata(str(revision))


def test_a_retired_revision_is_not_ready_whatever_its_marshal_copy(tmp_path):
    revision = written(tmp_path)
    os.replace(revision / paths.METADATA_FILENAME, revision / paths.RETIRED_METADATA_FILENAME)
    assert revision_json.read_metadata(str(revision)) is None


def test_a_marshal_copy_is_replaced_not_rewritten(tmp_path):
    """A clone may hard-link files of its donor: the donor's copy must never change."""
    revision = written(tmp_path)
    donor_copy = tmp_path / "donor.marshal"
    os.link(revision / paths.METADATA_MARSHAL_FILENAME, donor_copy)
    before = donor_copy.read_bytes()
    mark_ready.write_metadata(str(revision), {**METADATA, "rez_version": "9.9.9"})
    assert donor_copy.read_bytes() == before
    assert revision_json.read_metadata(str(revision))["rez_version"] == "9.9.9"


@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_another_python_reads_the_marshal_copy_or_the_json(tmp_path, version):
    """A marshal copy written by this Python, read by another one (rezup runs on 3.9+)."""
    from tests.helpers import find_pyenv_python

    python = find_pyenv_python(version)
    if python is None:
        pytest.skip(f"no Python {version} here")
    revision = written(tmp_path)
    code = (
        "import json, sys; from rezup.ground import revision_json; "
        "print(json.dumps(revision_json.read_metadata(sys.argv[1]), sort_keys=True))"
    )
    done = subprocess.run(
        [python, "-c", code, str(revision)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json_of(revision)


# --------------------------------------------------------------------------------------------
# What the lean path imports


def test_a_revision_without_marshal_copy_is_read_from_json(home, tmp_path):
    """Revisions of an older rezup (or rezup 2.x) have no marshal copy: json reads them."""
    revision = Path(os.environ["REZUP_ROOT_LOCAL"]) / ".main" / "revisions" / "100.0"
    (revision / "venv" / "rez" / "bin" / "rez").mkdir(parents=True)
    (revision / "revision.json").write_text(json.dumps(METADATA), encoding="utf-8")
    imported = lean_use_imports(dict(os.environ))
    assert "json" in imported and "rezup.entry" in imported


@pytest.mark.skipif(os.name == "nt", reason="exec on POSIX")
def test_execvpe_searches_path_as_os_execvpe_does(tmp_path):
    """``session.execvpe`` (no ``warnings`` import) against ``os.execvpe``: PATH order, a
    match that cannot run skipped for a later one, its error raised when none can run."""
    first, second = tmp_path / "a", tmp_path / "b"
    for folder, mode in ((first, 0o644), (second, 0o755)):
        folder.mkdir()
        (folder / "prog").write_text(f"#!/bin/sh\necho {folder.name}\n", encoding="utf-8")
        (folder / "prog").chmod(mode)
    code = (
        "import os, sys\nfrom rezup.runtime.session import execvpe\n"
        "run = execvpe if sys.argv[1] == 'rezup' else os.execvpe\n"
        "try:\n    run('prog', ['prog'], {'PATH': sys.argv[2]})\n"
        "except OSError as exc:\n    print(type(exc).__name__)\n"
    )
    for path in (
        f"{first}:{second}",
        f"{tmp_path / 'none'}:{second}",
        str(first),
        str(tmp_path / "none"),
        "",
        f"{second}:{first}",
    ):
        results = {
            subprocess.run(
                [sys.executable, "-c", code, which, path], text=True, capture_output=True
            ).stdout
            for which in ("rezup", "os")
        }
        assert len(results) == 1, (path, results)


# --------------------------------------------------------------------------------------------
# The lean modules: loaded from the bytecode Python cached for them, without its search

# Imports rezup.entry (which loads the lean modules) and reports how each came to be, beside
# the spec the import system's own search gives for it; with "hook", an import hook first
# takes rezup.ground.newest (a loader that marks the module).
_REPORT_LOADING = """
import json, os, sys
from importlib.machinery import PathFinder, SourceFileLoader

class Marking(SourceFileLoader):
    def exec_module(self, module):
        module.MARKED = True
        super().exec_module(module)

class Hook:
    def find_spec(self, name, path, target=None):
        if name != "rezup.ground.newest":
            return None
        spec = PathFinder.find_spec(name, path)
        spec.loader = Marking(name, spec.origin)
        return spec

if sys.argv[1:] == ["hook"]:
    sys.meta_path.insert(0, Hook())
import rezup.entry
from rezup.ground import paths

root = sys.modules["rezup"].__path__[0]
report = {"searched": sorted(
    os.path.relpath(folder, root)
    for folder in sys.path_importer_cache
    if folder.startswith(root + os.sep)
), "works": paths.is_timestamp("1.5")}
for name, _ in rezup.entry._LEAN_MODULES:
    module = sys.modules[name]
    parent, _, child = name.rpartition(".")
    assert getattr(sys.modules[parent], child) is module
    spec, usual = module.__spec__, PathFinder.find_spec(name, sys.modules[parent].__path__)
    report[name] = {
        "loader": type(module.__loader__).__name__,
        "marked": getattr(module, "MARKED", False),
        "as usual": (
            spec.name, spec.origin, spec.cached, spec.has_location, spec.parent,
            spec.submodule_search_locations, spec.loader is module.__loader__,
            module.__file__, module.__cached__, module.__package__,
            getattr(module, "__path__", None),
        ) == (
            usual.name, usual.origin, usual.cached, usual.has_location, usual.parent,
            usual.submodule_search_locations, True,
            usual.origin, usual.cached, usual.parent,
            usual.submodule_search_locations,
        ),
    }
print(json.dumps(report))
"""


@pytest.fixture
def package_copy(tmp_path) -> tuple[Path, dict[str, str]]:
    """A copy of the rezup package without its bytecode, and an environment importing it (one
    that writes bytecode, as an installed tool does)."""
    import shutil

    import rezup

    shutil.copytree(
        Path(rezup.__file__).parent,
        tmp_path / "rezup",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONOPTIMIZE")
    }
    env["PYTHONPATH"] = str(tmp_path)
    return tmp_path / "rezup", env


def _loading(env: dict[str, str], *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _REPORT_LOADING, *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=Path(env["PYTHONPATH"]),
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _lean_names() -> list[str]:
    from rezup import entry

    return [name for name, _ in entry._LEAN_MODULES]


def test_the_lean_modules_are_loaded_from_their_bytecode_without_a_search(package_copy):
    """With the bytecode cached (by the first run), no folder of ``ground`` or ``runtime`` is
    searched, and every lean module is what the import system would have made of it."""
    _, env = package_copy
    first = _loading(env)  # no bytecode yet: imported as usual, which caches it
    assert first["searched"] == ["ground", "runtime"]
    report = _loading(env)
    assert report["searched"] == [] and report["works"]
    for name in _lean_names():
        assert report[name] == {"loader": "SourceFileLoader", "marked": False, "as usual": True}
        assert first[name] == report[name]


def test_a_lean_module_changed_since_its_bytecode_is_imported_as_usual(package_copy):
    """A source newer (or older) than its bytecode: the import system compiles it again, as
    it would have, then loads the modules left; the next run loads them all from bytecode."""
    package, env = package_copy
    _loading(env)
    source = package / "ground" / "revision_json.py"
    os.utime(source, (source.stat().st_atime, source.stat().st_mtime - 100))
    report = _loading(env)
    assert report["searched"] == ["ground", "runtime"] and report["works"]
    for name in _lean_names():
        assert report[name]["as usual"], name
    assert _loading(env)["searched"] == []


def test_an_import_hook_that_takes_a_lean_module_gets_it(package_copy):
    """An import hook asked for a lean module and taking it: that module, and the ones after
    it, are imported as usual (through the hook)."""
    _, env = package_copy
    _loading(env)
    report = _loading(env, "hook")
    assert report["rezup.ground.newest"]["loader"] == "Marking"
    assert report["rezup.ground.newest"]["marked"]
    assert report["works"]
    for name in _lean_names():
        assert report[name]["as usual"], name
        assert report[name]["marked"] == (name == "rezup.ground.newest"), name
