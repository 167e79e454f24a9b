"""Unit tests for the pure parts of rezup.tools.uv_options and uv_process: pip -> uv
translation and error summaries."""

from __future__ import annotations

import pytest

from rezup.tools.uv_options import (
    index_locations,
    not_set_in,
    option_values,
    setting_names,
    translate_pip_config,
    translate_pip_env,
    translate_pip_options,
    without_settings,
)
from rezup.tools.uv_process import summarize_uv_error

# --------------------------------------------------------------------------------------------
# [pip] options


@pytest.mark.parametrize(
    ("pip", "uv"),
    [
        (
            ["--index-url", "https://pypi.example/simple"],
            ["--index-url", "https://pypi.example/simple"],
        ),
        (["-i", "https://pypi.example/simple"], ["--index-url", "https://pypi.example/simple"]),
        (
            ["--index-url=https://pypi.example/simple"],
            ["--index-url", "https://pypi.example/simple"],
        ),
        (
            ["--extra-index-url", "https://extra/simple"],
            ["--extra-index-url", "https://extra/simple"],
        ),
        (
            ["--extra-index-url=https://extra/simple?a=b"],
            ["--extra-index-url", "https://extra/simple?a=b"],
        ),
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
        (["--keyring-provider", "subprocess"], ["--keyring-provider", "subprocess"]),
        ([], []),
    ],
)
def test_translate_pip_options(pip, uv):
    translated = translate_pip_options(pip)
    assert translated.options == uv
    assert translated.env == {}
    assert translated.dropped == []


def test_translate_pip_options_keeps_order_and_values_with_equals():
    translated = translate_pip_options(
        [
            "--no-index",
            "-f",
            "/w",
            "--pre",
            "-i",
            "https://u:p@host/simple?x=1",
            "--extra-index-url=https://a/simple?x=y=z",
        ]
    )
    assert translated.options == [
        "--no-index",
        "--find-links",
        "/w",
        "--prerelease=allow",
        "--index-url",
        "https://u:p@host/simple?x=1",
        "--extra-index-url",
        "https://a/simple?x=y=z",
    ]
    assert translated.dropped == []


@pytest.mark.parametrize(
    ("pip", "env"),
    [
        (["--timeout", "60"], {"UV_HTTP_TIMEOUT": "60"}),
        (["--default-timeout=60"], {"UV_HTTP_TIMEOUT": "60"}),
        (["--retries", "5"], {"UV_HTTP_RETRIES": "5"}),
        (["--cert", "/ca.pem"], {"SSL_CERT_FILE": "/ca.pem"}),
        (["--client-cert=/me.pem"], {"SSL_CLIENT_CERT": "/me.pem"}),
        (
            ["--proxy", "http://proxy:3128"],
            {"HTTP_PROXY": "http://proxy:3128", "HTTPS_PROXY": "http://proxy:3128"},
        ),
    ],
)
def test_translate_pip_options_uv_takes_from_variables(pip, env):
    """pip options uv has no option for, only a variable: they become that variable."""
    translated = translate_pip_options(pip)
    assert translated.options == []
    assert translated.env == env
    assert translated.dropped == []


def test_translate_pip_options_anchors_paths_that_become_variables(tmp_path):
    translated = translate_pip_options(["--cert", "ca.pem"], base_dir=str(tmp_path))
    assert translated.env == {"SSL_CERT_FILE": str(tmp_path / "ca.pem")}


@pytest.mark.parametrize(
    ("pip", "dropped"),
    [
        (["--disable-pip-version-check"], ["--disable-pip-version-check"]),
        (["--progress-bar", "off"], ["--progress-bar off"]),
        (["--progress-bar=off"], ["--progress-bar=off"]),
        (["--prefer-binary"], ["--prefer-binary"]),
        (["-q"], ["-q"]),
        (["--no-warn-script-location"], ["--no-warn-script-location"]),
        (["--some-unknown-option"], ["--some-unknown-option"]),
        (["--unknown=value"], ["--unknown=value"]),
        (["-i"], ["-i"]),  # a value-taking option with nothing after it
        (["--keyring-provider", "auto"], ["--keyring-provider auto"]),  # uv has no "auto"
        (["--keyring-provider=import"], ["--keyring-provider=import"]),
    ],
)
def test_translate_pip_options_drops(pip, dropped):
    translated = translate_pip_options(pip)
    assert translated.options == []
    assert translated.env == {}
    assert translated.dropped == dropped


def test_translate_pip_options_mixed():
    translated = translate_pip_options(
        [
            "--disable-pip-version-check",
            "--index-url",
            "https://x/simple",
            "--progress-bar",
            "off",
            "--pre",
            "--bogus",
            "--cert",
            "/ca.pem",
            "--no-index",
        ]
    )
    assert translated.options == [
        "--index-url",
        "https://x/simple",
        "--prerelease=allow",
        "--no-index",
    ]
    assert translated.env == {"SSL_CERT_FILE": "/ca.pem"}
    assert translated.dropped == ["--disable-pip-version-check", "--progress-bar off", "--bogus"]


def test_translate_pip_options_accepts_tuples():
    assert translate_pip_options(("--pre",)).options == ["--prerelease=allow"]


# --------------------------------------------------------------------------------------------
# PIP_* variables


def test_translate_pip_env_values():
    translated = translate_pip_env(
        {
            "PIP_INDEX_URL": "https://pypi.example/simple",
            "PIP_EXTRA_INDEX_URL": "https://a/simple https://b/simple",
            "PIP_FIND_LINKS": "/wheels",
            "PIP_CONSTRAINT": "/c.txt",
            "PIP_TRUSTED_HOST": "pypi.example",
            "PIP_TIMEOUT": "30",
            "PIP_RETRIES": "7",
            "PIP_CERT": "/etc/ca.pem",
            "PIP_CLIENT_CERT": "/etc/me.pem",
            "PIP_PROXY": "http://proxy:3128",
            "PIP_KEYRING_PROVIDER": "subprocess",
        }
    )
    assert translated.env == {
        "UV_INDEX_URL": "https://pypi.example/simple",
        "UV_EXTRA_INDEX_URL": "https://a/simple https://b/simple",
        "UV_FIND_LINKS": "/wheels",
        "UV_CONSTRAINT": "/c.txt",
        "UV_INSECURE_HOST": "pypi.example",
        "UV_HTTP_TIMEOUT": "30",
        "UV_HTTP_RETRIES": "7",
        "SSL_CERT_FILE": "/etc/ca.pem",
        "SSL_CLIENT_CERT": "/etc/me.pem",
        "HTTP_PROXY": "http://proxy:3128",
        "HTTPS_PROXY": "http://proxy:3128",
        "UV_KEYRING_PROVIDER": "subprocess",
    }
    assert translated.options == []
    assert translated.dropped == []


def test_translate_pip_env_lists_take_uv_separators():
    """pip's lists are whitespace-separated (newlines too); uv wants find-links with commas."""
    translated = translate_pip_env(
        {
            "PIP_FIND_LINKS": "/wheels  https://h/links\n/more",
            "PIP_EXTRA_INDEX_URL": "https://a/simple\n  https://b/simple",
            "PIP_TRUSTED_HOST": "a.example\tb.example:8080",
        }
    )
    assert translated.env == {
        "UV_FIND_LINKS": "/wheels,https://h/links,/more",
        "UV_EXTRA_INDEX_URL": "https://a/simple https://b/simple",
        "UV_INSECURE_HOST": "a.example b.example:8080",
    }


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on", " On ", "y"])
def test_translate_pip_env_truthy(value):
    translated = translate_pip_env(
        {
            "PIP_PRE": value,
            "PIP_NO_INDEX": value,
            "PIP_NO_CACHE_DIR": value,
            "PIP_NO_BUILD_ISOLATION": value,
        }
    )
    assert translated.env == {
        "UV_PRERELEASE": "allow",
        "UV_NO_CACHE": "1",
        "UV_NO_BUILD_ISOLATION": "1",
    }
    # uv has no variable for --no-index: it becomes the option
    assert translated.options == ["--no-index"]
    assert translated.dropped == []


@pytest.mark.parametrize("value", ["0", "false", "no", "off", ""])
def test_translate_pip_env_falsy(value):
    """A false boolean is pip's default: nothing to tell uv (uv's default is alike)."""
    translated = translate_pip_env({"PIP_PRE": value, "PIP_NO_INDEX": value})
    assert translated.env == {}
    assert translated.options == []
    assert translated.dropped == []


def test_translate_pip_env_dropped_and_passthrough():
    translated = translate_pip_env(
        {
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_PROGRESS_BAR": "off",
            "PIP_SOMETHING_NEW": "x",
            "PIP_INDEX_URL": "https://x/simple",
            "PIP_PRE": "maybe",  # not a boolean
            "PIP_DEFAULT_INDEX": "https://uv-only/simple",  # pip has no such setting
            "UV_LINK_MODE": "copy",
            "HTTPS_PROXY": "http://proxy:3128",
        }
    )
    assert translated.env == {
        "UV_INDEX_URL": "https://x/simple",
        "UV_LINK_MODE": "copy",
        "HTTPS_PROXY": "http://proxy:3128",
    }
    assert translated.dropped == [
        "PIP_DISABLE_PIP_VERSION_CHECK",
        "PIP_PROGRESS_BAR",
        "PIP_SOMETHING_NEW",
        "PIP_PRE",
        "PIP_DEFAULT_INDEX",
    ]


# --------------------------------------------------------------------------------------------
# pip's settings by name (files), and how they meet the recipe and the environment


def test_translate_pip_config_is_quiet_about_cosmetic_settings():
    translated = translate_pip_config(
        {
            "index-url": "https://studio/simple",
            "disable-pip-version-check": "1",
            "no-warn-script-location": "true",
            "progress-bar": "off",
            "no-input": "1",
            "quiet": "1",
            "verbose": "2",
            "no-python-version-warning": "1",
            "require-virtualenv": "true",
            "prefer-binary": "1",
            "use-feature": "truststore",
            "keyring-provider": "auto",
        }
    )
    assert translated.env == {"UV_INDEX_URL": "https://studio/simple"}
    assert translated.dropped == ["prefer-binary", "use-feature", "keyring-provider"]


def test_translate_pip_config_drops_locations_that_do_not_exist(tmp_path):
    (tmp_path / "wheels").mkdir()
    (tmp_path / "simple").mkdir()
    translated = translate_pip_config(
        {
            "find-links": f"wheels {tmp_path / 'gone'} https://h/links",
            "extra-index-url": f"{(tmp_path / 'simple').as_uri()} file:///opt/no/such/simple "
            "https://studio/simple",
            "index-url": "file:///no/such/index",
        },
        base_dir=str(tmp_path),
        check_locations=True,
    )
    assert translated.env == {
        "UV_FIND_LINKS": f"{tmp_path / 'wheels'},https://h/links",
        "UV_EXTRA_INDEX_URL": f"{(tmp_path / 'simple').as_uri()} https://studio/simple",
    }
    assert translated.missing == [
        ("find-links", str(tmp_path / "gone")),
        ("extra-index-url", "file:///opt/no/such/simple"),
        ("index-url", "file:///no/such/index"),
    ]
    assert translated.dropped == []


def test_setting_names_count_every_spelling_of_a_setting():
    names = setting_names(
        [
            "--default-index",
            "https://r/simple",
            "--index=x=https://y",
            "--no-index",
            "--prerelease=allow",
        ],
        ["UV_HTTP_TIMEOUT"],
    )
    assert names == {
        "UV_INDEX_URL",
        "UV_EXTRA_INDEX_URL",
        "--no-index",
        "UV_PRERELEASE",
        "UV_HTTP_TIMEOUT",
    }
    studio = {"UV_INDEX_URL": "a", "UV_EXTRA_INDEX_URL": "b", "UV_FIND_LINKS": "c"}
    assert without_settings(studio, names) == {"UV_FIND_LINKS": "c"}


def test_the_process_environment_beats_a_translated_setting():
    studio = {
        "UV_INDEX_URL": "https://studio/simple",
        "UV_EXTRA_INDEX_URL": "https://x/simple",
        "HTTP_PROXY": "http://p:1",
        "UV_HTTP_TIMEOUT": "60",
    }
    environ = {
        "UV_DEFAULT_INDEX": "https://mine/simple",
        "http_proxy": "http://q:2",
        "UV_HTTP_TIMEOUT": "",
    }
    assert not_set_in(studio, environ) == {
        "UV_EXTRA_INDEX_URL": "https://x/simple",
        "UV_HTTP_TIMEOUT": "60",
    }


def test_index_locations_and_option_values():
    options = [
        "--index-url",
        "https://a/simple",
        "--extra-index-url=https://b/simple",
        "-f",
        "/wheels",
        "--index",
        "named=https://c/simple",
        "--no-index",
        "--allow-insecure-host",
        "h1",
        "--keyring-provider",
        "subprocess",
    ]
    env = {
        "UV_INDEX_URL": "https://d/simple",
        "UV_EXTRA_INDEX_URL": "https://e/s https://f/s",
        "UV_FIND_LINKS": "/x,/y",
        "UV_INSECURE_HOST": "h2 h3",
    }
    assert index_locations(options, env) == [
        "https://a/simple",
        "https://b/simple",
        "/wheels",
        "named=https://c/simple",
        "https://d/simple",
        "https://e/s",
        "https://f/s",
        "/x",
        "/y",
    ]
    assert option_values(options, env, "UV_INSECURE_HOST") == ["h1", "h2", "h3"]
    assert option_values(options, {}, "UV_KEYRING_PROVIDER") == ["subprocess"]
    assert option_values([], {}, "UV_KEYRING_PROVIDER") == []


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
    stderr = (
        "  \u00d7 No solution found when resolving dependencies:\n  ╰─▶ Because x cannot be used\n"
    )
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


def test_summarize_uv_error_keeps_a_hint_about_credentials():
    # what uv prints when an index answers 401: "not found" is only the consequence
    stderr = (
        "error: No solution found when resolving dependencies\n"
        "  cause: Because rez was not found in the package registry and you require "
        "rez==3.4.0, we can conclude that your requirements are unsatisfiable.\n"
        "\n"
        "hint: An index URL (http://bob:pw1@127.0.0.1:8080/simple) could not be queried due "
        "to a lack of valid authentication credentials (401 Unauthorized)\n"
        "hint: Packages were unavailable because the network was disabled\n"
    )
    summary = summarize_uv_error(stderr)
    assert summary.endswith(
        "; An index URL (http://bob:****@127.0.0.1:8080/simple) could not "
        "be queried due to a lack of valid authentication credentials "
        "(401 Unauthorized)"
    )
    assert "network" not in summary and "pw1" not in summary
