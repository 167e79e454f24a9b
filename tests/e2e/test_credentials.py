"""Wheel downloads authenticate as uv does (issue 12): credentials in URLs, named indexes,
netrc, uv's credentials store and the keyring command, against a local index on 127.0.0.1
that answers 401 to any request without them. uv itself is checked against the same index
with the same credentials.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rezup.ground.errors import BuildError
from rezup.stages.plan import PLAN_FILENAME
from rezup.tools.credentials import (
    CredentialFinder,
    Downloader,
)
from rezup.tools.uv_process import find_uv
from tests.helpers import LocalIndex, Sandbox, rez_recipe

USER, PASSWORD = "alice", "s3cret-pw"


@pytest.fixture
def private_index(tmp_path: Path) -> Iterator[LocalIndex]:
    """A local index that answers 401 unless it gets alice's Basic credentials."""
    with LocalIndex(tmp_path / "private", auth=(USER, PASSWORD)) as index:
        index.add("studiopkg", "1.0")
        yield index


def wheel_url(index: LocalIndex) -> str:
    return f"{index.base}/files/studiopkg-1.0-py3-none-any.whl"


def netrc_file(folder: Path, password: str = PASSWORD) -> Path:
    path = folder / "netrc"
    path.write_text(f"machine 127.0.0.1 login {USER} password {password}\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def download(
    index_locations: list[str], env: dict[str, str], url: str, keyring: bool = False
) -> bytes:
    finder = CredentialFinder(index_locations, {"HOME": "/nonexistent", **env}, keyring=keyring)
    with Downloader(finder, finder.env, timeout=30).open(url) as response:
        return response.read()


def uv_resolves(index_url: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """``uv pip compile`` of studiopkg against ``index_url``, with no cache to answer for it."""
    full_env = {**os.environ, "UV_NO_CACHE": "1", "HOME": str(tmp_path), **env}
    if "NETRC" not in env:
        full_env.pop("NETRC", None)
    return subprocess.run(
        [find_uv(), "pip", "compile", "-", "--quiet", "--no-header", "--default-index", index_url],
        input="studiopkg\n",
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --------------------------------------------------------------------------------------------
# Downloads from the private index


def test_without_credentials_the_error_names_the_host_and_the_sources(
    private_index, tmp_path: Path
):
    with pytest.raises(BuildError) as info:
        download([private_index.url], {"NETRC": str(tmp_path / "none")}, wheel_url(private_index))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        f"127.0.0.1:{private_index.base.rsplit(':', 1)[1]} asks for credentials (HTTP 401)"
    )
    for source in (
        "the index URLs",
        "UV_INDEX_<NAME>_USERNAME/PASSWORD",
        "netrc",
        str(tmp_path / "none"),
        "uv's credentials store",
        "keyring",
    ):
        assert source in message
    # uv fails against it too
    result = uv_resolves(private_index.url, {"NETRC": str(tmp_path / "none")}, tmp_path)
    assert result.returncode != 0 and "401" in result.stderr


def test_credentials_in_the_index_url(private_index, tmp_path: Path):
    url = private_index.url_with(USER, PASSWORD)
    assert download([url], {}, wheel_url(private_index)).startswith(b"PK")
    assert private_index.saw("/files/studiopkg-1.0", authorized=True)
    assert uv_resolves(url, {}, tmp_path).stdout.startswith("studiopkg==1.0")


def test_credentials_in_the_file_url(private_index):
    url = wheel_url(private_index).replace("http://", f"http://{USER}:{PASSWORD}@")
    assert download([], {}, url).startswith(b"PK")


def test_credentials_of_a_named_index(private_index, tmp_path: Path):
    env = {"UV_INDEX_STUDIO_USERNAME": USER, "UV_INDEX_STUDIO_PASSWORD": PASSWORD}
    assert download([f"studio={private_index.url}"], env, wheel_url(private_index)).startswith(
        b"PK"
    )
    result = subprocess.run(
        [
            find_uv(),
            "pip",
            "compile",
            "-",
            "--quiet",
            "--no-header",
            "--default-index",
            f"studio={private_index.url}",
        ],
        input="studiopkg\n",
        capture_output=True,
        text=True,
        env={**os.environ, "UV_NO_CACHE": "1", **env},
        timeout=120,
    )
    assert result.stdout.startswith("studiopkg==1.0"), result.stderr


def test_credentials_from_netrc(private_index, tmp_path: Path):
    env = {"NETRC": str(netrc_file(tmp_path))}
    assert download([private_index.url], env, wheel_url(private_index)).startswith(b"PK")
    # the first request went without them, as uv does, the second with them
    assert private_index.saw("/files/studiopkg-1.0", authorized=False)
    assert private_index.saw("/files/studiopkg-1.0", authorized=True)
    assert uv_resolves(private_index.url, env, tmp_path).stdout.startswith("studiopkg==1.0")


def test_wrong_credentials_are_a_clear_error(private_index, tmp_path: Path):
    env = {"NETRC": str(netrc_file(tmp_path, password="wrong"))}
    with pytest.raises(BuildError, match=r"refused the credentials from netrc \(.*\) \(HTTP 401\)"):
        download([private_index.url], env, wheel_url(private_index))
    with pytest.raises(BuildError) as info:
        download([private_index.url_with(USER, "bad-pw")], {}, wheel_url(private_index))
    assert "refused the credentials from the index URL" in str(info.value)
    assert "bad-pw" not in str(info.value)


def test_credentials_from_uvs_credentials_store(private_index, tmp_path: Path):
    store = tmp_path / "uv-credentials"
    store.mkdir()
    (store / "credentials.toml").write_text(
        f'[[credential]]\nservice = "{private_index.base}"\nusername = "{USER}"\n'
        f'password = "{PASSWORD}"\n',
        encoding="utf-8",
    )
    env = {"UV_CREDENTIALS_DIR": str(store)}
    assert download([private_index.url], env, wheel_url(private_index)).startswith(b"PK")
    assert uv_resolves(private_index.url, env, tmp_path).stdout.startswith("studiopkg==1.0")


def test_credentials_from_the_keyring_command(private_index, tmp_path: Path):
    """A ``keyring`` command on PATH (a stand-in for the real one: it knows one password)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "keyring.log"
    script = bin_dir / "keyring"
    script.write_text(
        f'#!/bin/sh\necho "$@" >> {log}\n'
        f'[ "$1 $3" = "get {USER}" ] && echo {PASSWORD} && exit 0\nexit 1\n',
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "UV_KEYRING_PROVIDER": "subprocess",
    }
    index_url = private_index.url.replace("http://", f"http://{USER}@")  # uv needs a username
    assert download([index_url], env, wheel_url(private_index), keyring=True).startswith(b"PK")
    assert f"get {private_index.url} {USER}" in log.read_text(encoding="utf-8")
    assert uv_resolves(index_url, env, tmp_path).stdout.startswith("studiopkg==1.0")
    # off unless asked for
    with pytest.raises(BuildError, match="UV_KEYRING_PROVIDER is not subprocess"):
        download([index_url], env, wheel_url(private_index), keyring=False)


# --------------------------------------------------------------------------------------------
# End to end: rezup add --remote --wheels against the private index


def publish(box: Sandbox, index_url: str, env: dict[str, str]):
    box.write_recipe(rez_recipe('lib = ["studiopkg"]\n', name=False))
    return box.rezup(
        "add",
        "--remote",
        "--wheels",
        "--skip-use",
        timeout=900,
        env={"PIP_EXTRA_INDEX_URL": index_url, **env},
    )


def test_publish_with_wheels_and_netrc(remote_sandbox: Sandbox, private_index, tmp_path: Path):
    result = publish(remote_sandbox, private_index.url, {"NETRC": str(netrc_file(tmp_path))})
    assert result.returncode == 0, result.stderr
    [remote] = remote_sandbox.ready_revisions(remote=True)
    assert (remote / "wheels" / "studiopkg-1.0-py3-none-any.whl").is_file()
    assert private_index.saw("/simple/studiopkg/", authorized=True)  # uv: netrc too
    assert private_index.saw("/files/studiopkg-1.0", authorized=True)  # rezup's download


def test_publish_with_wheels_and_credentials_in_the_index_url(
    remote_sandbox: Sandbox, private_index
):
    result = publish(remote_sandbox, private_index.url_with(USER, PASSWORD), {})
    assert result.returncode == 0, result.stderr
    [remote] = remote_sandbox.ready_revisions(remote=True)
    assert (remote / "wheels" / "studiopkg-1.0-py3-none-any.whl").is_file()
    # the plan keeps the credentials (a pull needs them); no message shows them
    assert PASSWORD in (remote / PLAN_FILENAME).read_text(encoding="utf-8")
    assert PASSWORD not in result.stderr + result.stdout
    # nor what prints a plan or a revision
    env = {"PIP_EXTRA_INDEX_URL": private_index.url_with(USER, PASSWORD)}
    dry = remote_sandbox.rezup("add", "--dry-run", env=env, timeout=300, check=True)
    remote_sandbox.rezup("use", "--", "true", check=True, timeout=900)  # pulls it
    assert PASSWORD not in dry.stdout and f"{USER}:****@127.0.0.1" in dry.stdout
    for args in (("inspect", ".main"), ("inspect", ".main", "--json")):
        inspected = remote_sandbox.rezup(*args, check=True).stdout
        assert "studiopkg" in inspected and PASSWORD not in inspected


def test_publish_without_credentials_fails_clearly(remote_sandbox: Sandbox, private_index):
    result = publish(remote_sandbox, private_index.url, {})
    assert result.returncode != 0
    [line] = [line for line in result.stderr.splitlines() if "error:" in line]
    assert "401" in line and private_index.url in line
    assert remote_sandbox.ready_revisions(remote=True) == []
