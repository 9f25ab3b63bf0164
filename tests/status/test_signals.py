"""Signals from every worker add up in the shared cache; the monitor turns them into status."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from prometheus_client import REGISTRY

from core.db.backends.postgresql.errors import DatabaseUnavailable, PoolTimeout
from core.status import monitor, signals
from core.status.middleware import StatusSignalsMiddleware
from core.status.state import store

pytestmark = pytest.mark.django_db

T0 = 1_900_000_000.0  # a bucket boundary: 1_900_000_000 / 5 is whole


def flush(worker: str, now: float, **counts: int) -> None:
    assert signals.flush(
        {("storefront", name): n for name, n in counts.items()},
        now,
        worker=worker,
        ready=True,
        database_ok=True,
    )


def test_counts_from_several_workers_add_up() -> None:
    flush("host-a/1", T0, requests=30, busy=3)
    flush("host-b/7", T0 + 1, requests=20, busy=2)
    flush("host-a/1", T0 + 6, requests=10)
    seen = signals.window(T0 + 10, ["storefront"])
    assert seen is not None
    assert (seen.count("storefront", "requests"), seen.count("storefront", "busy")) == (60, 5)


def test_each_worker_counts_once_per_bucket_in_the_fleet() -> None:
    for second in range(3):
        flush("host-a/1", T0 + second)
        flush("host-b/7", T0 + second)
    seen = signals.window(T0 + 5, ["storefront"])
    assert seen is not None
    assert seen.workers == 2


def test_counts_older_than_the_window_are_not_counted(settings: object) -> None:
    flush("host-a/1", T0, requests=50, busy=50)
    later = T0 + settings.STATUS_SIGNAL_WINDOW + 5  # type: ignore[attr-defined]
    seen = signals.window(later, ["storefront"])
    assert seen is not None
    assert seen.count("storefront", "requests") == 0


def test_the_middleware_counts_requests_by_component(client: Client) -> None:
    client.get("/cart/")
    client.get("/status/")
    client.get("/livez")
    assert signals.take() == {("cart-checkout", "requests"): 1}


@pytest.mark.parametrize(
    ("error", "outcome"),
    [(DatabaseUnavailable("down"), "unavailable"), (PoolTimeout("busy"), "busy")],
)
def test_the_middleware_tells_a_database_outage_from_a_busy_pool(
    error: Exception, outcome: str
) -> None:
    request = RequestFactory().get("/widgets/")
    middleware = StatusSignalsMiddleware(
        lambda r: __import__("django.http").http.HttpResponse(status=503)
    )
    middleware.process_exception(request, error)
    middleware(request)
    assert signals.take() == {("storefront", "requests"): 1, ("storefront", outcome): 1}


def test_sustained_failures_open_an_incident_after_degrade_after(settings: object) -> None:
    settings.STATUS_DEGRADE_AFTER = 30  # type: ignore[attr-defined]
    names = []
    for second in range(0, 45, 5):
        signals.record("storefront", "requests", 20)
        signals.record("storefront", "busy", 20)
        monitor.tick(T0 + second)
        incidents = store.read(max_age=0)["incidents"]
        names.append(incidents[0]["name"] if incidents else None)
    assert names[:6] + names[-1:] == [None] * 6 + ["Outage: Storefront"]


def test_a_database_every_worker_cannot_reach_takes_every_component_down(
    settings: object,
) -> None:
    settings.STATUS_DEGRADE_AFTER = 0  # type: ignore[attr-defined]
    signals.record("storefront", "requests", 1)
    signals.record("storefront", "unavailable", 1)
    monitor.tick(T0)
    monitor.tick(T0 + 5)  # the fleet's heartbeats are read from the last complete bucket
    incident = store.read(max_age=0)["incidents"][0]
    assert incident["name"] == "Outage: Storefront, Search, Cart & checkout and API"


def test_the_incident_resolves_after_recover_after(settings: object) -> None:
    settings.STATUS_DEGRADE_AFTER = 0  # type: ignore[attr-defined]
    settings.STATUS_RECOVER_AFTER = 60  # type: ignore[attr-defined]
    settings.STATUS_SIGNAL_WINDOW = 10  # type: ignore[attr-defined]
    signals.record("storefront", "requests", 20)
    signals.record("storefront", "busy", 20)
    monitor.tick(T0)
    statuses = []
    for second in range(15, 100, 5):
        signals.record("storefront", "requests", 20)
        monitor.tick(T0 + second)
        statuses.append(store.read(max_age=0)["incidents"][0]["status"])
    # The window clears at +15; resolved 60 s of clear signals later, not before.
    assert (statuses.index("resolved"), statuses[-1]) == ((75 - 15) // 5, "resolved")


def test_the_evaluation_publishes_what_shoppers_see_as_a_gauge(settings: object) -> None:
    settings.STATUS_DEGRADE_AFTER = 0  # type: ignore[attr-defined]
    signals.record("search", "requests", 20)
    signals.record("search", "busy", 20)
    monitor.tick(T0)
    gauge = {
        component: REGISTRY.get_sample_value(
            "widgetworld_status_component", {"component": component}
        )
        for component in ("search", "storefront")
    }
    assert gauge == {"search": 4.0, "storefront": 0.0}
