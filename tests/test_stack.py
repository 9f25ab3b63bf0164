"""`make run` end to end: our PostgreSQL and cache server, migrations, gunicorn, and a clean stop.

These start real processes (initdb, postgres, gunicorn), so they are `slow`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from devtools.localcache import CacheServer
from devtools.localdb import PostgresCluster, scratch_dir
from devtools.servers import gunicorn_port, wait_for

# A whole `make run`: a new cluster, migrations, 3,000 widgets seeded, static
# files, gunicorn; on a busy machine under coverage that takes minutes.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

BASE_DIR = Path(__file__).resolve().parent.parent


class Serve:
    """One `python -m devtools.stack serve`, as `make run` starts it.

    On port 0 unless told: gunicorn binds what the kernel gives it, read from a worker's socket.
    """

    def __init__(self, data_dir: Path, *args: str, **env: str) -> None:
        self.port = int(env.pop("PORT", 0))
        # Not the suite's own settings: chaos endpoints are refused outside tests.
        environment = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "CACHE_URL", "WIDGETWORLD_CHAOS_ENDPOINTS")
        }
        environment.update(
            WIDGETWORLD_ENV="local",
            WIDGETWORLD_DATA_DIR=str(data_dir),
            PORT=str(self.port),
            METRICS_PORT="0",
            WEB_CONCURRENCY="2",
            WEB_THREADS="2",
            **env,
        )
        # One log per run: a checkout sees several.
        self.log = Path(tempfile.mkstemp(prefix="serve-", suffix=".log", dir=data_dir)[1])
        self.started_ns = time.time_ns()
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devtools.stack", "serve", *args],
                cwd=BASE_DIR,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, as a terminal gives it
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def wait_until_serving(self, timeout: float = 600) -> bytes:
        def home_page() -> bytes:
            assert self.process.poll() is None, self.output()
            self.port = self.port or gunicorn_port(self.process.pid) or 0
            if not self.port:
                return b""
            with urllib.request.urlopen(self.url, timeout=5) as response:
                return bytes(response.read())

        return wait_for("the home page", home_page, timeout, interval=0.25)

    def processes(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def stop(self, sig: signal.Signals, *, whole_group: bool = False) -> int:
        if whole_group:  # what Ctrl-C at a terminal does
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)
        return self.process.wait(timeout=60)

    def said(self) -> str:
        """What it has said so far."""
        return self.log.read_text(errors="replace")

    def finish(self) -> None:
        """Stopped, if no test stopped it: its whole group, so nothing is orphaned."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def output(self) -> str:
        """Everything it said; stopped first."""
        self.finish()
        return self.said()


def running(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


@contextlib.contextmanager
def new_data_dir() -> Iterator[Path]:
    # Under /tmp so that the server's unprivileged user can reach it when we are root.
    path = scratch_dir("widgetworld-run-")
    try:
        yield path
    finally:
        for root in (path / "postgres", *path.glob("postgres-replica-*")):
            cluster = PostgresCluster(root)
            if cluster.is_running():
                cluster.stop("immediate")
        CacheServer(path / "cache").stop()
        subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data folder no `make run` has used: the first `serve` creates everything."""
    with new_data_dir() as path:
        yield path


class Checkout:
    """A developer's data folder and the `make run`s made in it, one at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.runs: list[Serve] = []

    def run(self, *args: str) -> Serve:
        """The next `make run` here, serving; the one before it is stopped first, if no test did."""
        for earlier in self.runs:
            earlier.finish()
        self.runs.append(Serve(self.path, *args))
        self.runs[-1].wait_until_serving()
        return self.runs[-1]

    def finish(self) -> None:
        for serve in self.runs:
            serve.finish()


# A whole `make run` costs tens of seconds, so the tests that only look at a
# serving run share one, and the test that stops it comes after them in this
# file (pytest keeps its order). Run alone, a test still gets the runs it needs.


@pytest.fixture(scope="module")
def checkout() -> Iterator[Checkout]:
    """A new data folder, shared by the module's runs one after another."""
    with new_data_dir() as path:
        checkout = Checkout(path)
        try:
            yield checkout
        finally:
            checkout.finish()


@pytest.fixture(scope="module")
def first_run(checkout: Checkout) -> Serve:
    """The first `make run` in a new checkout: it created, migrated and seeded the cluster."""
    return checkout.run()


@pytest.fixture(scope="module")
def second_run(checkout: Checkout, first_run: Serve) -> Serve:
    """The next `make run` in the same checkout, once the first has stopped."""
    return checkout.run()


@pytest.fixture
def serving(first_run: Serve) -> Serve:
    """The first run, for a test that looks at it serving."""
    assert first_run.process.poll() is None, "a test that stops the first run ran before this one"
    return first_run


def server_of(data_dir: Path, cluster: str = "postgres") -> psutil.Process:
    pid = int((data_dir / cluster / "data" / "postmaster.pid").read_text().split()[0])
    return psutil.Process(pid)


def gunicorn_of(serve: Serve) -> list[psutil.Process]:
    return [p for p in serve.processes() if "gunicorn" in " ".join(p.cmdline())]


def everything_started_by(serve: Serve, data_dir: Path) -> list[psutil.Process]:
    """Its children (gunicorn and its workers), its cache server and its PostgreSQL."""
    cache_server = CacheServer(data_dir / "cache").pid
    assert cache_server is not None, "no cache server of its own"
    return [*serve.processes(), psutil.Process(cache_server), server_of(data_dir)]


def test_serves_the_home_page(serving: Serve) -> None:
    assert b"WidgetWorld" in serving.wait_until_serving()


def test_the_first_shopper_finds_the_home_page_already_rendered(
    serving: Serve, checkout: Checkout
) -> None:
    """`serve` runs manage.py warm_cache once the servers are up, before gunicorn."""
    category = first_category(checkout.path)

    with urllib.request.urlopen(f"{serving.url}c/{category}/") as response:
        assert response.headers["Cache-Status"] == "widgetworld; hit"


def first_category(data_dir: Path) -> str:
    cluster = PostgresCluster(data_dir / "postgres")
    with cluster.admin_connect("widgetworld") as conn:
        row = conn.execute("SELECT path FROM catalog_category ORDER BY path LIMIT 1").fetchone()
    assert row is not None
    return str(row[0])


def test_serves_with_a_cache_server_of_its_own(serving: Serve, checkout: Checkout) -> None:
    cache = CacheServer(checkout.path / "cache")
    used = {process.environ().get("CACHE_URL") for process in gunicorn_of(serving)}

    assert (used, cache.is_running()) == ({cache.url}, True)


def test_sigterm_stops_everything_it_started(serving: Serve, checkout: Checkout) -> None:
    started = everything_started_by(serving, checkout.path)

    exit_code = serving.stop(signal.SIGTERM)

    assert (exit_code, running(started)) == (0, [])


def test_a_second_run_reuses_the_cluster(second_run: Serve, checkout: Checkout) -> None:
    created = (checkout.path / "postgres" / "data" / "PG_VERSION").stat().st_mtime_ns
    made_before_it = created < second_run.started_ns

    assert (made_before_it, "creating a PostgreSQL cluster" in second_run.said()) == (True, False)


def test_ctrl_c_stops_everything_it_started(second_run: Serve, checkout: Checkout) -> None:
    started = everything_started_by(second_run, checkout.path)

    exit_code = second_run.stop(signal.SIGINT, whole_group=True)

    assert (exit_code, running(started)) == (0, [])


def test_replicas_1_reads_the_catalog_from_a_streaming_replica_and_stops_it(
    checkout: Checkout,
) -> None:
    serve = checkout.run("--replicas", "1")
    gunicorn = gunicorn_of(serve)[0]
    with psycopg.connect(gunicorn.environ()["DATABASE_REPLICA_URLS"]) as conn:
        replica = conn.execute(
            "SELECT pg_is_in_recovery(), count(*) FROM catalog_widget"
        ).fetchone()
    replica_root = checkout.path / "postgres-replica-1"
    started = [
        *everything_started_by(serve, checkout.path),
        server_of(checkout.path, replica_root.name),
    ]

    serve.stop(signal.SIGTERM)

    # A standby with the seeded catalog, stopped and removed with the rest.
    assert (replica, running(started), replica_root.exists()) == ((True, 3000), [], False)


@pytest.fixture(scope="module")
def run_on_their_servers(postgres: PostgresCluster, cache_server: CacheServer) -> Iterator[Path]:
    """The data folder of a whole `make run` given someone else's PostgreSQL and cache server."""
    database = postgres.ensure_database("stack_external")
    with new_data_dir() as path:
        serve = Serve(path, DATABASE_URL=database.url, CACHE_URL=cache_server.url)
        try:
            serve.wait_until_serving()
            serve.stop(signal.SIGTERM)
        finally:
            serve.output()
        yield path


def test_database_url_is_used_instead_of_our_own_cluster(run_on_their_servers: Path) -> None:
    assert not (run_on_their_servers / "postgres").exists()


def test_cache_url_is_used_instead_of_our_own_server(run_on_their_servers: Path) -> None:
    assert not (run_on_their_servers / "cache").exists()


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def test_an_unreachable_database_url_is_one_clear_line(data_dir: Path, refused_port: int) -> None:
    serve = Serve(data_dir, DATABASE_URL=f"postgres://shop@127.0.0.1:{refused_port}/shop")

    assert serve.process.wait(timeout=60) == 1
    [line] = error_lines(serve.output())
    assert line.startswith("widgetworld: error: cannot connect to DATABASE_URL")


def test_a_malformed_database_url_is_one_clear_line(data_dir: Path) -> None:
    serve = Serve(data_dir, DATABASE_URL="mysql://shop@localhost/shop")

    assert serve.process.wait(timeout=60) == 1
    [line] = error_lines(serve.output())
    assert "DATABASE_URL must be a postgres:// URL" in line


def test_a_port_in_use_is_one_clear_line(data_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        serve = Serve(data_dir, PORT=str(busy.getsockname()[1]))

        assert serve.process.wait(timeout=60) == 1
        [line] = error_lines(serve.output())
    assert "is already in use" in line


def test_replicas_of_someone_elses_database_is_one_clear_line(
    data_dir: Path, postgres: PostgresCluster
) -> None:
    database = postgres.ensure_database("stack_external")
    serve = Serve(data_dir, "--replicas", "1", DATABASE_URL=database.url)

    assert serve.process.wait(timeout=60) == 1
    [line] = error_lines(serve.output())
    assert "with DATABASE_URL set, set DATABASE_REPLICA_URLS" in line
