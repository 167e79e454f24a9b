"""Remote roots served over HTTP(S): the index format, this machine's copy of it, the choice of
revision from it, what a publish writes for a web server, and fetching from a real (local)
server that answers, fails, talks nonsense or hangs."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path

import pytest

from rezup.ground import newest, remote_index, root_settings
from rezup.ground.errors import RecipeError, RemoteRootError, UsageError
from rezup.stages.disk_state import ContainerDir
from rezup.stages.http_remote import UrlContainer
from rezup.stages.remote_publish import write_find_links_page, write_index
from tests.web_server import StaticSite

A, B = "1700000000.000001", "1700000100.500000"


def index_document(*names: str, container: str = "farm", **changes) -> bytes:
    document = {
        "format": "rezup-remote-index",
        "version": 1,
        "container": container,
        "written": time.time(),
        "revisions": [{"name": n, "plan": True, "wheels": False} for n in names],
    }
    document.update(changes)
    return json.dumps(document).encode()


# -- the index and this machine's copy ------------------------------------------------------------


def test_an_index_lists_its_revisions_newest_first():
    assert remote_index.parse_index(index_document(A, B), "farm") == [
        (B, True, False),
        (A, True, False),
    ]


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"<html>502 Bad Gateway</html>", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "not a rezup index"),
        (index_document(A, version=2), "of version 2"),
        (index_document(A, container="other"), "of container 'other'"),
        (index_document(A, revisions={}), "no list of revisions"),
        (index_document("../../etc"), "a revision named '../../etc'"),
        (index_document(A, revisions=[{"name": 1.5}]), "a revision named 1.5"),
    ],
)
def test_anything_but_an_index_of_the_container_is_refused(data: bytes, said: str):
    with pytest.raises(ValueError, match=said.replace("(", r"\(").replace(".", r"\.")):
        remote_index.parse_index(data, "farm")


def test_the_copy_of_the_index_serves_while_young(tmp_path: Path, monkeypatch):
    url = "https://site/roots/farm"
    assert remote_index.fresh_revisions(str(tmp_path), url) is None  # none yet
    remote_index.write_cache(str(tmp_path), url, [(B, True, False), (A, False, False)])
    assert remote_index.fresh_revisions(str(tmp_path), url) == ((B, True, False), (A, False, False))
    assert remote_index.fresh_revisions(str(tmp_path), "https://site/other/farm") is None
    monkeypatch.setenv("REZUP_REMOTE_INDEX_MAX_AGE", "0")
    assert remote_index.fresh_revisions(str(tmp_path), url) is None  # 0: every job asks
    monkeypatch.setenv("REZUP_REMOTE_INDEX_MAX_AGE", "soon")
    with pytest.raises(UsageError, match="REZUP_REMOTE_INDEX_MAX_AGE"):
        remote_index.fresh_revisions(str(tmp_path), url)
    (tmp_path / ".remote-index").write_bytes(b"garbage")
    assert remote_index.fresh_revisions(str(tmp_path), url, 60) is None


def test_use_chooses_from_a_fresh_copy_and_hands_over_without_one(tmp_path: Path):
    local = tmp_path / "local" / "farm"
    remote = root_settings.remote_revisions("https://site/roots", "farm")
    assert remote == "https://site/roots/farm/revisions"
    with pytest.raises(newest.StaleIndex):
        newest.choose_revision(str(local / "revisions"), remote)
    remote_index.write_cache(str(local), "https://site/roots/farm", [(B, True, False)])
    assert newest.choose_revision(str(local / "revisions"), remote) == (B, True, None)
    newest.record_remote_failure(str(local), "https://site/roots", "answered HTTP 500")
    with pytest.raises(RemoteRootError, match=r"answered HTTP 500 \(0s ago\); not asked again"):
        newest.choose_revision(str(local / "revisions"), remote)


def test_a_remote_root_may_be_a_url_a_local_one_may_not(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("REZUP_ROOT_REMOTE", "https://cdn.example.com/rezup/")
    assert root_settings.remote_root() == "https://cdn.example.com/rezup"
    recipe = tmp_path / "rezup.farm.toml"
    recipe.write_text('[root]\nremote = "HTTP://site:8080/r/"\n')
    assert root_settings.read_root_settings(str(recipe)) == ("", "HTTP://site:8080/r")
    recipe.write_text('[root]\nlocal = "https://site/r"\n')
    with pytest.raises(RecipeError, match=r"\[root\] local: must be a folder, not a URL"):
        root_settings.read_root_settings(str(recipe))
    monkeypatch.setenv("REZUP_ROOT_LOCAL", "https://site/local")
    with pytest.raises(UsageError, match="REZUP_ROOT_LOCAL must be a folder"):
        root_settings.local_root()


# -- what a publish writes for a web server -----------------------------------------------------


def test_the_index_lists_the_ready_revisions_of_the_folder(tmp_path: Path):
    container = tmp_path / "farm"
    for name, files in (
        (A, ["rezup.toml", "revision.json"]),  # published by rezup 2.x: no plan
        (B, ["rezup.toml", "plan.lock", "revision.json", "wheels/index.html"]),
        ("1700000200.0", ["rezup.toml", "plan.lock"]),  # not ready
    ):
        for file in files:
            path = container / "revisions" / name / file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("{}")
    write_index(container)
    document = json.loads((container / "index.json").read_text())
    assert document["container"] == "farm"
    assert document["revisions"] == [
        {"name": B, "plan": True, "wheels": True},
        {"name": A, "plan": False, "wheels": False},
    ]
    assert remote_index.parse_index((container / "index.json").read_bytes(), "farm") == [
        (B, True, True),
        (A, False, False),
    ]


def test_the_find_links_page_links_every_wheel_with_its_hash(tmp_path: Path):
    wheel = tmp_path / "pkg-1.0+local.1-py3-none-any.whl"
    wheel.write_bytes(b"wheel bytes")
    write_find_links_page(tmp_path)
    write_find_links_page(tmp_path)  # again: the page itself is not a link
    page = (tmp_path / "index.html").read_text()
    digest = hashlib.sha256(b"wheel bytes").hexdigest()
    assert page.count("<a href=") == 1
    assert f'<a href="pkg-1.0%2Blocal.1-py3-none-any.whl#sha256={digest}">' in page


# -- fetching from a server ---------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_proxy_to_loopback(monkeypatch):
    """The servers below are on 127.0.0.1: a proxy of the machine running the tests must not
    stand in between."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def site(tmp_path: Path):
    docroot = tmp_path / "docroot"
    (docroot / "farm").mkdir(parents=True)
    with StaticSite(docroot, tmp_path / "web", backend="python") as running:
        yield running


def farm_at(url: str, tmp_path: Path) -> UrlContainer:
    return UrlContainer(url, "farm", ContainerDir(tmp_path / "local", "farm"))


def test_the_index_is_fetched_once_and_kept(site: StaticSite, tmp_path: Path):
    (site.docroot / "farm" / "index.json").write_bytes(index_document(A, B))
    assert farm_at(site.url, tmp_path).index() == [(B, True, False), (A, True, False)]
    assert farm_at(site.url, tmp_path).index() == [(B, True, False), (A, True, False)]
    assert site.served("/farm/index.json") == 1  # the second from this machine's copy
    assert (tmp_path / "local" / "farm" / ".remote-index").is_file()
    revision = farm_at(site.url, tmp_path).get_latest_revision()
    assert revision is not None and revision.dirname() == B
    assert revision.location() == f"{site.url}/farm/revisions/{B}"


def test_a_read_only_look_keeps_nothing(site: StaticSite, tmp_path: Path):
    (site.docroot / "farm" / "index.json").write_bytes(index_document(A))
    assert farm_at(site.url, tmp_path).index(keep=False) == [(A, True, False)]
    assert not (tmp_path / "local").exists()


@pytest.mark.parametrize(
    ("breakage", "said"),
    [
        ("500", "answered HTTP 500"),
        ("nonsense", "answered nonsense: its index.json is not JSON"),
    ],
)
def test_a_failing_server_is_recorded_with_its_reason(
    site: StaticSite, tmp_path: Path, breakage: str, said: str
):
    if breakage == "500":
        site.fail_with(500)
    elif breakage == "nonsense":
        (site.docroot / "farm" / "index.json").write_text("<html>maintenance</html>")
    with pytest.raises(RemoteRootError, match=said) as failed:
        farm_at(site.url, tmp_path).index()
    assert str(failed.value).startswith(f"the remote root {site.url} ")
    asked = len(site.log.read_text().splitlines())
    with pytest.raises(RemoteRootError, match=f"{said}.*not asked again yet"):
        farm_at(site.url, tmp_path).index()
    assert len(site.log.read_text().splitlines()) == asked  # recorded: not asked again


def test_a_container_the_server_has_no_index_of_has_no_remote_revisions(
    site: StaticSite, tmp_path: Path
):
    """Nothing published yet (or by a rezup that wrote no index): its local revisions are
    used, as with a remote folder that has no such container; nothing is recorded."""
    from rezup.operations.use import choose

    farm = farm_at(site.url, tmp_path)
    assert farm.index() == []
    assert not (tmp_path / "local" / "farm" / ".remote-unanswered").exists()
    local = ContainerDir(tmp_path / "local", "farm")
    revision = local.revisions() / A
    revision.mkdir(parents=True)
    (revision / "revision.json").write_text('{"session": {"bin_dirs": []}}')
    assert choose(local, farm_at(site.url, tmp_path), None) == (A, False)


def test_an_answer_that_is_not_http_is_nonsense(tmp_path: Path):
    """An ``http://`` URL of a port that speaks TLS, or anything else: no traceback."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        import threading

        def talk() -> None:
            connection, _ = server.accept()
            with connection:
                connection.recv(4096)
                connection.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")

        threading.Thread(target=talk, daemon=True).start()
        with pytest.raises(RemoteRootError, match=r"answered nonsense: .*for http://127"):
            farm_at(url, tmp_path).index()


def test_a_copy_that_cannot_be_kept_does_not_stop_the_job(site: StaticSite, tmp_path: Path):
    (site.docroot / "farm" / "index.json").write_bytes(index_document(A))
    (tmp_path / "local" / "farm" / ".remote-index").mkdir(parents=True)  # cannot be written
    assert farm_at(site.url, tmp_path).index() == [(A, True, False)]


def test_a_server_that_is_gone_or_hangs_is_given_its_time_only(tmp_path: Path, monkeypatch):
    with socket.socket() as gone:
        gone.bind(("127.0.0.1", 0))
        port = gone.getsockname()[1]
    with pytest.raises(RemoteRootError, match=r"cannot be reached: .*refused"):
        farm_at(f"http://127.0.0.1:{port}", tmp_path / "a").index()
    monkeypatch.setenv("REZUP_REMOTE_TIMEOUT", "0.5")
    with socket.socket() as hanging:  # takes the connection, never answers
        hanging.bind(("127.0.0.1", 0))
        hanging.listen(8)
        url = f"http://127.0.0.1:{hanging.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(RemoteRootError, match=r"did not answer within 0\.5s"):
            farm_at(url, tmp_path / "b").index()
        assert time.monotonic() - started < 5


def test_credentials_never_show_in_messages(tmp_path: Path):
    docroot = tmp_path / "docroot"
    (docroot / "farm").mkdir(parents=True)
    (docroot / "farm" / "index.json").write_bytes(index_document(A))
    (docroot / "farm" / "revisions" / A).mkdir(parents=True)
    (docroot / "farm" / "revisions" / A / "rezup.toml").write_text("[rez]\n")
    with StaticSite(docroot, tmp_path / "web", auth=("farm", "right"), backend="python") as site:
        good = site.url.replace("://", "://farm:right@")
        farm = farm_at(good, tmp_path / "a")
        assert farm.index() == [(A, True, False)]
        revision = farm.get_latest_revision()
        assert revision is not None
        assert revision.location() == f"{site.url}/farm/revisions/{A}"  # what a pull records
        assert farm.root() == site.url and farm.revisions() == f"{site.url}/farm/revisions"
        assert b"right" not in (tmp_path / "a" / "local" / "farm" / ".remote-index").read_bytes()
        assert revision.recipe_text() == "[rez]\n"  # fetched with the root's credentials
        bad = site.url.replace("://", "://farm:wrong-secret@")
        with pytest.raises(RemoteRootError) as failed:
            farm_at(bad, tmp_path / "b").index()
    assert "refused" in str(failed.value) and "wrong-secret" not in str(failed.value)


def test_netrc_credentials_are_sent_once_the_server_asks(tmp_path: Path, monkeypatch):
    docroot = tmp_path / "docroot"
    (docroot / "farm").mkdir(parents=True)
    (docroot / "farm" / "index.json").write_bytes(index_document(B))
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login farm password right\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with StaticSite(docroot, tmp_path / "web", auth=("farm", "right"), backend="python") as site:
        assert farm_at(site.url, tmp_path).index() == [(B, True, False)]
        assert (site.served("/farm/index.json", 401), site.served("/farm/index.json")) == (1, 1)


def test_a_job_waits_for_the_fetch_of_another_then_takes_its_copy(tmp_path: Path, monkeypatch):
    """The lean path of a burst: the process that finds the fetch lock free keeps it for the
    command line; one that finds it held waits, then takes the copy fetched meanwhile."""
    import subprocess
    import sys

    pytest.importorskip("fcntl", reason="the lean path's fetch lock is a flock (POSIX)")
    monkeypatch.setattr(remote_index, "_held_fetch_lock", None)  # restored after the test
    local, url = str(tmp_path / "farm"), "https://site/roots/farm"
    lock = remote_index.fetch_lock_file(local)
    assert not remote_index.await_fetch(local, url, 5)  # free: this process is to fetch
    fd = remote_index.adopt_fetch_lock(lock)
    assert fd is not None and remote_index.adopt_fetch_lock(lock) is None  # handed over once
    os.close(fd)

    fetcher = subprocess.Popen(  # holds the lock for 0.5 s, then leaves its copy
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "from rezup.ground import remote_index\n"
            "fd = os.open(sys.argv[1], os.O_RDWR)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "time.sleep(0.5)\n"
            f"remote_index.write_cache({local!r}, {url!r}, [({B!r}, True, False)])\n",
            lock,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert fetcher.stdout is not None and fetcher.stdout.readline() == "held\n"
    started = time.monotonic()
    assert remote_index.await_fetch(local, url, 10)
    assert 0.3 < time.monotonic() - started < 5
    assert remote_index.adopt_fetch_lock(lock) is None  # nothing held: the copy was taken
    assert fetcher.wait(10) == 0
    fetcher.stdout.close()
    assert newest.choose_revision(f"{local}/revisions", f"{url}/revisions") == (B, True, None)


def test_a_publish_racing_another_leaves_an_index_that_lists_both(tmp_path: Path, monkeypatch):
    """The other publisher's revision becomes ready after this one listed the folder, and
    its index was written before this one's: this one lists again after writing."""
    from rezup.stages import remote_publish

    container = tmp_path / "farm"

    def make_ready(name: str) -> None:
        folder = container / "revisions" / name
        folder.mkdir(parents=True)
        for file in ("rezup.toml", "plan.lock", "revision.json"):
            (folder / file).write_text("{}")

    make_ready(A)
    real_write = remote_publish.write_atomic
    writes = []

    def write_then_the_other_publishes(path: Path, text: str) -> None:
        real_write(path, text)
        writes.append(text)
        if len(writes) == 1:
            make_ready(B)  # the other publisher: ready now, its index written already

    monkeypatch.setattr(remote_publish, "write_atomic", write_then_the_other_publishes)
    write_index(container)
    assert len(writes) == 2
    listed = remote_index.parse_index((container / "index.json").read_bytes(), "farm")
    assert [name for name, _, _ in listed] == [B, A]


def test_a_recorded_failure_does_not_stop_a_machine_with_nothing_to_fall_back_to(
    site: StaticSite, tmp_path: Path
):
    """The record saves jobs that have a revision to fall back to from waiting on a server
    that failed; a machine that pulled nothing from it yet would only fail: it asks again."""
    from rezup.operations.use import _choose_or_ask_again

    (site.docroot / "farm" / "index.json").write_bytes(index_document(B))
    local = ContainerDir(tmp_path / "local", "farm")
    newest.record_remote_failure(str(local.path()), site.url, "answered HTTP 500")
    assert _choose_or_ask_again(local, farm_at(site.url, tmp_path)) == (B, True)
    assert newest.recent_remote_failure(str(local.path())) is None

    pulled = local.revisions() / A  # now one was pulled from it: the record holds
    pulled.mkdir(parents=True)
    (pulled / "revision.json").write_text(
        json.dumps({"session": {}, "pulled_from": f"{site.url}/farm/revisions/{A}"})
    )
    newest.record_remote_failure(str(local.path()), site.url, "answered HTTP 500")
    (local.path() / ".remote-index").unlink()
    with pytest.raises(RemoteRootError, match="not asked again yet"):
        _choose_or_ask_again(local, farm_at(site.url, tmp_path))
