"""The one table of the pip options rezup understands, and their translation into uv's terms
(a recipe's ``[pip]``, ``PIP_*`` variables, pip's configuration files).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Optional, Union
from urllib.parse import unquote, urlparse

log = logging.getLogger("rezup")


# Kinds of option. "index" says where packages come from (``uv venv`` takes these for its seed
# packages, and an offline pull replaces them); "path" takes a file or folder (relative ones are
# anchored at the recipe's folder); "uv" is uv's own spelling, which pip's files and PIP_*
# variables do not know; "quiet" is cosmetic to pip: dropped without a word from pip's files
# and PIP_* variables (a recipe's [pip] still hears of it).
_INDEX, _PATH = frozenset({"index"}), frozenset({"path"})
_UV, _QUIET = frozenset({"uv"}), frozenset({"quiet"})
_NONE: frozenset[str] = frozenset()


class _Option(NamedTuple):
    """One option rezup understands, in pip's spelling or in uv's."""

    takes_value: bool
    uv: Optional[str]  # uv's command-line spelling; None when uv has no such option
    kinds: frozenset[str] = _NONE
    # uv's variables for the same setting: where a value from pip's files or a PIP_* variable
    # goes (also a recipe's [pip] option that uv has no command-line option for)
    env: tuple[str, ...] = ()
    # how such a value becomes the variables' value: "" as is; "list" pip's whitespace list,
    # space-separated; "list," comma-separated; "flag" a boolean, true gives "1"; "option" a
    # boolean, true gives the option ``uv`` (uv has no variable); "pre" true gives "allow";
    # "keyring" only the providers uv has
    form: str = ""


# Every option rezup understands, in pip's spelling and in uv's, in one table. The long name
# without its dashes is also the key of pip's files and, upper-cased with "_", of its PIP_*
# variables. A pip setting not listed is dropped with a warning.
_OPTIONS: dict[str, _Option] = {
    "-i": _Option(True, "--index-url", _INDEX, ("UV_INDEX_URL",)),
    "--index-url": _Option(True, "--index-url", _INDEX, ("UV_INDEX_URL",)),
    "--extra-index-url": _Option(
        True, "--extra-index-url", _INDEX, ("UV_EXTRA_INDEX_URL",), "list"
    ),
    "--default-index": _Option(True, "--default-index", _INDEX | _UV, ("UV_DEFAULT_INDEX",)),
    "--index": _Option(True, "--index", _INDEX | _UV, ("UV_INDEX",), "list"),
    "-f": _Option(True, "--find-links", _INDEX | _PATH, ("UV_FIND_LINKS",), "list,"),
    "--find-links": _Option(True, "--find-links", _INDEX | _PATH, ("UV_FIND_LINKS",), "list,"),
    "--no-index": _Option(False, "--no-index", _INDEX, (), "option"),
    "--trusted-host": _Option(True, "--allow-insecure-host", _INDEX, ("UV_INSECURE_HOST",), "list"),
    "--allow-insecure-host": _Option(
        True, "--allow-insecure-host", _INDEX | _UV, ("UV_INSECURE_HOST",), "list"
    ),
    "--index-strategy": _Option(True, "--index-strategy", _INDEX | _UV, ("UV_INDEX_STRATEGY",)),
    "--keyring-provider": _Option(
        True, "--keyring-provider", _INDEX, ("UV_KEYRING_PROVIDER",), "keyring"
    ),
    "--pre": _Option(False, "--prerelease=allow", _NONE, ("UV_PRERELEASE",), "pre"),
    "--prerelease": _Option(True, "--prerelease", _UV, ("UV_PRERELEASE",)),
    "-c": _Option(True, "--constraint", _PATH, ("UV_CONSTRAINT",), "list"),
    "--constraint": _Option(True, "--constraint", _PATH, ("UV_CONSTRAINT",), "list"),
    "--override": _Option(True, "--override", _PATH | _UV, ("UV_OVERRIDE",), "list"),
    "-r": _Option(True, "--requirement", _PATH),
    "--requirement": _Option(True, "--requirement", _PATH),
    "--no-binary": _Option(True, "--no-binary"),
    "--only-binary": _Option(True, "--only-binary"),
    "--no-build-isolation": _Option(
        False, "--no-build-isolation", _NONE, ("UV_NO_BUILD_ISOLATION",), "flag"
    ),
    "--no-cache-dir": _Option(False, "--no-cache", _NONE, ("UV_NO_CACHE",), "flag"),
    # settings uv takes from variables only
    "--timeout": _Option(True, None, _NONE, ("UV_HTTP_TIMEOUT",)),
    "--default-timeout": _Option(True, None, _NONE, ("UV_HTTP_TIMEOUT",)),
    "--retries": _Option(True, None, _NONE, ("UV_HTTP_RETRIES",)),
    "--proxy": _Option(True, None, _NONE, ("HTTP_PROXY", "HTTPS_PROXY")),
    "--cert": _Option(True, None, _PATH, ("SSL_CERT_FILE",)),
    "--client-cert": _Option(True, None, _PATH, ("SSL_CLIENT_CERT",)),
    # pip options uv has no use for
    "--prefer-binary": _Option(False, None),
    "--disable-pip-version-check": _Option(False, None, _QUIET),
    "--no-warn-script-location": _Option(False, None, _QUIET),
    "--no-python-version-warning": _Option(False, None, _QUIET),
    "--no-warn-conflicts": _Option(False, None, _QUIET),
    "--no-input": _Option(False, None, _QUIET),
    "--no-color": _Option(False, None, _QUIET),
    "--isolated": _Option(False, None, _QUIET),
    "--require-virtualenv": _Option(False, None, _QUIET),
    "--root-user-action": _Option(True, None, _QUIET),
    "--progress-bar": _Option(True, None, _QUIET),
    "--cache-dir": _Option(True, None, _QUIET),  # uv keeps its own cache
    "--exists-action": _Option(True, None, _QUIET),
    "--log": _Option(True, None, _QUIET),
    "--python": _Option(True, None, _QUIET),  # the recipe says which Python
    "-q": _Option(False, None, _QUIET),
    "--quiet": _Option(False, None, _QUIET),
    "-v": _Option(False, None, _QUIET),
    "--verbose": _Option(False, None, _QUIET),
}

# Variables that name one setting between them: setting one of them counts for all.
_SAME_SETTING: dict[str, str] = {
    "UV_DEFAULT_INDEX": "UV_INDEX_URL",
    "UV_INDEX": "UV_EXTRA_INDEX_URL",
}


def takes_value(option: str) -> bool:
    """Whether ``option`` (without ``=value``) is followed by a value of its own."""
    return option in _OPTIONS and _OPTIONS[option].takes_value


def iter_options(options: Sequence[str]) -> Iterator[tuple[str, list[str]]]:
    """Group option tokens: yields (option name, its tokens: itself and its value if any)."""
    tokens = list(options)
    index = 0
    while index < len(tokens):
        name = tokens[index].split("=", 1)[0]
        count = 2 if takes_value(name) and "=" not in tokens[index] else 1
        yield name, tokens[index : index + count]
        index += count


def _kinds(name: str) -> frozenset[str]:
    known = _OPTIONS.get(name)
    return known.kinds if known else _NONE


@dataclass
class Translation:
    """pip settings in uv's terms."""

    options: list[str] = field(default_factory=list)  # uv command-line options
    env: dict[str, str] = field(default_factory=dict)  # uv's variables
    dropped: list[str] = field(default_factory=list)  # what uv cannot use, as the user wrote it
    missing: list[tuple[str, str]] = field(default_factory=list)  # (setting, location) gone


def translate_pip_options(options: Sequence[str], base_dir: Optional[str] = None) -> Translation:
    """Turn pip command-line options (a recipe's ``[pip] options``) into uv's.

    Accepts both ``--opt value`` and ``--opt=value``. An option uv has only a variable for
    (``--timeout``, ``--cert``, ...) goes into ``env``. Anything unknown is dropped, so a recipe
    written for pip never breaks a uv build; the caller warns once with the list. ``base_dir``
    anchors relative paths that go into ``env`` (options are anchored by
    ``anchor_option_paths``).
    """
    result = Translation()
    for name, tokens in iter_options(options):
        known = _OPTIONS.get(name)
        value = tokens[0].partition("=")[2] if "=" in tokens[0] else None
        if known and known.takes_value and value is None:
            if len(tokens) < 2:  # a value-taking option with nothing after it
                result.dropped.append(tokens[0])
                continue
            value = tokens[1]
        if (
            known is None
            or (known.uv is None and not known.env)
            or (known.form == "keyring" and _convert(value or "", known, None) is None)
        ):
            result.dropped.append(" ".join(tokens))
        elif known.uv is None:  # uv takes it from variables only
            result.env.update(dict.fromkeys(known.env, _anchored(value or "", known, base_dir)))
        else:
            result.options.append(known.uv)
            if known.takes_value:
                result.options.append(value or "")
    return result


def translate_pip_env(env: Mapping[str, str], base_dir: Optional[str] = None) -> Translation:
    """Turn ``PIP_*`` variables (a recipe's ``[pip] env``) into uv's terms.

    Variables that are not pip's are passed through as they are. ``dropped`` lists the names
    of the ``PIP_*`` variables uv cannot use (cosmetic ones included).
    """
    passed = {key: value for key, value in env.items() if not key.startswith("PIP_")}
    names = {
        key[len("PIP_") :].lower().replace("_", "-"): key for key in env if key.startswith("PIP_")
    }
    result = translate_pip_config(
        {key: env[name] for key, name in names.items()}, base_dir, quiet=False
    )
    return Translation(
        result.options, {**passed, **result.env}, [names[key] for key in result.dropped]
    )


def translate_pip_config(
    settings: Mapping[str, str],
    base_dir: Optional[str] = None,
    *,
    quiet: bool = True,
    check_locations: bool = False,
) -> Translation:
    """Turn pip settings, by pip's name (``index-url``, as in pip's files), into uv's terms.

    Values are written as in pip's files: lists are whitespace-separated, booleans are
    ``true``/``1``/``yes``/... Cosmetic settings are left out without a word when ``quiet``.
    With ``check_locations``, a find-links folder or a ``file://`` index that does not exist is
    left out (and listed in ``missing``): pip ignores such a location, uv would fail on it.
    """
    result = Translation()
    for key, value in settings.items():
        known = _OPTIONS.get("--" + key)
        if known is None or "uv" in known.kinds or not (known.env or known.form == "option"):
            if not (quiet and known is not None and "quiet" in known.kinds):
                result.dropped.append(key)
            continue
        if check_locations and "index" in known.kinds:
            value, gone = _existing_locations(value, known, base_dir)
            result.missing.extend((key, location) for location in gone)
            if not value:
                continue
        converted = _convert(value, known, base_dir)
        if converted is None:
            result.dropped.append(key)
        elif converted and known.form == "option":
            result.options.append(known.uv or "")
        elif converted:
            result.env.update(dict.fromkeys(known.env, converted))
    return result


_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f", ""})


def _convert(value: str, known: _Option, base_dir: Optional[str]) -> Optional[str]:
    """A pip file value as the value of uv's variable: "" for nothing to set, None if invalid."""
    form = known.form
    if form in ("flag", "option", "pre"):
        word = value.strip().lower()
        if word not in _TRUE | _FALSE:
            return None
        if word in _FALSE:
            return ""
        return {"flag": "1", "option": "1", "pre": "allow"}[form]
    if form == "keyring":
        provider = value.strip().lower()
        return provider if provider in ("subprocess", "disabled") else None
    if form.startswith("list"):
        items = [_anchored(item, known, base_dir) for item in value.split()]
        return ("," if form == "list," else " ").join(items)
    return _anchored(value.strip(), known, base_dir)


def _anchored(value: str, known: _Option, base_dir: Optional[str]) -> str:
    """A relative path of a path-taking setting, made absolute from ``base_dir``."""
    if base_dir is None or "path" not in known.kinds or _is_url(value) or not value:
        return value
    from rezup.ground.root_settings import anchor_path

    return anchor_path(value, base_dir)


def _is_url(value: str) -> bool:
    scheme = urlparse(value).scheme
    return len(scheme) > 1 and "://" in value  # "C:\\wheels" is a path


def _existing_locations(
    value: str, known: _Option, base_dir: Optional[str]
) -> tuple[str, list[str]]:
    """``value`` without the local locations that do not exist, and those left out."""
    kept: list[str] = []
    gone: list[str] = []
    for item in value.split() if known.form.startswith("list") else [value.strip()]:
        path = _local_path(item, known, base_dir)
        (gone if path is not None and not os.path.exists(path) else kept).append(item)
    return " ".join(kept), gone


def _local_path(location: str, known: _Option, base_dir: Optional[str]) -> Optional[str]:
    """The local path a location names (a ``file:`` URL, or a path for find-links), else None."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        from urllib.request import url2pathname

        return url2pathname(unquote(parsed.path))
    if _is_url(location) or "path" not in known.kinds:
        return None
    return _anchored(location, known, base_dir or os.getcwd())


def setting_names(options: Sequence[str], env: Iterable[str]) -> set[str]:
    """The settings that ``options`` and variables named ``env`` give a value, by uv variable
    (one name per setting: ``UV_DEFAULT_INDEX`` counts as ``UV_INDEX_URL``, ...); an option
    uv has no variable for counts by its own uv spelling (``--no-index``)."""
    names = {_setting_of(name) for name in env}
    for name, _ in iter_options(options):
        known = _OPTIONS.get(name)
        if known is None:
            continue
        names.update(_setting_of(variable) for variable in known.env)
        if not known.env and known.uv:
            names.add(known.uv)
    return names


def without_settings(env: Mapping[str, str], names: set[str]) -> dict[str, str]:
    """``env`` less the variables that set one of the settings ``names``."""
    return {key: value for key, value in env.items() if _setting_of(key) not in names}


def not_set_in(env: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """``env`` less what ``environ`` (the process environment) sets already, by setting: a
    ``UV_DEFAULT_INDEX`` there keeps a translated ``UV_INDEX_URL`` out; proxies count in
    either case."""
    present = {_setting_of(key) for key, value in environ.items() if value}
    return {key: value for key, value in env.items() if _setting_of(key) not in present}


def _setting_of(variable: str) -> str:
    name = variable.upper() if variable.lower() in ("http_proxy", "https_proxy") else variable
    return _SAME_SETTING.get(name, name)


# --------------------------------------------------------------------------------------------
# Index locations, for downloads that must authenticate the way uv does


# uv's variables that name indexes or find-links locations, and how each separates them
_LOCATION_VARIABLES = {
    "UV_INDEX_URL": None,
    "UV_DEFAULT_INDEX": None,
    "UV_EXTRA_INDEX_URL": " ",
    "UV_INDEX": " ",
    "UV_FIND_LINKS": ",",
}


def index_locations(options: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """Every index and find-links location uv would use with ``options`` and ``env`` (the
    process environment with the plan's variables over it), as written: ``NAME=URL`` too."""
    found: list[str] = []
    for name, tokens in iter_options(options):
        known = _OPTIONS.get(name)
        if (
            known
            and "index" in known.kinds
            and known.takes_value
            and known.env
            and (known.env[0] in _LOCATION_VARIABLES)
        ):
            found.append(tokens[0].partition("=")[2] if "=" in tokens[0] else tokens[-1])
    for variable, separator in _LOCATION_VARIABLES.items():
        value = env.get(variable, "")
        found.extend(
            [value]
            if separator is None
            else value.split()
            if separator == " "
            else value.split(separator)
        )
    return [location.strip() for location in found if location.strip()]


def option_values(options: Sequence[str], env: Mapping[str, str], variable: str) -> list[str]:
    """The values ``options`` and ``env`` give the setting of uv's ``variable`` (whitespace
    lists split), options first: e.g. the insecure hosts, or the keyring provider."""
    found: list[str] = []
    for name, tokens in iter_options(options):
        known = _OPTIONS.get(name)
        if known and known.uv and variable in known.env and known.takes_value:
            found.extend((tokens[0].partition("=")[2] if "=" in tokens[0] else tokens[-1]).split())
    found.extend(env.get(variable, "").split())
    return found


def split_index_options(options: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split uv options into (index options, all others), keeping values with their option."""
    index: list[str] = []
    other: list[str] = []
    for name, tokens in iter_options(options):
        (index if "index" in _kinds(name) else other).extend(tokens)
    return index, other


def anchor_option_paths(options: Sequence[str], base_dir: str) -> list[str]:
    """Make relative paths given to path-taking options absolute, from the recipe's folder.

    uv runs from a neutral folder, so ``--find-links ./wheels`` in a recipe means the folder
    next to the recipe, as every other relative path in a recipe does. URLs are left alone.
    """
    from rezup.ground.root_settings import anchor_path

    def anchored(value: str) -> str:
        return value if "://" in value or os.path.isabs(value) else anchor_path(value, base_dir)

    result: list[str] = []
    for name, tokens in iter_options(options):
        if "path" not in _kinds(name):
            result.extend(tokens)
        elif len(tokens) == 2:
            result.extend([tokens[0], anchored(tokens[1])])
        elif "=" in tokens[0]:
            result.append(f"{name}={anchored(tokens[0].split('=', 1)[1])}")
        else:
            result.extend(tokens)
    return result


def offline_options(options: Sequence[str], wheelhouse: Union[Path, str]) -> list[str]:
    """``options`` with every index replaced by one wheelhouse (a folder, or a page of links
    served over HTTP) and no index at all."""
    _, other = split_index_options(options)
    return [*other, "--no-index", "--find-links", str(wheelhouse)]
