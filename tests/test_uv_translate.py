"""Unit tests for the pure parts of rezup.uv: pip -> uv translation and error summaries."""

from __future__ import annotations

import pytest

from rezup.uv import summarize_uv_error, translate_pip_env, translate_pip_options

# --------------------------------------------------------------------------------------------
# [pip] options


@pytest.mark.parametrize(
    ("pip", "uv"),
    [
        (["--index-url", "https://pypi.example/simple"],
         ["--index-url", "https://pypi.example/simple"]),
        (["-i", "https://pypi.example/simple"], ["--index-url", "https://pypi.example/simple"]),
        (["--index-url=https://pypi.example/simple"],
         ["--index-url", "https://pypi.example/simple"]),
        (["--extra-index-url", "https://extra/simple"], ["--extra-index-url",
                                                         "https://extra/simple"]),
        (["--extra-index-url=https://extra/simple?a=b"],
         ["--extra-index-url", "https://extra/simple?a=b"]),
        (["-f", "/wheels"], ["--find-links", "/wheels"]),
        (["--find-links", "/wheels"], ["--find-links", "/wheels"]),
        (["--find-links=/wheels"], ["--find-links", "/wheels"]),
        (["--no-index"], ["--no-index"]),
        (["--pre"], ["--prerelease=allow"]),
        (["--trusted-host", "pypi.example"], ["--allow-insecure-host", "pypi.example"]),
        (["--trusted-host=pypi.example"], ["--allow-insecure-host", "pypi.example"]),
        (["-c", "constraints.txt"], ["--constraint", "constraints.txt"]),
        (["--constraint", "c.txt"], ["--constraint", "c.txt"]),
        (["--no-binary", ":all:"], ["--no-binary", ":all:"]),
        (["--only-binary=:all:"], ["--only-binary", ":all:"]),
        (["--no-build-isolation"], ["--no-build-isolation"]),
        (["--no-cache-dir"], ["--no-cache"]),
        ([], []),
    ],
)
def test_translate_pip_options(pip, uv):
    translated, dropped = translate_pip_options(pip)
    assert translated == uv
    assert dropped == []


def test_translate_pip_options_keeps_order_and_values_with_equals():
    translated, dropped = translate_pip_options([
        "--no-index", "-f", "/w", "--pre", "-i", "https://u:p@host/simple?x=1",
        "--extra-index-url=https://a/simple?x=y=z",
    ])
    assert translated == [
        "--no-index", "--find-links", "/w", "--prerelease=allow",
        "--index-url", "https://u:p@host/simple?x=1",
        "--extra-index-url", "https://a/simple?x=y=z",
    ]
    assert dropped == []


@pytest.mark.parametrize(
    ("pip", "dropped"),
    [
        (["--disable-pip-version-check"], ["--disable-pip-version-check"]),
        (["--progress-bar", "off"], ["--progress-bar off"]),
        (["--progress-bar=off"], ["--progress-bar=off"]),
        (["--timeout", "60"], ["--timeout 60"]),
        (["-q"], ["-q"]),
        (["--no-warn-script-location"], ["--no-warn-script-location"]),
        (["--some-unknown-option"], ["--some-unknown-option"]),
        (["--unknown=value"], ["--unknown=value"]),
        (["-i"], ["-i"]),  # a value-taking option with nothing after it
    ],
)
def test_translate_pip_options_drops(pip, dropped):
    translated, got = translate_pip_options(pip)
    assert translated == []
    assert got == dropped


def test_translate_pip_options_mixed():
    translated, dropped = translate_pip_options([
        "--disable-pip-version-check", "--index-url", "https://x/simple", "--progress-bar",
        "off", "--pre", "--bogus", "--cert", "/ca.pem", "--no-index",
    ])
    assert translated == ["--index-url", "https://x/simple", "--prerelease=allow", "--no-index"]
    assert dropped == ["--disable-pip-version-check", "--progress-bar off", "--bogus",
                       "--cert /ca.pem"]


def test_translate_pip_options_accepts_tuples():
    assert translate_pip_options(("--pre",)) == (["--prerelease=allow"], [])


# --------------------------------------------------------------------------------------------
# PIP_* variables


def test_translate_pip_env_values():
    env, dropped = translate_pip_env({
        "PIP_INDEX_URL": "https://pypi.example/simple",
        "PIP_EXTRA_INDEX_URL": "https://a/simple https://b/simple",
        "PIP_FIND_LINKS": "/wheels",
        "PIP_CONSTRAINT": "/c.txt",
        "PIP_TRUSTED_HOST": "pypi.example",
        "PIP_TIMEOUT": "30",
    })
    assert env == {
        "UV_INDEX_URL": "https://pypi.example/simple",
        "UV_EXTRA_INDEX_URL": "https://a/simple https://b/simple",
        "UV_FIND_LINKS": "/wheels",
        "UV_CONSTRAINT": "/c.txt",
        "UV_INSECURE_HOST": "pypi.example",
        "UV_HTTP_TIMEOUT": "30",
    }
    assert dropped == []


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on", " On "])
def test_translate_pip_env_truthy(value):
    env, dropped = translate_pip_env({
        "PIP_PRE": value, "PIP_NO_INDEX": value, "PIP_NO_CACHE_DIR": value,
        "PIP_NO_BUILD_ISOLATION": value,
    })
    assert env == {"UV_PRERELEASE": "allow", "UV_NO_INDEX": "1", "UV_NO_CACHE": "1",
                   "UV_NO_BUILD_ISOLATION": "1"}
    assert dropped == []


@pytest.mark.parametrize("value", ["0", "false", "no", "off", ""])
def test_translate_pip_env_falsy(value):
    env, dropped = translate_pip_env({"PIP_PRE": value, "PIP_NO_INDEX": value})
    assert env == {"UV_PRERELEASE": "disallow"}
    assert "UV_NO_INDEX" not in env
    assert dropped == []


def test_translate_pip_env_dropped_and_passthrough():
    env, dropped = translate_pip_env({
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_PROGRESS_BAR": "off",
        "PIP_SOMETHING_NEW": "x",
        "PIP_INDEX_URL": "https://x/simple",
        "UV_LINK_MODE": "copy",
        "HTTPS_PROXY": "http://proxy:3128",
    })
    assert env == {
        "UV_INDEX_URL": "https://x/simple",
        "UV_LINK_MODE": "copy",
        "HTTPS_PROXY": "http://proxy:3128",
    }
    assert dropped == ["PIP_DISABLE_PIP_VERSION_CHECK", "PIP_PROGRESS_BAR", "PIP_SOMETHING_NEW"]


# --------------------------------------------------------------------------------------------
# uv's error messages


def test_summarize_uv_error_resolution_failure():
    # what `uv pip compile` prints to a pipe when a requirement cannot be met
    stderr = (
        "error: No solution found when resolving dependencies\n"
        "  cause: Because nosuchpkg-zzz was not found in the provided package locations and "
        "you require nosuchpkg-zzz==1, we can conclude that your requirements are "
        "unsatisfiable.\n"
        "\n"
        "hint: Packages were unavailable because index lookups were disabled and no additional "
        "package locations were provided (try: `--find-links <uri>`)\n"
    )
    summary = summarize_uv_error(stderr)
    assert "\n" not in summary
    assert summary.startswith("No solution found when resolving dependencies; ")
    assert "nosuchpkg-zzz was not found" in summary
    assert "error:" not in summary


def test_summarize_uv_error_fancy_format_and_noise_before():
    stderr = (
        "Using CPython 3.11.7 interpreter at: /usr/bin/python3.11\n"
        "Resolved 3 packages in 12ms\n"
        "error: Failed to download and build `broken==1.0`\n"
        "  Caused by: Build backend failed to determine requirements\n"
        "  ╰─▶ ModuleNotFoundError: No module named 'setuptools'\n"
        "hint:\n"
        "\n"
    )
    summary = summarize_uv_error(stderr)
    assert summary == (
        "Failed to download and build `broken==1.0`; Caused by: Build backend failed to "
        "determine requirements; ModuleNotFoundError: No module named 'setuptools'"
    )


def test_summarize_uv_error_without_error_line():
    stderr = ("  \u00d7 No solution found when resolving dependencies:\n"
              "  ╰─▶ Because x cannot be used\n")
    summary = summarize_uv_error(stderr)
    assert "\n" not in summary
    assert "No solution found" in summary
    assert summary.endswith("Because x cannot be used")


def test_summarize_uv_error_empty_and_long():
    assert summarize_uv_error("") == "uv exited with an error and said nothing"
    assert summarize_uv_error("\n   \n") == "uv exited with an error and said nothing"
    long = "error: " + "x" * 2000
    summary = summarize_uv_error(long)
    assert len(summary) == 600
    assert summary.endswith("...")


def test_summarize_uv_error_keeps_the_last_line_of_a_backend_traceback():
    # what `uv pip install` prints when a local package's build backend raises
    stderr = (
        "  \u00d7 Failed to build `broken-build @ file:///src/broken_build`\n"
        "  ├─▶ The build backend returned an error\n"
        "  ╰─▶ Call to `backend.build_wheel` failed (exit status: 1)\n"
        "\n"
        "      [stderr]\n"
        "      Traceback (most recent call last):\n"
        '        File "<string>", line 11, in <module>\n'
        '        File "/src/broken_build/backend.py", line 21, in build_wheel\n'
        '          raise RuntimeError("broken-build refuses to build on purpose")\n'
        "      RuntimeError: broken-build refuses to build on purpose\n"
        "\n"
        "      hint: This usually indicates a problem with the package or the build environment.\n"
    )
    summary = summarize_uv_error(stderr)
    assert "Traceback" not in summary and "File " not in summary and "hint" not in summary
    assert summary.endswith("; RuntimeError: broken-build refuses to build on purpose")
    assert "Failed to build `broken-build @ file:///src/broken_build`" in summary
