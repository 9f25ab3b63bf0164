"""The processes our tools start around WidgetWorld: gunicorn, manage.py, a logged child.

The alert drill, the load suites, the benchmarks and the process-level tests
all need "WidgetWorld under gunicorn, as production runs it, on a free
loopback port, stopped politely afterwards". This is that, once.

A free port is never guessed: a port found free and closed again can be taken
by anyone before our server binds it. Servers bind port 0, the kernel picks,
and we read the port back from the listening socket.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil

from devtools.processes import STOP_TIMEOUT, stop_process

BASE_DIR = Path(__file__).resolve().parent.parent
GUNICORN_CONF = "widgetworld/gunicorn.conf.py"
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", GUNICORN_CONF]

T = TypeVar("T")


class ServerError(RuntimeError):
    """A process did not start or answer: one line for the terminal."""


@dataclass(frozen=True)
class Answer:
    status: int
    seconds: float
    retry_after: str | None
    body: bytes


def http_get(
    url: str, timeout: float = 5, headers: dict[str, str] | None = None, *, method: str = "GET"
) -> Answer:
    """A request that returns 4xx and 5xx answers instead of raising; OSError if none came."""
    started = time.monotonic()
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, retry, body = response.status, response.headers["Retry-After"], response.read()
    except urllib.error.HTTPError as error:
        status, retry, body = error.code, error.headers["Retry-After"], error.read()
    return Answer(status, time.monotonic() - started, retry, body)


def wait_for(what: str, check: Callable[[], T], timeout: float, interval: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if result := check():
                return result
        time.sleep(interval)
    raise ServerError(f"timed out after {timeout:g}s waiting for {what}")


def app_environment(database_url: str, **extra: str) -> dict[str, str]:
    """What gunicorn and manage.py get: a test-mode app on this database.

    The caller's Prometheus directory is left out: each gunicorn makes its own.
    """
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        {
            "WIDGETWORLD_ENV": "test",
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "widgetworld.settings",
            **extra,
        }
    )
    return env


def manage(database_url: str, *args: str, timeout: float = 600, **env: str) -> None:
    """Run a management command (migrate, seed_catalog) and fail in one line."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=app_environment(database_url, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ServerError(f"manage.py {args[0]} failed: {last}")


def listening_port(pid: int) -> int | None:
    """The TCP port process `pid`, or one of its descendants, listens on; None while none does."""
    process = psutil.Process(pid)
    for member in (process, *process.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):  # a child that just exited
            for socket in member.net_connections(kind="tcp"):
                if socket.status == psutil.CONN_LISTEN:
                    return int(socket.laddr.port)
    return None


def gunicorn_port(pid: int) -> int | None:
    """The shop's port of the gunicorn that is, or that was started by, process `pid`.

    Read from a worker's listening socket: the master listens for /metrics too
    (workers close that one), its "Listening at" line is not logged under
    LOG_LEVEL=WARNING, and the stack's cache server listens beside it. None
    until a worker runs.
    """
    root = psutil.Process(pid)
    for process in (root, *root.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):
            parent = process.parent()
            # A worker: started with our configuration, by a process started with it.
            if (
                parent is not None
                and GUNICORN_CONF in " ".join(process.cmdline())
                and GUNICORN_CONF in " ".join(parent.cmdline())
            ):
                return _single_listening_port(process)
    return None


def _single_listening_port(worker: psutil.Process) -> int | None:
    """A worker's one listening socket, the shop's; None while it still holds two.

    A worker is forked holding the master's /metrics socket as well, and closes
    it in post_fork: just after the fork, the second socket is not the shop's.
    """
    ports = {
        socket.laddr.port
        for socket in worker.net_connections(kind="tcp")
        if socket.status == psutil.CONN_LISTEN
    }
    return ports.pop() if len(ports) == 1 else None


class Process:
    """A child in its own session whose output goes to a log file; stopped politely."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log: Path, cwd: Path) -> None:
        self.log = log
        self.name = Path(args[0]).name
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                list(args), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        return stop_process(self.popen, timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def wait_until_listening(self, timeout: float = 60) -> int:
        """The port it bound (it was told port 0), once it listens."""

        def bound() -> int:
            if not self.alive():
                raise ServerError(f"{self.name} exited:\n{self.tail()}")
            return listening_port(self.popen.pid) or 0

        return wait_for(f"{self.name} to listen", bound, timeout)


class Gunicorn(Process):
    """WidgetWorld served exactly as production serves it, on a free loopback port.

    `env` overrides the app's environment (WEB_CONCURRENCY, pool knobs...);
    `args` are extra gunicorn arguments (`--preload`, another WSGI app). Without
    PORT it binds port 0, and `port` is what the kernel gave it.
    """

    def __init__(
        self, database_url: str, log: Path, *, args: Sequence[str] = (), **env: str
    ) -> None:
        self._port = int(env.pop("PORT", 0)) or None
        # The master's /metrics listener takes whatever port the OS gives it.
        env.setdefault("METRICS_PORT", "0")
        environment = app_environment(
            database_url, HOST="127.0.0.1", PORT=str(self._port or 0), **env
        )
        self.workers = int(environment.get("WEB_CONCURRENCY", "2"))
        super().__init__([*GUNICORN, *args], environment, log, BASE_DIR)
        self.name = "gunicorn"

    @property
    def port(self) -> int:
        """The shop's port: as given, or the one the kernel gave it (`gunicorn_port`)."""
        if self._port is None:

            def bound() -> int:
                if not self.alive():
                    raise ServerError(f"gunicorn exited:\n{self.tail()}")
                return gunicorn_port(self.popen.pid) or 0

            self._port = wait_for("gunicorn to listen", bound, 60)
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, timeout: float = 30) -> Answer:
        return http_get(self.url + path, timeout=timeout)

    def post(self, path: str, timeout: float = 30) -> Answer:
        """An empty POST, as the chaos endpoints take."""
        return http_get(self.url + path, timeout=timeout, method="POST")

    @property
    def metrics_port(self) -> int:
        """The port the master serves /metrics on, as it logged it at start."""
        found = re.search(r"serving /metrics on http://[^:\s]+:(\d+)/metrics", self.output())
        if found is None:
            raise ServerError(f"gunicorn has not said where /metrics is:\n{self.tail()}")
        return int(found.group(1))

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def metrics(self) -> str:
        return http_get(self.metrics_url).body.decode()

    def worker_pids(self) -> set[int]:
        return {child.pid for child in psutil.Process(self.popen.pid).children()}

    def wait_until_serving(self, timeout: float = 60) -> None:
        """Every worker forked, /metrics listening and /livez answering."""

        def serving() -> bool:
            if not self.alive():
                raise ServerError(f"gunicorn exited:\n{self.tail()}")
            forked = len(self.worker_pids()) >= self.workers
            exporting = "serving /metrics on" in self.output()
            return forked and exporting and self.get("/livez", timeout=2).status == 200

        wait_for("gunicorn to serve /livez", serving, timeout)


@contextlib.contextmanager
def serving(
    database_url: str, log: Path, *, args: Sequence[str] = (), **env: str
) -> Iterator[Gunicorn]:
    """A Gunicorn (same arguments) serving for the `with` block, stopped whatever happens."""
    server = Gunicorn(database_url, log, args=args, **env)
    try:
        server.wait_until_serving()
        yield server
    finally:
        server.stop()
