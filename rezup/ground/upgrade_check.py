"""When ``rezup use`` looks for a newer rezup (auto-upgrade): the pause between two checks."""

import os

# On the `rezup use` path: no `from __future__ import annotations` (an import of its own,
# ~0.15 ms) and no typing (milliseconds); annotations naming typing's types are strings.
TYPE_CHECKING = False
if TYPE_CHECKING:
    pass


# -- auto-upgrade --------------------------------------------------------------------------------

UPGRADE_STATE_FILENAME = "upgrade.json"  # its mtime is the time of the last check
DEFAULT_UPGRADE_PAUSE = 86400.0


def state_dir() -> str:
    """Where rezup keeps what it knows per user (the last upgrade check)."""
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~/AppData/Local")
        return os.path.join(base, "rezup")
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(base, "rezup")


def upgrade_state_file() -> str:
    return os.path.join(state_dir(), UPGRADE_STATE_FILENAME)


def upgrade_pause() -> float:
    """``$REZUP_UPGRADE_PAUSE`` seconds (a bad value counts as the default: an upgrade
    setting never stops a job)."""
    try:
        pause = float(os.environ.get("REZUP_UPGRADE_PAUSE") or DEFAULT_UPGRADE_PAUSE)
    except ValueError:
        return DEFAULT_UPGRADE_PAUSE
    return pause if 0 <= pause < float("inf") else DEFAULT_UPGRADE_PAUSE


def upgrade_check_due(own_args: "list[str]") -> bool:
    """Whether this launch should look for a newer rezup: not disabled, not just upgraded,
    not inside a session, not for -V/-h, and the last check older than the pause. Costs a
    ``stat`` when no check is due."""
    if (
        os.environ.get("REZUP_NO_UPGRADE")
        or os.environ.get("REZUP_UPGRADED")
        or os.environ.get("REZUP_CONTAINER")
    ):
        return False
    if any(
        arg in ("--no-upgrade", "-V", "--version", "-h", "--help", "-L", "--latest")
        for arg in own_args
    ):
        return False
    try:
        checked = os.stat(upgrade_state_file()).st_mtime
    except OSError:
        return True
    import time

    return time.time() - checked >= upgrade_pause()
