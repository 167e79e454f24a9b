"""How messages word things: the one plural rule."""

from __future__ import annotations


def plural(number: int, noun: str) -> str:
    """``1 revision``, ``0 revisions``, ``2 revisions``: ``number`` and ``noun``, with an ``s``
    unless ``number`` is 1."""
    return f"{number} {noun if number == 1 else noun + 's'}"
