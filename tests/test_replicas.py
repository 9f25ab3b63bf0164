"""Read replicas end to end: gunicorn, a real primary and a real streaming replica.

Where a request's queries ran is read from the servers, never from the
router: `catalog_widget` is locked on the primary and the lock replayed on the
replica, so any query of it waits, and `pg_stat_activity` shows on which
server WidgetWorld's query is waiting.

The shop runs with the suite's page cache. Every read measured here is a
cache miss (`uncached`: the shared cache emptied first), so each one renders,
and the placement test shows that a miss renders from the replica.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
import requests
from django.conf import settings

from devtools.databases import ReplicatedDatabase
from devtools.localdb import PostgresCluster
from devtools.servers import Gunicorn
from loadtests.pages import form_fields
from tests.catalog.shopping import checkout_details
from tests.conftest import MakeReplicated
from tests.test_gunicorn_metrics import sample

pytestmark = pytest.mark.slow

# Each server its own budget: max_connections - 3 reserved - 4 headroom.
PRIMARY_MAX_CONNECTIONS = 18
REPLICA_MAX_CONNECTIONS = 24
RESERVED, HEADROOM = 3, 4

StartShop = Callable[..., Gunicorn]
T = TypeVar("T")


@pytest.fixture(scope="module")
def pair(make_replicated_postgres: MakeReplicated) -> ReplicatedDatabase:
    return make_replicated_postgres(
        {"max_connections": PRIMARY_MAX_CONNECTIONS},
        {"max_connections": REPLICA_MAX_CONNECTIONS},
    )


@pytest.fixture
def start_shop(pair: ReplicatedDatabase, tmp_path: Path) -> Iterator[StartShop]:
    """WidgetWorld reading from the pair's replica; the replica healthy again afterwards."""
    servers: list[Gunicorn] = []

    def start(**env: str) -> Gunicorn:
        server = Gunicorn(
            pair.url,
            tmp_path / f"gunicorn-{len(servers)}.log",
            DATABASE_REPLICA_URLS=pair.replica_url,
            # These tests poll and load the shop from one address as fast as the
            # machine allows: on a fast one, past the API's and the search's
            # per-address limits, and a 429 is answered without a query.
            **{"WEB_CONCURRENCY": "1", "WEB_THREADS": "4", "RATE_LIMITS_ENABLED": "false", **env},
        )
        servers.append(server)
        server.wait_until_serving()
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
        pair.replica.start()
        pair.replica.resume_replay()
        pair.replica.wait_caught_up()


def until(what: str, check: Callable[[], T], timeout: float = 30) -> T:
    """The first truthy value `check` returns."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return result


def first(cluster: PostgresCluster, sql: str, *params: object) -> Any:
    with cluster.admin_connect("widgetworld") as conn:
        row = conn.execute(sql, params or None).fetchone()
    assert row is not None
    return row[0]


def a_widget(pair: ReplicatedDatabase) -> str:
    """An active widget with a few in stock: its slug."""
    return str(
        first(
            pair.primary,
            "SELECT slug FROM catalog_widget WHERE is_active AND stock >= 3 ORDER BY id LIMIT 1",
        )
    )


# -- where a request's queries ran, from pg_stat_activity ---------------------------------


def waiting_for_a_lock(cluster: PostgresCluster) -> int:
    return int(
        first(
            cluster,
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name LIKE 'widgetworld/%' AND wait_event_type = 'Lock'",
        )
    )


@contextlib.contextmanager
def widgets_locked(pair: ReplicatedDatabase) -> Iterator[None]:
    """`catalog_widget` locked on the primary and, by replay, on the replica too."""
    with pair.primary.admin_connect("widgetworld") as locker:
        locker.execute("BEGIN")
        locker.execute("LOCK TABLE catalog_widget IN ACCESS EXCLUSIVE MODE")
        # A commit flushes the WAL, the lock's record included, to the replica.
        first(pair.primary, "SELECT pg_current_xact_id()")
        locked_at = first(pair.primary, "SELECT pg_current_wal_lsn()")
        # Replayed up to this lock, not merely holding the last one, whose
        # release may not be replayed yet.
        until(
            "the lock to be replayed on the replica",
            lambda: first(
                pair.replica,
                "SELECT pg_last_wal_replay_lsn() >= %s AND EXISTS (SELECT FROM pg_locks"
                " WHERE relation = 'catalog_widget'::regclass AND mode = 'AccessExclusiveLock')",
                locked_at,
            ),
        )
        try:
            yield
        finally:
            locker.execute("ROLLBACK")


def uncached(read: Callable[[], T]) -> T:
    """`read()` with the page copies deleted first: the shop renders, as on a miss.

    Only the copies: the catalog version and the WAL position it records stay,
    as they do when a page's copy is simply missing. (Emptying the whole cache
    would leave the shop's version, which it trusts for CATALOG_VERSION_TTL,
    with no recorded position: a miss then renders from the primary.)
    """
    server = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    copies = list(server.scan_iter(match="*:page:*"))
    if copies:
        server.delete(*copies)
    return read()


def where_it_runs(pair: ReplicatedDatabase, request: Callable[[], object]) -> str:
    """'primary' or 'replica': the server on which the request's query waits for the lock."""
    servers = {"primary": pair.primary, "replica": pair.replica}

    def waiting() -> str:
        return "+".join(name for name, cluster in servers.items() if waiting_for_a_lock(cluster))

    with ThreadPoolExecutor(max_workers=1) as pool:
        with widgets_locked(pair):
            answer = pool.submit(uncached, request)
            try:
                where = until("a query waiting for the lock", waiting)
            except AssertionError as error:
                # Answered without a query (a cache hit, a 429, a 503...): say what came back.
                raise AssertionError(f"{error}; the request got {got(answer)}") from None
        answer.result(timeout=30)
    return where


def got(answer: Future[object]) -> str:
    if not answer.done():
        return "no answer yet"
    response = answer.result()
    if isinstance(response, requests.Response):
        return f"{response.status_code}, Cache-Status {response.headers.get('Cache-Status')!r}"
    return repr(response)


# -- a shopper, over HTTP ------------------------------------------------------------------


class Shopper:
    """A browser: cookies kept, forms filled in from the page."""

    def __init__(self, server: Gunicorn) -> None:
        self.url = server.url
        self.session = requests.Session()

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.url + path, timeout=30)

    def add_to_cart(self, slug: str) -> None:
        page = self.get(f"/widgets/{slug}/")
        fields = form_fields(page.text, "/cart/add/")
        assert fields is not None, page.text
        answer = self.session.post(
            self.url + "/cart/add/", {**fields, "quantity": "1"}, allow_redirects=False
        )
        assert answer.status_code == 302, answer.text

    def checkout(self) -> requests.Response:
        page = self.get("/checkout/")
        fields = form_fields(page.text, "/checkout/")
        assert fields is not None, page.text
        return self.session.post(
            self.url + "/checkout/", {**fields, **checkout_details()}, allow_redirects=False
        )

    def stock(self, slug: str) -> int:
        """As rendered now (a cache miss), not a copy another request made."""
        return int(uncached(lambda: self.get(f"/api/widgets/{slug}/")).json()["stock"])

    def name(self, slug: str) -> str:
        """As rendered now: a raw UPDATE does not move the catalog version the cache keys on."""
        return str(uncached(lambda: self.get(f"/api/widgets/{slug}/")).json()["name"])


# -- the tests -----------------------------------------------------------------------------


def test_catalog_reads_land_on_the_replica_and_checkout_on_the_primary(
    start_shop: StartShop, pair: ReplicatedDatabase
) -> None:
    server = start_shop()
    slug = a_widget(pair)
    pages = ["/", "/widgets/", f"/widgets/{slug}/", "/search/?q=widget", "/api/widgets/"]
    shopper = Shopper(server)
    shopper.add_to_cart(slug)

    placed = {path: where_it_runs(pair, functools.partial(server.get, path)) for path in pages}
    placed["checkout"] = where_it_runs(pair, shopper.checkout)

    assert placed == {**dict.fromkeys(pages, "replica"), "checkout": "primary"}


def test_a_shopper_who_just_ordered_never_sees_the_stock_from_before(
    start_shop: StartShop, pair: ReplicatedDatabase
) -> None:
    # The replica stays in rotation while paused: only the order's WAL position keeps reads off it.
    server = start_shop(DATABASE_REPLICA_MAX_LAG="300", DATABASE_REPLICA_READ_YOUR_WRITES="600")
    slug = a_widget(pair)
    shopper, someone_else = Shopper(server), Shopper(server)
    before = shopper.stock(slug)
    shopper.add_to_cart(slug)
    pair.replica.pause_replay()

    assert shopper.checkout().status_code == 303
    # The order moved the catalog version on. Someone else, with no token of
    # theirs, asks first: a miss, rendered and stored for everyone; the
    # shopper who ordered is then served that copy.
    answers = [someone_else.get(f"/api/widgets/{slug}/"), shopper.get(f"/api/widgets/{slug}/")]

    assert [(a.json()["stock"], a.headers["Cache-Status"]) for a in answers] == [
        (before - 1, "widgetworld; fwd=miss; stored"),
        (before - 1, "widgetworld; hit"),
    ]


def test_a_lagging_replica_loses_its_reads_and_gets_them_back(
    start_shop: StartShop, pair: ReplicatedDatabase
) -> None:
    server = start_shop(DATABASE_REPLICA_MAX_LAG="1")
    slug = a_widget(pair)
    browser = Shopper(server)
    pair.replica.pause_replay()
    with pair.primary.admin_connect("widgetworld") as conn:
        conn.execute(
            "UPDATE catalog_widget SET name = 'Renamed while lagging' WHERE slug = %s", [slug]
        )

    # Only the primary has the new name: reading it means reading the primary.
    until("reads to move to the primary", lambda: browser.name(slug) == "Renamed while lagging")
    pair.replica.resume_replay()
    back = until(
        "reads to come back to the replica",
        lambda: where_it_runs(pair, lambda: browser.get(f"/api/widgets/{slug}/")) == "replica",
    )

    assert back


@dataclass(frozen=True)
class Answer:
    at: float
    status: int | None
    retry_after: bool


def test_each_server_keeps_to_its_own_budget_under_load_from_two_hosts(
    start_shop: StartShop, pair: ReplicatedDatabase
) -> None:
    hosts = [
        start_shop(WIDGETWORLD_HOST_NAME=f"host-{n}", WEB_CONCURRENCY="2", WEB_THREADS="8")
        for n in (1, 2)
    ]
    slug = a_widget(pair)
    # Catalog pages read from the replica, the cart page from the primary.
    paths = ["/widgets/", f"/widgets/{slug}/", "/api/widgets/", "/cart/", "/cart/"]
    peaks = {"primary": 0, "replica": 0}
    stop = threading.Event()

    def sample() -> None:
        servers = {"primary": pair.primary, "replica": pair.replica}
        while not stop.is_set():
            for name, cluster in servers.items():
                ours = first(
                    cluster,
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name LIKE 'widgetworld/%'",
                )
                peaks[name] = max(peaks[name], int(ours))
            time.sleep(0.05)

    def shop(seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        for _ in range(60):
            if stop.is_set():
                return
            session.get(rng.choice(hosts).url + rng.choice(paths), timeout=30)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(max_workers=24) as pool:
            list(pool.map(shop, range(24)))
    finally:
        stop.set()
        sampler.join()

    budgets = {
        "primary": PRIMARY_MAX_CONNECTIONS - RESERVED - HEADROOM,
        "replica": REPLICA_MAX_CONNECTIONS - RESERVED - HEADROOM,
    }
    # Both servers carried load, neither beyond its own budget.
    assert all(0 < peaks[name] <= budgets[name] for name in peaks), (peaks, budgets)


def test_a_replica_stopped_under_load_costs_no_error_and_reads_move(
    start_shop: StartShop, pair: ReplicatedDatabase
) -> None:
    workers = 2
    server = start_shop(WEB_CONCURRENCY=str(workers), WEB_THREADS="4")
    slug = a_widget(pair)
    paths = ["/widgets/", f"/widgets/{slug}/", "/search/?q=cog", "/api/widgets/"]
    # Half the load searches for what nobody searched before: cache misses that
    # read, whatever the page cache holds, so reads are there to move.
    misses = ["/search/?q=cog+{}", "/search/?q=brass+{}"]
    clients = 6
    answers: list[Answer] = []
    stop = threading.Event()
    started = time.monotonic()

    def shop(seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        while not stop.is_set():
            try:
                path = rng.choice(paths + misses).format(rng.randrange(10**9))
                got = session.get(server.url + path, timeout=30)
                answer = Answer(
                    time.monotonic() - started, got.status_code, "Retry-After" in got.headers
                )
            except requests.RequestException:
                answer = Answer(time.monotonic() - started, None, False)
            answers.append(answer)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        running = [pool.submit(shop, n) for n in range(clients)]
        until("the replica to serve under load", lambda: len(answers) >= 30)
        stopped_at = time.monotonic() - started
        pair.replica.stop()
        count = len(answers)
        until("the load to go on without it", lambda: len(answers) >= count + 60)
        stop.set()
        for client in running:
            client.result()

    after = [a for a in answers if a.at > stopped_at]
    kinds = collections.Counter(
        "ok"
        if a.status == 200
        else "503+Retry-After"
        if a.status == 503 and a.retry_after
        else f"other: {a.status}"
        for a in after
    )
    polite = set(kinds) <= {"ok", "503+Retry-After"}
    metrics = server.metrics()
    # Requests the dead replica failed under, each run again on the primary...
    rerun = sample(metrics, "widgetworld_db_read_routes_total", reason="replica_failed")
    # ...and those sent straight to the primary once the breaker had opened.
    straight = sample(metrics, "widgetworld_db_read_routes_total", reason="fallback")

    # No error a shopper would see, and only the requests in flight when the
    # replica went touched it: a worker's breaker is open by the time any of
    # its requests fails, so each shopper meets the dead replica at most once
    # per worker. Every later read went straight to the primary.
    assert (polite, rerun <= clients * workers, straight > 0) == (True, True, True), (
        kinds,
        rerun,
        straight,
    )
