"""A real gunicorn serving WidgetWorld, started and stopped by a test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from core.localdb.cluster import free_port

BASE_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Answer:
    status: int
    seconds: float
    retry_after: str | None
    body: bytes


class Gunicorn:
    """`gunicorn -c widgetworld/gunicorn.conf.py`, as production runs it, on a free port."""

    def __init__(
        self,
        database_url: str,
        *,
        workers: int = 1,
        threads: int = 4,
        args: tuple[str, ...] = (),
        **env: str,
    ) -> None:
        self.port = free_port()
        self.log_path = Path(tempfile.mkstemp(prefix="gunicorn-", suffix=".log")[1])
        environment = {
            **os.environ,
            "WIDGETWORLD_ENV": "test",
            "WIDGETWORLD_CHAOS_ENDPOINTS": "true",
            "DATABASE_URL": database_url,
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            "WEB_THREADS": str(threads),
            **env,
        }
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "widgetworld/gunicorn.conf.py", *args],
                cwd=BASE_DIR,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_serving(workers)

    def _wait_until_serving(self, workers: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited:\n{self.log()}")
            if self.log().count("Booting worker") >= workers:
                try:
                    if self.get("/livez").status == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.1)
        raise AssertionError(f"gunicorn not serving after {timeout}s:\n{self.log()}")

    def get(self, path: str, timeout: float = 30) -> Answer:
        started = time.monotonic()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read()
                status, retry_after = response.status, response.headers.get("Retry-After")
        except urllib.error.HTTPError as error:
            body = error.read()
            status, retry_after = error.code, error.headers.get("Retry-After")
        return Answer(status, time.monotonic() - started, retry_after, body)

    def worker_pids(self) -> list[int]:
        import psutil

        return [child.pid for child in psutil.Process(self.process.pid).children()]

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_path.unlink(missing_ok=True)
