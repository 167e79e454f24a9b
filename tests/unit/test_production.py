"""Production scripts: the headers and bodies rezup writes, run for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rezup.tools.production import _make_scripts, posix_shebang

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX scripts")

MODULE = """
import os, sys
def main():
    print(f"E={sys.flags.ignore_environment} argv0={os.path.basename(sys.argv[0])} "
          f"args={sys.argv[1:]}")
    return 3
"""


def test_short_path_gets_a_plain_shebang():
    assert posix_shebang("/opt/py/bin/python", ["-E"]) == "#!/opt/py/bin/python -E\n"
    assert posix_shebang("/opt/py/bin/python", []) == "#!/opt/py/bin/python\n"


def test_long_spaced_or_multi_flag_interpreters_start_through_sh():
    long_python = "/" + "x" * 130 + "/bin/python"
    assert posix_shebang(long_python, ["-E"]).startswith("#!/bin/sh\n'''exec' /x")
    assert '"/opt/my py/bin/python" -E "$0" "$@"' in posix_shebang("/opt/my py/bin/python", ["-E"])
    assert "-E -s" in posix_shebang("/opt/py/bin/python", ["-E", "-s"])


@pytest.mark.parametrize("folder", ["short", "with space", "long-" + "y" * 140])
@pytest.mark.parametrize("flags", [["-E"], [], ["-E", "-s"]])
def test_generated_scripts_run_with_their_flags(tmp_path: Path, folder: str, flags: list[str]):
    target = tmp_path / folder / "bin" / "rez"
    target.mkdir(parents=True)
    (target / "probe_mod.py").write_text(MODULE)  # found next to the script, even with -E
    _make_scripts(Path(sys.executable), target, {"probe-tool": "probe_mod:main"}, flags, "")
    script = target / "probe-tool"
    assert os.access(script, os.X_OK)
    result = subprocess.run(
        [str(script), "a b", "c"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": "/nonexistent"},
    )
    assert result.returncode == 3, result.stderr
    expected_e = 1 if "-E" in flags else 0
    assert result.stdout.strip() == f"E={expected_e} argv0=probe-tool args=['a b', 'c']"
