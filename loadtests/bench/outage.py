"""The database stops for a minute under browsing load: `python -m loadtests.bench.outage`.

Part of `make bench`. One PostgreSQL (scram-sha-256 over TCP, 10,000 widgets),
one cache server, WidgetWorld under gunicorn (2 workers x 8 threads) with the
cache warmed as a deploy leaves it. Shoppers browse pages seen before (the
incident replay's mix of product, category and search pages, each requested
once first) with wrk, while a buyer places an order every second, so the
catalog version moves on and cached copies go stale as they do in a surge.
Then:

1. **before**: browsing for `--before` seconds;
2. **outage**: PostgreSQL is stopped (`pg_ctl stop -m fast`) and browsing
   goes on for `--outage` seconds (60), the buyer still trying;
3. **return**: PostgreSQL is started again; a probe asks for a listing every
   0.1 s until it is answered fresh (not the last good copy), and the buyer
   until an order is placed; browsing goes on for `--after` seconds.

Two rounds, the cache emptied and warmed again before each: with
production's cache timeouts (5 ms), on which the issue's targets are judged,
then with 50 ms. On this machine the cache server shares two saturated cores
with wrk, the app and PostgreSQL and can miss 5 ms, which a cache server on a
host of its own would not; the second round tells what the cache does from
what this machine costs.

Prints a table per phase and the issue's targets, and rewrites the `outage`
section of docs/benchmarks.md: during the outage at least 99% of browse
requests answered 200 and p99 under 100 ms; checkout answered 503 with
Retry-After; fresh pages within 10 s of the database's return.
"""

from __future__ import annotations

import argparse
import functools
import re
import shutil
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests

from devtools import console
from devtools.databases import scratch_database
from devtools.localcache import local_cache
from devtools.localdb import PostgresCluster, scratch_workdir
from devtools.servers import Gunicorn, ServerError, manage, serving
from loadtests.bench.incident import PASSWORD, Load, request_mix, wrk
from loadtests.bench.record import machine, record

say = functools.partial(console.say, "outage")

WORKERS, THREADS, CLIENTS = 2, 8, 32
PROBE = "/widgets/"
# (what the round is, what it sets in the app's environment)
ROUNDS = [
    ("production's cache timeouts (5 ms)", {}),
    ("50 ms cache timeouts", {"CACHE_CONNECT_TIMEOUT_MS": "50", "CACHE_TIMEOUT_MS": "50"}),
]
BUYER = {
    "full_name": "Ada Lovelace",
    "email": "ada@example.com",
    "address_line1": "12 Analytical Row",
    "city": "London",
    "postcode": "N1 9GU",
    "country": "GB",
}


STORED_ORDER = ("checkout", 303)


@dataclass
class Attempt:
    at: float  # seconds since the outage began (negative before)
    status: int  # 0: no answer
    retry_after: str | None
    # How far the buyer got: "checkout" (it sent the form), else the page that stopped it.
    step: str = "checkout"
    # When its first request went out, on the same clock; None: as `at`.
    started: float | None = None

    @property
    def within(self) -> tuple[float, float]:
        return (self.at if self.started is None else self.started, self.at)

    @property
    def label(self) -> str:
        answer = "no answer" if self.status == 0 else str(self.status)
        return f"{self.step} {answer}" + (" with Retry-After" if self.retry_after else "")


@dataclass
class Buyer:
    """Places one order a second (a new shopper each time), noting what checkout answered."""

    server: Gunicorn
    products: list[str]
    began: float = 0.0
    attempts: list[Attempt] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        turn = 0
        while not self._stop.wait(1.0):
            turn += 1
            self.attempts.append(self.buy(self.products[turn % len(self.products)]))

    def buy(self, product: str) -> Attempt:
        started = time.monotonic()
        session = requests.Session()
        url = self.server.url
        step = "product page"
        try:
            product_page = session.get(url + product, timeout=10)
            widget = re.search(r'name="widget" value="(\d+)"', product_page.text)
            token = session.cookies.get("csrftoken", "")
            if widget is None:
                # No form to add from (a 503 for a page with no copy): checkout never reached.
                return self.attempt(started, product_page.status_code, None, step)
            form = {"csrfmiddlewaretoken": token}
            session.post(url + "/cart/add/", {**form, "widget": widget.group(1), "quantity": "1"})
            step = "checkout"
            checkout = session.get(url + "/checkout/", timeout=10).text
            hidden = dict(
                re.findall(r'name="(idempotency_key|expected_total)"[^>]*value="([^"]*)"', checkout)
            )
            answer = session.post(
                url + "/checkout/", {**form, **BUYER, **hidden}, timeout=10, allow_redirects=False
            )
        except requests.RequestException:
            return self.attempt(started, 0, None, step)
        return self.attempt(started, answer.status_code, answer.headers.get("Retry-After"))

    def attempt(
        self, started: float, status: int, retry_after: str | None, step: str = "checkout"
    ) -> Attempt:
        now = time.monotonic()
        return Attempt(now - self.began, status, retry_after, step, started - self.began)

    def stop(self) -> None:
        self._stop.set()


@dataclass
class Result:
    round: str
    before: Load
    outage: Load
    after: Load
    outage_seconds: float
    fresh_after: float | None  # seconds from the database's return to a fresh listing
    ordered_after: float | None  # ... to the first order placed
    checkout_in_outage: dict[str, int]

    @property
    def share_200(self) -> float:
        return self.outage.count(status=200) / self.outage.requests if self.outage.requests else 0


def wait_fresh(server: Gunicorn, timeout: float) -> float | None:
    """Seconds until the probe listing is answered from the database again, not a stale copy."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            answer = requests.get(server.url + PROBE, timeout=5)
            status = answer.headers.get("Cache-Status", "")
            if answer.status_code == 200 and "stale" not in status:
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return None


def products_in_stock(cluster: PostgresCluster, count: int) -> list[str]:
    with cluster.admin_connect("widgetworld") as conn:
        rows = conn.execute(
            "SELECT slug FROM catalog_widget WHERE is_active AND stock >= 50 ORDER BY id LIMIT %s",
            [count],
        ).fetchall()
    return [f"/widgets/{slug}/" for (slug,) in rows]


def run(
    round_: tuple[str, dict[str, str]],
    cluster: PostgresCluster,
    cache_url: str,
    workdir: Path,
    options: argparse.Namespace,
) -> Result:
    name, environment = round_
    url = cluster.credentials("widgetworld").url
    paths = request_mix(cluster, workdir)
    bought = products_in_stock(cluster, 50)
    # As a deploy leaves it: an empty cache, then warm_cache.
    redis.Redis.from_url(cache_url).flushdb()
    manage(url, "warm_cache", CACHE_URL=cache_url)
    with serving(
        url,
        workdir / f"gunicorn-{ROUNDS.index(round_)}.log",
        # The benchmarks' settings: WidgetWorld's, with the rate limits off.
        DJANGO_SETTINGS_MODULE="loadtests.bench.settings",
        CACHE_URL=cache_url,
        WEB_CONCURRENCY=str(WORKERS),
        WEB_THREADS=str(THREADS),
        ACCESS_LOG="false",
        # Not quieter: the master says where /metrics listens at INFO, and
        # Gunicorn.wait_until_serving waits for that line.
        LOG_LEVEL="INFO",
        **environment,
    ) as server:
        say(f"{name}: requesting every page of the mix once: pages seen before")
        for path in sorted({*paths.read_text().split(), *bought}):
            requests.get(server.url + path, timeout=30)
        buyer = Buyer(server, bought)
        shopping = threading.Thread(target=buyer.run, daemon=True)
        buyer.began = time.monotonic() + options.before
        shopping.start()
        try:
            say(f"before: {CLIENTS} clients browsing for {options.before} s")
            before = wrk(server.url, paths, CLIENTS, options.before)
            say("stopping PostgreSQL")
            cluster.stop("fast")
            stopped = time.monotonic()
            buyer.began = stopped
            say(f"outage: browsing for {options.outage} s")
            outage = wrk(server.url, paths, CLIENTS, options.outage)
            say("starting PostgreSQL")
            cluster.start()
            back = time.monotonic()
            outage_seconds = back - stopped
            fresh_after = wait_fresh(server, 60)
            while buyer.attempts and buyer.attempts[-1].at < back - stopped:
                time.sleep(0.1)
            say(f"after: browsing for {options.after} s")
            after = wrk(server.url, paths, CLIENTS, options.after)
        finally:
            buyer.stop()
            shopping.join(timeout=30)
    placed = [
        a for a in buyer.attempts if a.at >= outage_seconds and (a.step, a.status) == STORED_ORDER
    ]
    counts = checkout_answers(buyer.attempts, outage_seconds)
    return Result(
        name,
        before,
        outage,
        after,
        outage_seconds,
        fresh_after,
        placed[0].at - outage_seconds if placed else None,
        counts,
    )


def checkout_answers(attempts: list[Attempt], outage_seconds: float) -> dict[str, int]:
    """How the buyer's attempts during the outage ended, by label ("checkout 503 with ...")."""
    counts: dict[str, int] = {}
    for attempt in attempts:
        # Only an attempt begun after the stop and answered before the start
        # met the database down from its first request to its last.
        began, answered = attempt.within
        if began >= 0 and answered < outage_seconds:
            counts[attempt.label] = counts.get(attempt.label, 0) + 1
    return counts


def table(result: Result) -> str:
    lines = [
        "| Phase | Seconds | req/s | 200 | stale answers | 503 | other "
        "| p50 ms | p95 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, load in (
        ("Before", result.before),
        ("Outage", result.outage),
        ("After", result.after),
    ):
        ok, busy = load.count(status=200), load.count(status=503)
        other = load.requests - ok - busy
        lines.append(
            f"| {name} | {load.seconds:.0f} | {load.rps:.0f} | {ok} | {load.stale} | {busy} "
            f"| {other} | {load.p50_ms:.1f} | {load.p95_ms:.1f} | {load.p99_ms:.1f} |"
        )
    return "\n".join(lines)


def targets(result: Result) -> list[tuple[str, bool, str]]:
    checkout = result.checkout_in_outage
    # Judged on the attempts that sent the checkout form; the others are listed.
    attempts = sum(n for label, n in checkout.items() if label.startswith("checkout "))
    with_retry = checkout.get("checkout 503 with Retry-After", 0)
    return [
        (
            "Outage: at least 99% of browse requests answered 200",
            result.share_200 >= 0.99,
            f"{result.share_200:.2%} of {result.outage.requests}",
        ),
        ("Outage: p99 under 100 ms", result.outage.p99_ms < 100, f"{result.outage.p99_ms:.1f} ms"),
        (
            "Outage: checkout answered 503 with Retry-After",
            attempts > 0 and with_retry == attempts,
            ", ".join(f"{n} x {k}" for k, n in sorted(checkout.items())) or "no attempt",
        ),
        (
            "Fresh pages within 10 s of the database's return",
            result.fresh_after is not None and result.fresh_after <= 10,
            f"{result.fresh_after:.1f} s" if result.fresh_after is not None else "not in 60 s",
        ),
    ]


def render(results: list[Result], command: str, measured_on: str) -> str:
    first = results[0]
    parts = [
        "## The database stopped under browsing load",
        "",
        f"Measured with `make bench` (`{command}`) on: {measured_on}.",
        "",
        f"WidgetWorld under gunicorn ({WORKERS} workers x {THREADS} threads) with its cache "
        "server, warmed by `manage.py warm_cache`; PostgreSQL with scram-sha-256 over TCP, "
        f"10,000 widgets. wrk ({CLIENTS} clients, a fresh connection per request) browses "
        "the incident replay's mix of product, category and search pages, each requested "
        "once before (pages seen before), while a buyer places an order every second (so "
        "the catalog version moves on and copies go stale, as in a surge). PostgreSQL is "
        f"then stopped for {first.outage_seconds:.0f} s (`pg_ctl stop -m fast`) and "
        "started again. *stale answers* counts responses whose `Cache-Status` says they "
        "are the last good copy. Two rounds, the cache emptied and warmed before each: "
        "production's cache timeouts, on which the targets are judged, then 50 ms (the "
        "cache server shares these two saturated cores with everything else).",
    ]
    for result in results:
        parts += ["", f"### With {result.round}", "", *round_section(result)]
    return "\n".join(parts)


def round_section(result: Result) -> list[str]:
    ordered = (
        f"{result.ordered_after:.1f} s" if result.ordered_after is not None else "none in the run"
    )
    return [
        table(result),
        "",
        f"Fresh pages again {result.fresh_after:.1f} s after PostgreSQL accepted connections; "
        f"the first order placed {ordered} after."
        if result.fresh_after is not None
        else "No fresh page within 60 s of PostgreSQL's return.",
        "",
        "| Target | Met | Measured |",
        "| --- | --- | --- |",
        *[f"| {t} | {'yes' if ok else '**no**'} | {m} |" for t, ok, m in targets(result)],
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench.outage", description=__doc__)
    parser.add_argument("--widgets", type=int, default=10_000)
    parser.add_argument("--before", type=int, default=10, help="seconds of browsing first")
    parser.add_argument("--outage", type=int, default=60, help="seconds PostgreSQL is down")
    parser.add_argument("--after", type=int, default=15, help="seconds of browsing after")
    parser.add_argument("--no-record", action="store_true")
    options = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        say("wrk is not installed (Debian package: wrk)")
        return 2
    seed = ("--widgets", str(options.widgets), "--seed", "1")
    try:
        with (
            scratch_workdir("widgetworld-outage-") as workdir,
            scratch_database(
                workdir / "postgres", seed=seed, auth="scram-sha-256", password=PASSWORD
            ) as database,
            local_cache(workdir / "cache") as cache,
        ):
            cluster = database.cluster
            with cluster.admin_connect() as conn:
                row = conn.execute("SHOW server_version").fetchone()
            version = str(row[0]) if row else "?"
            results = [run(r, cluster, cache.url, workdir, options) for r in ROUNDS]
    except ServerError as error:
        say(str(error))
        return 1
    for result in results:
        sys.stdout.write(f"\nWith {result.round}\n" + table(result) + "\n")
        for target, ok, measured in targets(result):
            sys.stdout.write(f"{'MET   ' if ok else 'MISSED'} {target}: {measured}\n")
    if not options.no_record:
        command = "python -m loadtests.bench.outage" + (
            f" --outage {options.outage}" if options.outage != 60 else ""
        )
        record("outage", render(results, command, machine(version)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
