"""The error model: one base class, a few kinds, each mapped to an exit code by the CLI.

Every message is written to stand alone on one line after ``rezup: error:``.
"""

from __future__ import annotations


class RezupError(Exception):
    """Base of every error rezup reports to the user."""

    exit_code = 1


class RecipeError(RezupError):
    """A recipe file is unreadable, not valid TOML, or does not follow the schema."""

    exit_code = 2


class UsageError(RezupError):
    """The command line asks for something that cannot be done (bad name, bad combination)."""

    exit_code = 2


class BuildError(RezupError):
    """Planning or building a revision failed."""


class UvError(BuildError):
    """A uv command failed; the message carries uv's own words."""


class ContainerError(RezupError):
    """A container or revision is missing, broken, or in the wrong state for the request."""


class LockError(RezupError):
    """A lock could not be taken in time."""
