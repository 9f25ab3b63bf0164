"""System programs some tests need: found, or the test skips (or fails, as root).

`make test` installs them as root (scripts/system-deps.sh), so as root a
missing program is a broken set-up, not a reason to skip.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require(program: str, package: str = "prometheus") -> str:
    path = shutil.which(program)
    if path:
        return path
    reason = (
        f"{program} is not installed (Debian package: {package}; make test installs it as root)"
    )
    if os.geteuid() == 0:
        pytest.fail(reason)
    pytest.skip(reason)
