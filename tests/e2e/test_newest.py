"""``{container}/.newest``: ``rezup use`` need not list 10,000 revisions, and the revision it
chooses is always the one the full listing chooses (issue 13, "use with 10,000 revisions")."""

from __future__ import annotations

import os

import pytest

from rezup.ground import newest
from tests.helpers import REZ_RECIPE, Sandbox

pytestmark = pytest.mark.skipif(os.name == "nt", reason="no .newest on Windows")


# --------------------------------------------------------------------------------------------
# End to end: a build and a publish leave a trusted .newest; use with many revisions


def test_add_and_publish_leave_a_newest_file_that_use_trusts(remote_sandbox: Sandbox):
    box = remote_sandbox
    box.write_recipe(REZ_RECIPE)
    box.rezup("add", "--remote", "--skip-use", check=True)
    [remote] = box.ready_revisions(remote=True)
    assert newest._trusted_head(str(remote.parent)) == (remote.name,)
    assert sorted(p.name for p in remote.iterdir()) == [
        "plan.lock",
        "pylock.rez.toml",
        "revision.json",
        "rezup.toml",
    ]
    box.rezup("use", "--", "true", check=True)  # pulled: the local twin is ready
    [local] = box.ready_revisions()
    assert newest._trusted_head(str(local.parent)) == (local.name,)
    # many more revisions, made by hand (as rezup 3.0 would): the next choice lists them
    for index in range(300):
        (local.parent / f"{1000 + index}.5").mkdir()  # incomplete: no revision.json
    out = box.rezup("use", "--", "sh", "-c", "echo $REZUP_REVISION", check=True).stdout
    assert out.strip() == local.name
