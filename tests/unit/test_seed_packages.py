"""Seed packages in the plan: pip (and setuptools and wheel before Python 3.12) are pinned with
every other requirement, venvs are made with a plain ``uv venv`` (no index asked), and plans
written by earlier rezup versions (no seeds pinned) still build as they did, with ``--seed``.
Real uv, real rez, real indexes or none at all."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from rezup.ground.errors import UvError
from rezup.stages.plan import Plan, seed_packages
from rezup.tools import uv_commands
from tests.helpers import (
    offline_env,
)

# plan.lock as rezup wrote it before the seeds were pinned (no ``pinned_seeds`` key)
EARLIER_PLAN = """\
# rezup plan: the exact build of one revision. Written by rezup; do not edit.
format = 1
container = "farm"
description = ""
wheels = true

[installer]
options = []

[installer.env]

[runtime]
dotenv = []

[runtime.dotenv_platform]

[runtime.env]

[[venv]]
name = "rez"
python = "/usr/bin/python3.11"
python_request = "3.11"
python_version = "3.11.7"
link_shared = false
requirements = [
    "rez==3.4.0 --hash=sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
]
editables = []

[[venv.tool]]
package = "rez"
flags = [
    "-E",
]
editable = false
"""
EARLIER_DIGEST = "sha256:a2c7b20e9126fd0c89cabc95de10c77f9e0f923bbfa04c35f8089bf3ec25a193"


# -- the plan --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "seeds"),
    [
        ("3.7.16", ["pip", "setuptools", "wheel"]),
        ("3.11.7", ["pip", "setuptools", "wheel"]),
        ("3.12.1", ["pip"]),
        ("3.13.0", ["pip"]),
    ],
)
def test_the_seeds_of_each_python(version: str, seeds: list[str]):
    assert seed_packages(version) == seeds


def test_an_earlier_plan_reads_without_seeds_and_keeps_its_text_and_digest():
    plan = Plan.from_text(EARLIER_PLAN)
    assert plan.pinned_seeds is False
    assert plan.to_text() == EARLIER_PLAN
    assert plan.digest == EARLIER_DIGEST


def test_a_plan_with_pinned_seeds_says_so():
    plan = replace(Plan.from_text(EARLIER_PLAN), pinned_seeds=True)
    text = plan.to_text()
    assert "\npinned_seeds = true\n" in text
    assert text.index("wheels = true") < text.index("pinned_seeds") < text.index("[installer]")
    assert Plan.from_text(text) == plan
    assert Plan.from_text(text).to_text() == text


# -- venvs without --seed ask no index ---------------------------------------------------------


def test_a_venv_without_seed_needs_no_index(tmp_path: Path, monkeypatch):
    """An unreachable index and an empty cache: ``uv venv`` still works unseeded, and fails
    seeded (so this environment does stop every request)."""
    for key, value in offline_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    plain = tmp_path / "plain"
    uv_commands.create_venv(
        plain, sys.executable, seed=False, options=["--index-url", "http://127.0.0.1:9/simple"]
    )
    assert (plain / "pyvenv.cfg").is_file()
    assert not list(plain.glob("lib/python*/site-packages/pip"))
    with pytest.raises(UvError):
        uv_commands.create_venv(tmp_path / "seeded", sys.executable, seed=True)
