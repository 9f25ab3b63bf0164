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
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from devtools.localcache import CacheServer
from devtools.localdb import PostgresCluster, scratch_dir
from devtools.servers import gunicorn_port, wait_for

# Each test is a whole `make run`: a new cluster, migrations, 3,000 widgets seeded,
# static files, gunicorn; on a busy machine under coverage that takes minutes.
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
        self.log = data_dir / "serve.log"
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

    def output(self) -> str:
        """Everything it said; stopped first (its whole group, so nothing is orphaned)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.log.read_text(errors="replace")


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


@pytest.fixture(scope="module")
def served_once() -> Iterator[Path]:
    """A data folder after one whole `make run` and its stop: a migrated, seeded cluster."""
    with new_data_dir() as path:
        serve = Serve(path)
        try:
            serve.wait_until_serving()
            assert serve.stop(signal.SIGTERM) == 0, serve.output()
        finally:
            serve.output()  # stops whatever of it is left
        # Copied stopped, whatever `serve` did: the tests watch their own run stop it.
        PostgresCluster(path / "postgres").stop()
        yield path


@pytest.fixture
def prepared_dir(data_dir: Path, served_once: Path) -> Path:
    """A data folder whose PostgreSQL a previous `make run` created, migrated and seeded.

    Creating and seeding a cluster takes most of a `serve`; only
    test_a_second_run_reuses_the_cluster needs to watch it happen, the others
    start from a copy (as the server's user when we are root: `cp -a`). The
    cache server and static files are not copied: each `serve` starts its own.
    """
    subprocess.run(["cp", "-a", str(served_once / "postgres"), str(data_dir)], check=True)
    return data_dir


def server_of(data_dir: Path, cluster: str = "postgres") -> psutil.Process:
    pid = int((data_dir / cluster / "data" / "postmaster.pid").read_text().split()[0])
    return psutil.Process(pid)


@pytest.mark.parametrize(
    ("sig", "whole_group"),
    [(signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["SIGTERM", "Ctrl-C"],
)
def test_serves_the_home_page_and_stops_without_leftovers(
    prepared_dir: Path, sig: signal.Signals, whole_group: bool
) -> None:
    serve = Serve(prepared_dir)
    page = serve.wait_until_serving()
    started = [*serve.processes(), server_of(prepared_dir)]

    exit_code = serve.stop(sig, whole_group=whole_group)

    assert (b"WidgetWorld" in page, exit_code, running(started)) == (True, 0, [])


def test_a_second_run_reuses_the_cluster(data_dir: Path) -> None:
    first = Serve(data_dir)
    first.wait_until_serving()
    first.stop(signal.SIGTERM)
    created = (data_dir / "postgres" / "data" / "PG_VERSION").stat().st_mtime_ns

    second = Serve(data_dir)
    second.wait_until_serving()
    second.stop(signal.SIGTERM)

    assert (data_dir / "postgres" / "data" / "PG_VERSION").stat().st_mtime_ns == created
    assert "creating a PostgreSQL cluster" not in second.output()


def test_database_url_is_used_instead_of_our_own_cluster(
    data_dir: Path, postgres: PostgresCluster
) -> None:
    database = postgres.ensure_database("stack_external")
    serve = Serve(data_dir, DATABASE_URL=database.url)

    serve.wait_until_serving()
    serve.stop(signal.SIGTERM)

    assert not (data_dir / "postgres").exists()


def test_serves_with_a_cache_server_of_its_own_and_stops_it(prepared_dir: Path) -> None:
    serve = Serve(prepared_dir)
    serve.wait_until_serving()
    cache = CacheServer(prepared_dir / "cache")
    gunicorn = [p for p in serve.processes() if "gunicorn" in " ".join(p.cmdline())]
    used = {process.environ().get("CACHE_URL") for process in gunicorn}
    running_while_serving = cache.is_running()

    serve.stop(signal.SIGTERM)

    assert (used, running_while_serving, cache.is_running()) == ({cache.url}, True, False)


def test_cache_url_is_used_instead_of_our_own_server(
    prepared_dir: Path, cache_server: CacheServer
) -> None:
    serve = Serve(prepared_dir, CACHE_URL=cache_server.url)

    serve.wait_until_serving()
    serve.stop(signal.SIGTERM)

    assert not (prepared_dir / "cache").exists()


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


def test_the_first_shopper_finds_the_home_page_already_rendered(prepared_dir: Path) -> None:
    """`serve` runs manage.py warm_cache once the servers are up, before gunicorn."""
    serve = Serve(prepared_dir)
    serve.wait_until_serving()
    with urllib.request.urlopen(serve.url + "c/" + first_category(prepared_dir) + "/") as response:
        how = response.headers["Cache-Status"]
    serve.stop(signal.SIGTERM)

    assert how == "widgetworld; hit"


def first_category(data_dir: Path) -> str:
    cluster = PostgresCluster(data_dir / "postgres")
    with cluster.admin_connect("widgetworld") as conn:
        row = conn.execute("SELECT path FROM catalog_category ORDER BY path LIMIT 1").fetchone()
    assert row is not None
    return str(row[0])


def test_replicas_1_reads_the_catalog_from_a_streaming_replica_and_stops_it(
    prepared_dir: Path,
) -> None:
    serve = Serve(prepared_dir, "--replicas", "1")
    serve.wait_until_serving()
    gunicorn = next(p for p in serve.processes() if "gunicorn" in " ".join(p.cmdline()))
    with psycopg.connect(gunicorn.environ()["DATABASE_REPLICA_URLS"]) as conn:
        replica = conn.execute(
            "SELECT pg_is_in_recovery(), count(*) FROM catalog_widget"
        ).fetchone()
    replica_root = prepared_dir / "postgres-replica-1"
    started = [
        *serve.processes(),
        server_of(prepared_dir),
        server_of(prepared_dir, replica_root.name),
    ]

    serve.stop(signal.SIGTERM)

    # A standby with the seeded catalog, stopped and removed with the rest.
    assert (replica, running(started), replica_root.exists()) == ((True, 3000), [], False)


def test_replicas_of_someone_elses_database_is_one_clear_line(
    data_dir: Path, postgres: PostgresCluster
) -> None:
    database = postgres.ensure_database("stack_external")
    serve = Serve(data_dir, "--replicas", "1", DATABASE_URL=database.url)

    assert serve.process.wait(timeout=60) == 1
    [line] = error_lines(serve.output())
    assert "with DATABASE_URL set, set DATABASE_REPLICA_URLS" in line
