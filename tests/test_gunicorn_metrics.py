"""Metrics under a real multi-worker gunicorn: one scrape shows every worker's numbers.

These start gunicorn with widgetworld/gunicorn.conf.py against the suite's
PostgreSQL, so they are `slow`.
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.databases import migrated_database
from devtools.localdb import PostgresCluster
from devtools.servers import Gunicorn, http_get, serving, wait_for

pytestmark = pytest.mark.slow

# Requests each worker serves alone while the other is paused.
REQUESTS = 5


@pytest.fixture(scope="module")
def database_url(postgres: PostgresCluster) -> str:
    return migrated_database(postgres, "gunicorn_metrics")


@pytest.fixture(scope="module")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """One gunicorn for the module: each test reads only what it sent or did itself."""
    with serving(
        database_url,
        tmp_path_factory.mktemp("gunicorn") / "gunicorn.log",
        WEB_CONCURRENCY="2",
        WEB_THREADS="4",
        LOG_FORMAT="json",
        # The test client is the proxy here: its request ids are kept as they are.
        TRUSTED_PROXIES="127.0.0.0/8",
    ) as server:
        yield server


def workers(app: Gunicorn) -> set[int]:
    return app.worker_pids()


def sample(metrics: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in metrics.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


def access_lines(app: Gunicorn) -> list[dict[str, object]]:
    text = app.output()
    complete = text[: text.rfind("\n") + 1]  # a worker may be writing the last line now
    lines = [json.loads(line) for line in complete.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "gunicorn.access"]


def test_counters_sum_across_workers(app: Gunicorn) -> None:
    # The cart page: nothing else asks for it (startup probes /livez, and may retry).
    sent = 0
    forked = sorted(workers(app))
    # The kernel picks which worker accepts: pause one so the other must, then swap.
    # A paused worker stops beating: the requests meanwhile must end well within
    # gunicorn's 30 s `timeout`, or the master replaces it, on a busy machine too.
    for paused in forked:
        os.kill(paused, signal.SIGSTOP)
        try:
            sent += len([app.get("/cart/") for _ in range(REQUESTS)])
        finally:
            os.kill(paused, signal.SIGCONT)
    served_by = {line["pid"] for line in access_lines(app) if line["path"] == "/cart/"}

    counted = sample(
        app.metrics(),
        "django_http_requests_latency_seconds_by_view_method_count",
        view="catalog:cart",
        method="GET",
    )

    assert (served_by, counted) == (set(forked), sent)


def test_gunicorn_logs_json_with_the_request_id(app: Gunicorn) -> None:
    http_get(app.url + "/livez", headers={"X-Request-ID": "drill-42"})

    def logged() -> list[dict[str, object]]:
        return [line for line in access_lines(app) if line.get("request_id") == "drill-42"]

    [line] = wait_for("the access log line", logged, 10)

    assert (line["path"], line["status"], line["level"]) == ("/livez", 200, "INFO")


def test_the_metrics_directory_is_fresh_per_run_and_removed_at_exit(
    database_url: str, tmp_path: Path
) -> None:
    # A temporary folder of its own: other gunicorns on this machine make theirs in /tmp.
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    server = Gunicorn(
        database_url, tmp_path / "gunicorn.log", WEB_CONCURRENCY="1", TMPDIR=str(private_tmp)
    )
    try:
        server.wait_until_serving()
        created = list(private_tmp.glob("widgetworld-metrics-*"))
    finally:
        server.stop()

    assert (len(created), any(path.exists() for path in created)) == (1, False)


def test_a_dead_workers_pool_gauges_disappear(app: Gunicorn) -> None:
    def reporting() -> set[int]:
        http_get(app.url + "/readyz")
        return {
            int(pid)
            for pid in re.findall(r'widgetworld_db_pool_max\{[^}]*pid="(\d+)"', app.metrics())
        }

    wait_for("every worker's pool gauges", lambda: reporting() == workers(app), 20)
    victim = min(workers(app))

    os.kill(victim, signal.SIGKILL)

    assert wait_for("the dead worker's gauges to go", lambda: victim not in reporting(), 20)


def test_the_shops_port_never_serves_metrics(app: Gunicorn) -> None:
    shop = app.get("/metrics")
    metrics = http_get(app.metrics_url)

    assert (shop.status, metrics.status, b"widgetworld_ready" in metrics.body) == (404, 200, True)


def test_the_master_answers_scrapes_while_every_worker_is_stuck(app: Gunicorn) -> None:
    stuck = sorted(workers(app))
    for pid in stuck:
        os.kill(pid, signal.SIGSTOP)
    try:
        answer = http_get(app.metrics_url, timeout=5)
    finally:
        for pid in stuck:
            os.kill(pid, signal.SIGCONT)

    assert answer.status == 200
