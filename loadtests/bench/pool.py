"""What checking a connection out per query costs, and what it saves.

`python -m loadtests.bench.pool` seeds a catalog in a private PostgreSQL
(password authentication over TCP, as production), then serves storefront
pages through Django's real WSGI handler, in process, request after request
(request_started and request_finished fire, so every setup returns or keeps
its connections as it would under gunicorn). Each setup runs in a child
process of its own; the setups take turns over several rounds so that a
noisy neighbour hurts them all alike, and each figure is the median of the
rounds' medians.

It reports the median server time per page for a persistent connection (the
reference), WidgetWorld (a connection per query), WidgetWorld holding its
connection for the whole request, and Django's native pool; and, for
WidgetWorld, how long a request holds a connection. Rewrites the `pool`
section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from devtools import console
from devtools.databases import scratch_database
from devtools.localdb import scratch_workdir
from devtools.servers import BASE_DIR, app_environment
from loadtests.bench.configs import SETUPS
from loadtests.bench.record import machine, record

SETUP_ORDER = ["persistent", "widgetworld", "widgetworld-hold", "django-pool"]
PAGES = {
    "Product page": "/widgets/{slug}/",
    "Listing, page 1": "/widgets/",
    "Search": "/search/?q=brass+sprocket",
}
WARMUP = 30
# Issue 12: checking a connection out per query may cost at most this.
TARGET = 0.02


def measure(paths: dict[str, str], requests: int) -> dict[str, Any]:
    """In the child: time each page through the WSGI handler, with the setup's connections."""
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection
    from django.test import RequestFactory

    handler = WSGIHandler()
    factory = RequestFactory(HTTP_HOST="localhost")

    def serve(path: str) -> int:
        environ = factory.get(path).environ
        status: list[str] = []

        def start_response(
            status_line: str, headers: list[tuple[str, str]], exc_info: object = None
        ) -> Callable[[bytes], object]:
            status.append(status_line)
            return lambda body: None  # the write() of old WSGI apps; Django never calls it

        response = handler(environ, start_response)
        b"".join(response)
        response.close()  # request_finished: connections go back as they would
        return int(status[0].split()[0])

    stats = getattr(connection, "pool_stats", lambda: None)
    results: dict[str, Any] = {}
    for name, path in paths.items():
        for _ in range(WARMUP):
            assert serve(path) == 200, path
        before = stats()
        timings = []
        for _ in range(requests):
            started = time.perf_counter()
            serve(path)
            timings.append(time.perf_counter() - started)
        after = stats()
        result: dict[str, Any] = {"median_ms": statistics.median(timings) * 1000}
        if before is not None and after is not None:
            result["checkouts"] = (after.checkouts - before.checkouts) / requests
            result["hold_ms"] = (after.hold_seconds_total - before.hold_seconds_total) * 1000
            result["hold_ms"] /= requests
        results[name] = result
    return results


def run_setup(setup: str, database_url: str, paths: dict[str, str], requests: int) -> Any:
    env = app_environment(
        database_url,
        DJANGO_SETTINGS_MODULE="loadtests.bench.settings",
        BENCH_SETUP=setup,
        LOG_LEVEL="WARNING",
    )
    result = subprocess.run(
        [sys.executable, "-m", "loadtests.bench.pool", "--child", json.dumps(paths),
         "--requests", str(requests)],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=900, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)


def table(rounds: dict[str, list[dict[str, Any]]]) -> str:
    def median(setup: str, page: str, key: str) -> float:
        return statistics.median(r[page][key] for r in rounds[setup])

    reference = {page: median("persistent", page, "median_ms") for page in PAGES}
    header = " | ".join(f"{page} (ms)" for page in PAGES)
    lines = [
        f"| Setup | {header} | vs persistent | Checkouts per request | Held per request (ms) |",
        "| --- |" + " ---: |" * (len(PAGES) + 3),
    ]
    overheads: dict[str, float] = {}
    for setup in SETUP_ORDER:
        times = [median(setup, page, "median_ms") for page in PAGES]
        ratio = math.prod(t / reference[p] for t, p in zip(times, PAGES, strict=True))
        ratio **= 1 / len(PAGES)
        overheads[setup] = ratio - 1
        first = rounds[setup][0][next(iter(PAGES))]
        held = checkouts = "—"
        if "hold_ms" in first:
            held = " / ".join(f"{median(setup, page, 'hold_ms'):.2f}" for page in PAGES)
            checkouts = " / ".join(f"{median(setup, page, 'checkouts'):.0f}" for page in PAGES)
        cells = " | ".join(f"{t:.2f}" for t in times)
        lines.append(
            f"| {SETUPS[setup].label} | {cells} | {ratio - 1:+.1%} | {checkouts} | {held} |"
        )
    ours = overheads["widgetworld"]
    verdict = "met" if ours <= TARGET else "**missed**"
    lines += [
        "",
        f"Target: WidgetWorld at most {TARGET:+.0%} against the persistent connection "
        f"(geometric mean of the three pages, one run): {verdict} ({ours:+.1%}).",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench.pool", description=__doc__)
    parser.add_argument("--widgets", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.child:
        sys.stdout.write(json.dumps(measure(json.loads(options.child), options.requests)))
        return 0

    seed = ("--widgets", str(options.widgets), "--seed", "1")
    with (
        scratch_workdir("widgetworld-bench-pool-") as root,
        scratch_database(
            root / "postgres", seed=seed, auth="scram-sha-256", password="bench"
        ) as database,
    ):
        # The data layer alone: with the page cache on, every timed request
        # would be a hit that checks no connection out. Every measuring child
        # inherits it (devtools.servers.app_environment).
        os.environ["CACHE_URL"] = "dummy://"
        with database.cluster.admin_connect("widgetworld") as conn:
            slug = conn.execute(
                "SELECT slug FROM catalog_widget WHERE is_active ORDER BY sku LIMIT 1 OFFSET %s",
                [options.widgets // 2],
            ).fetchone()[0]  # type: ignore[index]
            version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        paths = {name: path.format(slug=slug) for name, path in PAGES.items()}
        rounds: dict[str, list[dict[str, Any]]] = {setup: [] for setup in SETUP_ORDER}
        for number in range(options.rounds):
            for setup in SETUP_ORDER:
                console.say("pool", f"round {number + 1}/{options.rounds}: {setup}")
                rounds[setup].append(run_setup(setup, database.url, paths, options.requests))
    if not all(r[page]["checkouts"] for r in rounds["widgetworld"] for page in PAGES):
        # A page that took no connection measured something else (a cache, say).
        raise SystemExit("pool: a WidgetWorld page checked no connection out; nothing measured")

    rendered = table(rounds)
    sys.stdout.write(rendered + "\n")
    if not options.no_record:
        command = "python -m loadtests.bench.pool" + (
            f" --requests {options.requests} --rounds {options.rounds}"
        )
        record("pool", section(rendered, command, machine(str(version)), options))
    return 0


def section(rendered: str, command: str, measured_on: str, options: argparse.Namespace) -> str:
    return "\n".join(
        [
            "## Connection pool: overhead per request and connection hold time",
            "",
            f"Measured with `make bench` (`{command}`) on: {measured_on}.",
            "",
            f"{options.widgets:,} widgets; PostgreSQL with password authentication "
            "(scram-sha-256) over TCP. Pages served in process through Django's WSGI "
            "handler, one request at a time, so the figures are the server's own time and "
            "every request starts and finishes as under gunicorn. Each setup runs in its own "
            f"process; the setups take turns over {options.rounds} rounds of "
            f"{options.requests} requests per page ({WARMUP} warm-up requests first), and "
            "each cell is the median of the rounds' medians. *vs persistent* is the "
            "geometric mean of the three pages' ratios to a connection kept open forever. "
            "*Held per request* is how long a request kept a connection checked out, from "
            "the pool's own counters.",
            "",
            rendered,
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
