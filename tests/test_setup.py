"""Set-up on a bare machine: what is missing is said in one line, or installed when root.

`make bare` runs the two commands end to end on a machine without PostgreSQL;
this pins the one step it cannot reach, a Python without `venv`, as Debian's
python3 is until python3-venv is installed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.localdb import scratch_workdir

BASE_DIR = Path(__file__).resolve().parent.parent
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


@pytest.fixture
def python_without_venv() -> Iterator[Path]:
    """A python3 whose `import ensurepip` fails, as Debian's does without python3-venv.

    As root the script would install the package, so the test runs it as a normal user
    (nobody), with a system Python that user can run.
    """
    real = sys.executable if os.geteuid() else shutil.which("python3", path=SYSTEM_PATH)
    assert real, f"no python3 in {SYSTEM_PATH}"
    with scratch_workdir("widgetworld-venv-") as folder:
        blocker = folder / "site"
        blocker.mkdir()
        (blocker / "ensurepip.py").write_text("raise ImportError('python3-venv is missing')\n")
        python = folder / "python3"
        python.write_text(f'#!/bin/sh\nPYTHONPATH={blocker} exec {real} "$@"\n')
        for path in (blocker, blocker / "ensurepip.py", python):
            path.chmod(0o755)
        yield python


def as_normal_user(command: list[str]) -> list[str]:
    if os.geteuid():
        return command
    nobody = pwd.getpwnam("nobody")
    return [
        "setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
        "--", *command,
    ]  # fmt: skip


def test_a_python_without_venv_gets_one_line_naming_the_package(
    python_without_venv: Path,
) -> None:
    result = subprocess.run(
        as_normal_user([str(BASE_DIR / "scripts" / "python-venv.sh"), str(python_without_venv)]),
        capture_output=True,
        text=True,
        timeout=60,
    )

    [line] = result.stderr.splitlines()
    assert (result.returncode, line.startswith("error: "), "python3-venv" in line) == (
        1,
        True,
        True,
    )


def test_a_python_with_venv_passes() -> None:
    """The same check on the real interpreter: nothing to say."""
    result = subprocess.run(
        [str(BASE_DIR / "scripts" / "python-venv.sh"), sys.executable],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert (result.returncode, result.stderr) == (0, "")
