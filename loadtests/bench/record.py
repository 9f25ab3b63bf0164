"""Each benchmark owns one section of docs/benchmarks.md and rewrites only that."""

from __future__ import annotations

import datetime as dt
import os
import platform

import django

from devtools.servers import BASE_DIR

DOC = BASE_DIR / "docs" / "benchmarks.md"


def record(name: str, section: str) -> None:
    """Replace the section between `<!-- bench:NAME:start/end -->`, or append it."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n\nResults of `make bench`.\n"
    block = f"{start}\n{section}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(text)


def machine(server_version: str) -> str:
    """One line naming what the numbers were measured on, and when."""
    return (
        f"{dt.date.today().isoformat()}, {os.cpu_count()} cores, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"PostgreSQL {server_version}, Django {django.get_version()}"
    )
