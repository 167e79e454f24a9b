"""Wheel downloads authenticate as uv does (issue 12): credentials in URLs, named indexes,
netrc, uv's credentials store and the keyring command, against a local index on 127.0.0.1
that answers 401 to any request without them. uv itself is checked against the same index
with the same credentials.
"""

from __future__ import annotations

from pathlib import Path

from rezup.stages.plan import Plan
from rezup.stages.wheelhouse import downloader_for
from rezup.tools.credentials import (
    CredentialFinder,
    Index,
    redact,
    split_userinfo,
    store_lookup,
    uv_credentials_dir,
)

USER, PASSWORD = "alice", "s3cret-pw"


# --------------------------------------------------------------------------------------------
# Pure parts


def test_redact_hides_passwords_only():
    assert redact("see https://bob:pa55@host/simple and http://tok@h2/x") == (
        "see https://bob:****@host/simple and http://tok@h2/x"
    )
    assert redact("--index-url https://u:p%40ss@h/s --x") == "--index-url https://u:****@h/s --x"
    assert redact("file:///no/secret") == "file:///no/secret"


def test_split_userinfo():
    assert split_userinfo("https://u:p%40ss@h:8443/s") == ("https://h:8443/s", "u", "p@ss")
    assert split_userinfo("https://tok@h/s") == ("https://h/s", "tok", None)
    assert split_userinfo("https://h/s") == ("https://h/s", None, None)


def test_named_indexes_take_credentials_from_variables():
    env = {"UV_INDEX_STUDIO_PROXY_USERNAME": "bob", "UV_INDEX_STUDIO_PROXY_PASSWORD": "pw"}
    index = Index.parse("studio-proxy=https://h/simple", env)
    assert index == Index(
        "https://h/simple", "studio-proxy", "bob", "pw", "UV_INDEX_STUDIO_PROXY_USERNAME/PASSWORD"
    )
    assert Index.parse("https://h/simple?x=y", env) == Index("https://h/simple?x=y")
    assert Index.parse("https://u:p@h/simple", {}) == Index("https://h/simple", None, "u", "p")


def test_which_credentials_go_with_the_first_request():
    finder = CredentialFinder(
        [
            "https://a:1@h/simple",
            "https://b:2@h/simple/deep",
            "priv=https://p:8443/idx",
            "https://other/simple",
        ],
        {"UV_INDEX_PRIV_USERNAME": "c", "UV_INDEX_PRIV_PASSWORD": "3"},
    )
    assert finder.first("https://x:9@h/simple/pkg/").source == "the URL"
    assert finder.first("https://h/simple/deep/pkg/f.whl").header == "Basic Yjoy"  # b:2
    assert finder.first("https://h/simple/pkg/f.whl").header == "Basic YTox"  # a:1
    # not under any index, but the same host: uv reuses an index's credentials there
    assert finder.first("https://h/files/f.whl").header == "Basic YTox"
    assert finder.first("https://p:8443/idx/f.whl").source == ("UV_INDEX_PRIV_USERNAME/PASSWORD")
    assert finder.first("https://p/idx/f.whl") is None  # another port: another realm
    assert finder.first("https://other/simple/f.whl") is None


def test_uv_credentials_store_lookup_and_folder(tmp_path: Path):
    entries = [
        {"service": "https://h", "username": "a", "password": "1"},
        {"service": "https://h/simple/team", "username": "b", "password": "2"},
        {"service": "h2.example", "scheme": "bearer", "token": "t"},
    ]
    assert store_lookup(entries, "https://h/simple/team/x/", None)["username"] == "b"
    assert store_lookup(entries, "https://h/simple/other/", None)["username"] == "a"
    assert store_lookup(entries, "https://h/simple/team/x/", "a")["username"] == "a"
    assert store_lookup(entries, "https://h2.example/f.whl", None)["token"] == "t"
    assert store_lookup(entries, "http://h/simple/", None) is None  # another scheme
    assert uv_credentials_dir({"UV_CREDENTIALS_DIR": "/x"}) == "/x"
    assert uv_credentials_dir({"HOME": "/home/me"}, "linux") == (
        "/home/me/.local/share/uv/credentials"
    )
    assert uv_credentials_dir({"HOME": "/home/me", "XDG_DATA_HOME": "/data"}, "linux") == (
        "/data/uv/credentials"
    )


def test_the_plans_indexes_reach_the_downloader(monkeypatch):
    from rezup.stages.plan import VenvPlan

    monkeypatch.setenv("UV_KEYRING_PROVIDER", "subprocess")
    plan = Plan(
        container="c",
        venvs=(VenvPlan("rez", "/py", "", "3.11.7", ()),),
        uv_options=("--index-url", "https://u:p@a/simple", "--allow-insecure-host", "a"),
        uv_env=(("UV_EXTRA_INDEX_URL", "https://b/simple"), ("UV_HTTP_TIMEOUT", "7")),
    )
    downloader = downloader_for(plan)
    assert [index.url for index in downloader.finder.indexes] == [
        "https://a/simple",
        "https://b/simple",
    ]
    assert downloader.finder.keyring is True
    assert list(downloader.insecure_hosts) == ["a"]
    assert downloader.timeout == 7
