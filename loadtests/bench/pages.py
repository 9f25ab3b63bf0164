"""Server time per storefront page, rendered and cached: `python -m loadtests.bench.pages`.

Starts a private PostgreSQL and cache server in a temporary folder, migrates,
times `seed_catalog --widgets 10000`, then requests each page through
Django's test client, in process: the time measured is the server's
(middleware, cache, queries, template rendering), without a network or a
WSGI server around it, so that it moves only when our code or our queries
do. Each page is measured two ways, taking turns: a **miss** (its cached copy
deleted just before, untimed: the request renders it, keeps it and fills in
the shopper's parts) and a **hit** (its copy current: no query). A few
warm-up requests, then --repeat of each; the table gives medians, the hit's
90th percentile, the queries of a miss, and the issue's targets per page
(a hit at most 1.5 ms and at least 10x faster than a miss).

Prints the table and rewrites its own section of docs/benchmarks.md (between
the `bench:pages` markers) with the command, the machine and the date.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from devtools.databases import scratch_database
from devtools.localcache import local_cache
from devtools.localdb import scratch_workdir
from loadtests.bench.record import DOC, machine, record

BASE_DIR = Path(__file__).resolve().parents[2]
WARMUP = 3


@dataclass(frozen=True)
class Scenario:
    name: str
    url: str
    if_none_match: bool = False


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    status: int
    queries: int  # of a miss
    miss_ms: float
    hit_ms: float
    hit_p90_ms: float

    @property
    def speedup(self) -> float:
        return self.miss_ms / self.hit_ms if self.hit_ms else 0.0

    @property
    def met(self) -> bool:
        return self.hit_ms <= HIT_TARGET_MS and self.speedup >= SPEEDUP_TARGET


HIT_TARGET_MS = 1.5
SPEEDUP_TARGET = 10


def scenarios(widget_slug: str, category_path: str) -> list[Scenario]:
    return [
        Scenario("Home", "/"),
        Scenario("Listing: all widgets, page 1", "/widgets/"),
        Scenario("Listing: all widgets, page 200", "/widgets/?page=200"),
        Scenario("Listing: price low to high, page 10", "/widgets/?sort=price&page=10"),
        Scenario(
            "Listing: category, 5 filters",
            f"/c/{category_path}/?colour=red&colour=blue&min_price=20&max_price=150&in_stock=on",
        ),
        Scenario("Search: two words, ranked", "/search/?q=brass+sprocket"),
        Scenario("Search: websearch syntax", "/search/?q=%22steel+gear%22+-mini"),
        Scenario("Search: typo, trigram fallback", "/search/?q=sprokcet"),
        Scenario("Product page", f"/widgets/{widget_slug}/"),
        Scenario("API: 100 widgets", "/api/widgets/?page_size=100"),
        Scenario("Listing revalidated (304)", "/widgets/", if_none_match=True),
    ]


def forget_pages(server: redis.Redis) -> None:
    """Delete every cached page (not the category tree nor the version): the next is a miss."""
    keys = list(server.scan_iter(match="*:page:*"))
    if keys:
        server.delete(*keys)


def measure(scenario: Scenario, repeat: int, server: redis.Redis) -> Result:
    from django.db import connection
    from django.test import Client

    client = Client(HTTP_HOST="localhost")
    headers: dict[str, str] = {}
    if scenario.if_none_match:
        headers["if-none-match"] = client.get(scenario.url)["ETag"]
    queries: list[str] = []

    def count(execute: Any, sql: str, *args: Any) -> Any:
        queries.append(sql)
        return execute(sql, *args)

    def timed() -> float:
        started = time.perf_counter()
        client.get(scenario.url, headers=headers)
        return (time.perf_counter() - started) * 1000

    forget_pages(server)
    with connection.execute_wrapper(count):
        status = client.get(scenario.url, headers=headers).status_code
    for _ in range(WARMUP):
        forget_pages(server)
        client.get(scenario.url, headers=headers)
        client.get(scenario.url, headers=headers)
    misses, hits = [], []
    for _ in range(repeat):
        # Turn about, so that a busy moment on a shared machine costs both alike.
        forget_pages(server)
        misses.append(timed())
        hits.append(timed())
    p90 = statistics.quantiles(hits, n=10)[-1] if len(hits) > 1 else hits[0]
    return Result(
        scenario,
        status,
        len(queries),
        statistics.median(misses),
        statistics.median(hits),
        p90,
    )


def table(results: Sequence[Result]) -> str:
    lines = [
        "| Page | Status | Queries (miss) | Miss median (ms) | Hit median (ms) | Hit p90 (ms) "
        f"| Miss / hit | Hit <= {HIT_TARGET_MS:g} ms and >= {SPEEDUP_TARGET}x |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario.name} (`{r.scenario.url}`) | {r.status} | {r.queries} "
            f"| {r.miss_ms:.1f} | {r.hit_ms:.2f} | {r.hit_p90_ms:.2f} | {r.speedup:.1f}x "
            f"| {'yes' if r.met else '**no**'} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench.pages", description=__doc__)
    parser.add_argument("--widgets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per page")
    parser.add_argument(
        "--no-record", action="store_true", help="print only; leave docs/benchmarks.md alone"
    )
    options = parser.parse_args(argv)

    with (
        scratch_workdir("widgetworld-bench-") as root,
        scratch_database(root / "postgres") as database,
        local_cache(root / "cache") as cache,
    ):
        os.environ.update(
            DATABASE_URL=database.url,
            CACHE_URL=cache.url,
            WIDGETWORLD_ENV="test",
            DJANGO_SETTINGS_MODULE="widgetworld.settings",
            # Thousands of requests a minute from one address: the limits are not measured here.
            RATE_LIMITS_ENABLED="false",
        )
        try:
            server = redis.Redis.from_url(cache.url)
            return run(
                options.widgets, options.repeat, server, record_results=not options.no_record
            )
        finally:
            from django.db import connections

            connections.close_all()


def run(widgets: int, repeat: int, server: redis.Redis, *, record_results: bool) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from catalog.models import Category, Widget

    seed_args = ["--widgets", str(widgets), "--categories", "24", "--seed", "1"]
    started = time.perf_counter()
    call_command("seed_catalog", *seed_args, stdout=io.StringIO())
    seed_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        # What autovacuum does soon after a bulk load: statistics for the
        # planner, and the GIN indexes' pending lists merged.
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("SHOW server_version")
        server_version = cursor.fetchone()[0]

    widget = Widget.objects.filter(is_active=True).order_by("sku")[widgets // 2]
    category = Category.objects.filter(parent__isnull=True).order_by("position").first()
    assert category is not None
    results = [measure(s, repeat, server) for s in scenarios(widget.slug, category.path)]
    rendered = table(results)
    met = sum(r.met for r in results)

    section = "\n".join(
        [
            "## Storefront pages",
            "",
            "Measured with `make bench` "
            f"(`python -m loadtests.bench.pages --widgets {widgets} --repeat {repeat}`) on: "
            f"{machine(server_version)}.",
            "",
            f"`manage.py seed_catalog {' '.join(seed_args)}` took **{seed_seconds:.1f} s** "
            "(bulk inserts of 1,000 rows; the search vector is a generated column).",
            "",
            "Server time per request through Django's test client, in process (middleware, "
            "cache, queries, templates; no network, no WSGI server) through the project's "
            "connection pool, against a private PostgreSQL with default settings and a private "
            f"Valkey/Redis on loopback. A **miss** has its cached copy deleted just before "
            "(untimed): it renders the page, keeps it and fills in the shopper's parts. A **hit** "
            "finds its copy current: no query, one cache read, the shopper's parts filled in. "
            f"{WARMUP} warm-up rounds, then {repeat} of each, taking turns; medians and ratios "
            "come from one run.",
            "",
            rendered,
            "",
            f"Target met on {met} of {len(results)} pages.",
        ]
    )
    sys.stdout.write(f"seed_catalog {' '.join(seed_args)}: {seed_seconds:.1f} s\n\n")
    sys.stdout.write(rendered + "\n")
    if record_results:
        record("pages", section)
        sys.stdout.write(f"\nrecorded in {DOC.relative_to(BASE_DIR)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
