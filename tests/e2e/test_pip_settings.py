"""Studio pip settings (issue 12): pip's configuration files and PIP_* variables are read as pip
reads them, translated for uv, recorded in the plan, and a pull uses them without them.

The index is a real one: a folder served as a PEP 503 simple index by http.server on
127.0.0.1 (``LocalIndex``), holding small wheels of packages PyPI does not have.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rezup.stages.plan import PLAN_FILENAME, Plan
from tests.helpers import (
    LocalIndex,
    Sandbox,
    installed_version,
    make_wheel,
    rez_recipe,
    write_pip_conf,
)


@pytest.fixture
def studio_index(tmp_path: Path) -> Iterator[LocalIndex]:
    """An open local index with studiopkg 1.0 and stand-ins of rez 3.4.0 and the seeds (for dry
    runs only)."""
    with LocalIndex(tmp_path / "index") as index:
        index.add("studiopkg", "1.0")
        index.add("rez", "3.4.0")
        for seed in ("pip", "setuptools", "wheel"):  # every plan pins the venv seeds
            index.add(seed, "1.0")
        yield index


DRY_RECIPE = '[rez]\nurl = "rez==3.4.0"\nlib = ["studiopkg"]\n'


def dry_run(box: Sandbox, env: dict[str, str], recipe: str = DRY_RECIPE):
    box.write_recipe(recipe)
    return box.rezup("add", "--dry-run", env=env, timeout=300)


def plan_of(stdout: str) -> Plan:
    return Plan.from_text(stdout[stdout.index("# rezup plan:") :])


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "warning" in line.lower()]


# --------------------------------------------------------------------------------------------
# End to end: rezup add --dry-run against the local index


def test_pip_index_url_points_rezup_at_the_studio_index(sandbox: Sandbox, studio_index):
    result = dry_run(sandbox, {"PIP_INDEX_URL": studio_index.url})
    assert result.returncode == 0, result.stderr
    plan = plan_of(result.stdout)
    assert any(line.startswith("studiopkg==1.0") for line in plan.venvs[0].requirements)
    assert dict(plan.uv_env)["UV_INDEX_URL"] == studio_index.url
    assert studio_index.saw("/simple/studiopkg/")
    assert "PIP_INDEX_URL" in result.stderr  # the source is announced
    assert warnings(result.stderr) == []


def test_pip_extra_index_url_adds_the_studio_index(sandbox: Sandbox, studio_index):
    result = dry_run(
        sandbox,
        {"PIP_EXTRA_INDEX_URL": studio_index.url},
        recipe=rez_recipe('lib = ["studiopkg"]\n', name=False),
    )
    assert result.returncode == 0, result.stderr
    plan = plan_of(result.stdout)
    assert any(line.startswith("studiopkg==1.0") for line in plan.venvs[0].requirements)
    assert dict(plan.uv_env) == {"UV_EXTRA_INDEX_URL": studio_index.url}


def test_pip_conf_named_by_pip_config_file(sandbox: Sandbox, studio_index, tmp_path: Path):
    conf = write_pip_conf(
        tmp_path / "studio" / "pip.conf",
        f"[global]\ndisable-pip-version-check = true\n[install]\nindex-url = {studio_index.url}\n",
    )
    result = dry_run(sandbox, {"PIP_CONFIG_FILE": str(conf)})
    assert result.returncode == 0, result.stderr
    plan = plan_of(result.stdout)
    assert any(line.startswith("studiopkg==1.0") for line in plan.venvs[0].requirements)
    assert dict(plan.uv_env) == {"UV_INDEX_URL": studio_index.url}
    assert f"{conf} [install]" in result.stderr
    assert warnings(result.stderr) == []  # a cosmetic setting is dropped without a word


def test_the_recipe_wins_over_pip_conf(sandbox: Sandbox, studio_index, tmp_path: Path):
    unreachable = "http://127.0.0.1:9/simple"  # nothing listens there
    conf = write_pip_conf(tmp_path / "pip.conf", f"[global]\nindex-url = {unreachable}\n")
    for section in (
        f'[pip]\noptions = ["--index-url", "{studio_index.url}"]\n',
        f'[pip.env]\nPIP_INDEX_URL = "{studio_index.url}"\n',
        f'[uv]\noptions = ["--default-index", "{studio_index.url}"]\n',
    ):
        result = dry_run(sandbox, {"PIP_CONFIG_FILE": str(conf)}, DRY_RECIPE + section)
        assert result.returncode == 0, f"{section}\n{result.stderr}"
        plan = plan_of(result.stdout)
        assert unreachable not in plan.to_text()
        assert any(line.startswith("studiopkg==1.0") for line in plan.venvs[0].requirements)


def test_what_uv_cannot_use_gives_one_warning_line(sandbox: Sandbox, studio_index, tmp_path: Path):
    conf = write_pip_conf(
        tmp_path / "pip.conf",
        f"[global]\nindex-url = {studio_index.url}\nprefer-binary = yes\n"
        "use-feature = truststore\nkeyring-provider = auto\n"
        "no-warn-script-location = 1\nprogress-bar = off\n",
    )
    result = dry_run(sandbox, {"PIP_CONFIG_FILE": str(conf), "PIP_SRC": "/src"})
    assert result.returncode == 0, result.stderr
    [line] = warnings(result.stderr)
    for name in ("prefer-binary", "use-feature", "keyring-provider", "src (PIP_SRC)"):
        assert name in line
    assert "progress-bar" not in line and "no-warn-script-location" not in line


def test_a_missing_find_links_folder_is_dropped_with_a_warning(
    sandbox: Sandbox, studio_index, tmp_path: Path
):
    links = tmp_path / "links"
    make_wheel(links, "otherpkg", "2.0")
    conf = write_pip_conf(
        tmp_path / "pip.conf",
        f"[global]\nindex-url = {studio_index.url}\n"
        f"find-links =\n    {tmp_path / 'no-such-folder'}\n    {links}\n"
        "extra-index-url = file:///opt/no-such-index/simple\n",
    )
    result = dry_run(
        sandbox,
        {"PIP_CONFIG_FILE": str(conf)},
        DRY_RECIPE.replace('["studiopkg"]', '["studiopkg", "otherpkg"]'),
    )
    assert result.returncode == 0, result.stderr  # uv alone fails on a missing find-links
    [line] = warnings(result.stderr)
    assert str(tmp_path / "no-such-folder") in line
    assert "file:///opt/no-such-index/simple" in line
    plan = plan_of(result.stdout)
    assert dict(plan.uv_env)["UV_FIND_LINKS"] == str(links)
    assert "UV_EXTRA_INDEX_URL" not in dict(plan.uv_env)
    assert any(line.startswith("otherpkg==2.0") for line in plan.venvs[0].requirements)


def test_a_pull_uses_the_recorded_index_without_the_settings(
    remote_sandbox: Sandbox, tmp_path: Path
):
    box = remote_sandbox
    with LocalIndex(tmp_path / "index") as index:
        index.add("studiopkg", "1.0")
        conf = write_pip_conf(tmp_path / "pip.conf", f"[global]\nextra-index-url = {index.url}\n")
        box.write_recipe(rez_recipe('lib = ["studiopkg"]\n', name=False))
        box.rezup("add", "--remote", "--skip-use", check=True, env={"PIP_CONFIG_FILE": str(conf)})
        [remote] = box.ready_revisions(remote=True)
        assert dict(Plan.read(remote / PLAN_FILENAME).uv_env) == {"UV_EXTRA_INDEX_URL": index.url}
        index.add("studiopkg", "1.1")  # the index moves on: the pin holds
        pulls_before = len(index.requests)

        # a farm machine with no pip settings at all
        result = box.rezup("use", "--", "rez", "--version", timeout=600)
        assert result.returncode == 0, result.stderr
        [pulled] = box.ready_revisions()
        assert installed_version(pulled, "studiopkg") == "1.0"
        assert len(index.requests) > pulls_before  # installed from the recorded index
