"""System programs some tests need: found, or the test fails (or, for a normal user, skips).

`make test` installs them when it runs as root (scripts/system-deps.sh), as CI
does, so as root a missing program is a broken set-up and the test fails. A
normal user cannot install Debian packages: there the test skips, saying which
package an administrator must install. That is the one skip CI cannot have
(CI runs as root), and `make test` counts every skip with its reason at the
end (tests/conftest.py); in CI any skip fails the run.
"""

from __future__ import annotations

import os
import shutil

import pytest

NOT_ROOT = "only root can install Debian packages"


def require(program: str, package: str = "prometheus") -> str:
    """The path of `program`, from the Debian package `package`."""
    path = shutil.which(program)
    if path:
        return path
    missing = f"{program} is not installed (Debian package: {package})"
    if os.geteuid() == 0:
        pytest.fail(f"{missing}, though make test installs it as root: run `make system-deps`")
    pytest.skip(f"{missing}; {NOT_ROOT}: `sudo make system-deps` installs it")
