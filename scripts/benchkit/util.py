"""Small helpers shared by the harness's parts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IS_WINDOWS = os.name == "nt"


def log(message: str) -> None:
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


def bin_dir(venv: Path) -> Path:
    return venv / ("Scripts" if IS_WINDOWS else "bin")


def venv_python(venv: Path) -> Path:
    return bin_dir(venv) / ("python.exe" if IS_WINDOWS else "python")


def venv_rezup(venv: Path) -> Path:
    return bin_dir(venv) / ("rezup.exe" if IS_WINDOWS else "rezup")


def remove_tree(path: Path) -> None:
    def make_writable_and_retry(func, target, _exc_info):
        try:
            os.chmod(target, 0o700)
            func(target)
        except OSError:
            pass

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=make_writable_and_retry)


def quiet_run(
    command: list[str], env: dict[str, str], cwd: Path, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run an untimed helper command; never raises for a non-zero exit."""
    try:
        return subprocess.run(
            command,
            env=env,
            cwd=str(cwd),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(command, 127, "", f"error: {exc}")


def last_words(text: str, limit: int = 220) -> str:
    """The line of a tool's output that says what went wrong."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "no output"
    picked = None
    for line in reversed(lines):
        if re.search(r"error|exception|failed|cannot|not found", line, re.IGNORECASE):
            picked = line
            break
    picked = picked or lines[-1]
    return picked if len(picked) <= limit else picked[: limit - 3] + "..."
