"""One-line messages from our tools to the person at the terminal."""

from __future__ import annotations

import sys


def say(tool: str, message: str) -> None:
    """`tool: message` on stderr, flushed at once.

    stderr, because stdout carries results (tables, Locust's output); flushed,
    because the line may be the last one before the tool stops.
    """
    sys.stderr.write(f"{tool}: {message}\n")
    sys.stderr.flush()
