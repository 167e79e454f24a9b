"""The uv runner: finding the binary (also from many threads at once) and running it."""

from __future__ import annotations

import os
import sysconfig
import threading
from pathlib import Path

import pytest

from rezup.ground.errors import UvError
from rezup.tools import pythons, uv_process


@pytest.fixture
def fresh_uv_lookup(monkeypatch):
    monkeypatch.setattr(uv_process, "_uv_binary", None)
    monkeypatch.delenv("UV", raising=False)


def test_find_uv_from_many_threads_at_once(fresh_uv_lookup, monkeypatch):
    # sysconfig's first use is not thread-safe on some Pythons: start from a cold table
    monkeypatch.setattr(sysconfig, "_CONFIG_VARS", None, raising=False)
    barrier = threading.Barrier(16)
    found: list[str] = []
    errors: list[BaseException] = []

    def worker():
        barrier.wait()
        try:
            found.append(uv_process.find_uv())
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(found)) == 1 and Path(found[0]).is_file()


def test_uv_environment_variable_wins(fresh_uv_lookup, monkeypatch, tmp_path):
    fake = tmp_path / "my-uv"
    fake.write_text('#!/bin/sh\necho fake-uv "$@"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("UV", str(fake))
    assert uv_process.find_uv() == str(fake)
    assert uv_process.run(["--version"]).strip() == "fake-uv --version"


def test_uv_failure_becomes_one_uv_error(fresh_uv_lookup):
    with pytest.raises(UvError) as caught:
        uv_process.run(
            ["pip", "compile", "-", "--no-python-downloads", "--offline", "--quiet"],
            input_text="surely-no-such-package-zz9==1.0\n",
            what="resolving test",
        )
    message = str(caught.value)
    assert message.startswith("resolving test failed: ")
    assert "surely-no-such-package-zz9" in message
    assert "\n" not in message


@pytest.mark.skipif(os.name == "nt", reason="POSIX paths")
def test_find_python_reports_a_missing_interpreter(fresh_uv_lookup):
    with pytest.raises(UvError, match="finding Python /nonexistent/python3"):
        pythons.uv_find_python("/nonexistent/python3")
