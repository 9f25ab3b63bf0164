"""The 2023 outage, and its cousins, against real gunicorn workers and a real server.

Each test gets a private PostgreSQL it may starve, stop, restart or prune.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from devtools.localdb import PostgresCluster
from devtools.servers import Answer, Gunicorn, http_get, wait_for
from tests.conftest import MakePostgres

pytestmark = pytest.mark.slow

StartGunicorn = Callable[..., Gunicorn]


@pytest.fixture
def start_gunicorn(tmp_path: Path) -> Iterator[StartGunicorn]:
    servers: list[Gunicorn] = []

    def start(
        cluster: PostgresCluster, *, workers: int = 1, threads: int = 4, **options: Any
    ) -> Gunicorn:
        server = Gunicorn(
            cluster.ensure_database("chaos").url,
            tmp_path / f"gunicorn-{len(servers)}.log",
            WEB_CONCURRENCY=str(workers),
            WEB_THREADS=str(threads),
            WIDGETWORLD_CHAOS_ENDPOINTS="true",
            **options,
        )
        servers.append(server)
        server.wait_until_serving()
        return server

    yield start
    for server in servers:
        server.stop()


def burst(server: Gunicorn, path: str, count: int) -> list[Answer]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: server.post(path), range(count)))


def why_not(answer: Answer) -> str:
    """A 503's reason as the API says it: "busy" (the pool gave up) or "database_unavailable"."""
    return str(json.loads(answer.body)["error"]) if answer.status == 503 else str(answer.status)


def post_for_json(server: Gunicorn, path: str) -> Answer:
    return http_get(
        server.url + path, timeout=90, headers={"Accept": "application/json"}, method="POST"
    )


def ours(cluster: PostgresCluster) -> dict[str, int]:
    """WidgetWorld pool connections per process, as the server sees them."""
    with cluster.admin_connect() as conn:
        rows = conn.execute(
            "SELECT application_name, count(*) FROM pg_stat_activity"
            " WHERE application_name LIKE 'widgetworld/%' GROUP BY 1"
        ).fetchall()
    return dict(rows)


def test_more_requests_than_connections_get_a_page_or_a_fast_503(
    make_postgres: MakePostgres, start_gunicorn: StartGunicorn
) -> None:
    server = start_gunicorn(
        make_postgres(),
        threads=8,
        WIDGETWORLD_DB_POOL_MAX="2",
        WIDGETWORLD_DB_POOL_TIMEOUT="1",
    )

    with ThreadPoolExecutor(max_workers=8) as clients:
        answers = list(
            clients.map(lambda _: post_for_json(server, "/_chaos/hold?seconds=2"), range(8))
        )

    # No clock: a pool that waited longer than the holders hold (2 s) would serve
    # everyone in the end, so "busy" 503s mean it gave up at its 1 s timeout.
    outcomes = {(why_not(a), a.retry_after is not None) for a in answers}
    assert outcomes == {("200", False), ("busy", True)}


def test_a_page_that_renders_slowly_after_its_query_does_not_hold_a_connection(
    make_postgres: MakePostgres, start_gunicorn: StartGunicorn
) -> None:
    server = start_gunicorn(
        make_postgres(), threads=8, WIDGETWORLD_DB_POOL_MAX="1", WIDGETWORLD_DB_POOL_TIMEOUT="0.5"
    )

    # Eight slow renders at once share one connection: each holds it only for its query.
    answers = burst(server, "/_chaos/render?seconds=1.5", 8)

    assert {a.status for a in answers} == {200}


def test_a_database_restart_heals_without_restarting_the_app(
    make_postgres: MakePostgres, start_gunicorn: StartGunicorn
) -> None:
    cluster = make_postgres()
    # No clock: with a 20 s checkout timeout, a request that waited for the
    # database instead of failing fast would answer "busy" 20 s later.
    server = start_gunicorn(cluster, threads=4, WIDGETWORLD_DB_POOL_TIMEOUT="20")
    assert server.post("/_chaos/query").status == 200

    cluster.stop()
    during = [why_not(post_for_json(server, "/_chaos/query")) for _ in range(3)]
    cluster.start()
    wait_for("a page after the restart", lambda: server.post("/_chaos/query").status == 200, 30)

    assert set(during) == {"database_unavailable"}


def test_terminated_backends_are_replaced_before_the_next_request(
    make_postgres: MakePostgres, start_gunicorn: StartGunicorn
) -> None:
    cluster = make_postgres()
    # Replacing them means opening new connections, which on a busy machine (and
    # under coverage) can outlast the 2.5 s default: only a dead connection
    # handed out may fail this request, never a slow new one.
    server = start_gunicorn(cluster, threads=4, WIDGETWORLD_DB_POOL_TIMEOUT="30")
    burst(server, "/_chaos/query", 4)
    with cluster.admin_connect() as conn:
        terminated = [
            pid
            for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'widgetworld/%'"
            ).fetchall()
        ]
        conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [terminated])

        # Termination is a signal: wait until every one of those backends is gone.
        def all_gone() -> bool:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [terminated]
            ).fetchone()
            return row == (0,)

        wait_for("the terminated backends to exit", all_gone, 10)

    assert (len(terminated) > 0, server.post("/_chaos/query").status) == (True, 200)


def test_the_gunicorn_master_holds_no_connection_even_with_preload(
    make_postgres: MakePostgres, start_gunicorn: StartGunicorn
) -> None:
    cluster = make_postgres()
    # The master imports the app and runs a query at import time.
    server = start_gunicorn(
        cluster, workers=2, args=("--preload", "tests.preload_wsgi:application")
    )
    burst(server, "/_chaos/query", 8)

    processes = {name.rsplit("/", 1)[1] for name in ours(cluster)}

    assert str(server.popen.pid) not in processes
    assert processes <= {str(pid) for pid in server.worker_pids()}


def test_a_connection_held_too_long_is_reported_with_its_stack(
    make_postgres: MakePostgres, start_gunicorn: StartGunicorn
) -> None:
    server = start_gunicorn(make_postgres(), WIDGETWORLD_DB_POOL_LEAK_SECONDS="0.5")

    server.post("/_chaos/leak?seconds=2")

    log = server.output()
    assert "connection held for" in log
    assert "core/chaos/views.py" in log


def test_the_fleet_stays_within_its_budget_as_processes_join(
    make_postgres: MakePostgres, start_gunicorn: StartGunicorn
) -> None:
    # 20 - 3 superuser-reserved - 2 headroom = 15 slots for the whole fleet.
    cluster = make_postgres({"max_connections": 20})
    settings = {
        "threads": 8,
        "WIDGETWORLD_DB_POOL_HEADROOM": "2",
        "WIDGETWORLD_DB_POOL_BUDGET_INTERVAL": "1",
        "WIDGETWORLD_DB_POOL_TIMEOUT": "5",
    }
    first = start_gunicorn(cluster, workers=2, **settings)
    peaks: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peaks.append(sum(ours(cluster).values()))
            time.sleep(0.05)

    def load(server: Gunicorn, seconds: float) -> list[Answer]:
        deadline = time.monotonic() + seconds
        answers: list[Answer] = []
        while time.monotonic() < deadline:
            answers += burst(server, "/_chaos/hold?seconds=0.2", 16)
        return answers

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        answers = load(first, 4)
        alone = max(ours(cluster).values())
        second = start_gunicorn(cluster, workers=2, **settings)
        with ThreadPoolExecutor(2) as pool:
            both = pool.map(lambda s: load(s, 6), [first, second])
            answers += [a for batch in both for a in batch]
        shared = max(ours(cluster).values())
    finally:
        stop.set()
        watcher.join()

    assert max(peaks) <= 15
    assert shared < alone
    assert {a.status for a in answers} <= {200, 503}
