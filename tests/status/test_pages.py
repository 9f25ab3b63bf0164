"""/status/, summary.json, the Atom feed and the site banner, read from the shared state."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django import DjangoAssertNumQueries

from catalog.factories import CategoryFactory
from tests.status.conftest import PostAlerts, alert, payload

pytestmark = pytest.mark.django_db

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
STATUSES = {
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
}


def check_shape(value: Any, shape: Any, where: str = "$") -> list[str]:
    """Every field of `shape` present with the right kind; the problems, one per line."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        problems = []
        for key, inner in shape.items():
            if key not in value:
                problems.append(f"{where}.{key}: missing")
            else:
                problems += check_shape(value[key], inner, f"{where}.{key}")
        return problems
    if isinstance(shape, list):
        if not isinstance(value, list) or not value:
            return [f"{where}: not a non-empty list"]
        return [
            p for n, item in enumerate(value) for p in check_shape(item, shape[0], f"{where}[{n}]")
        ]
    if shape == "time":
        return [] if isinstance(value, str) and ISO.match(value) else [f"{where}: not a time"]
    if shape == "time?":
        return [] if value is None or ISO.match(str(value)) else [f"{where}: not a time or null"]
    if isinstance(shape, set):
        return [] if value in shape else [f"{where}: {value!r} not in {sorted(shape)}"]
    return [] if isinstance(value, shape) else [f"{where}: not {shape.__name__}"]


SUMMARY = {
    "page": {"id": str, "name": str, "url": str, "updated_at": "time"},
    "status": {
        "indicator": {"none", "minor", "major", "critical", "maintenance"},
        "description": str,
    },
    "components": [
        {"id": str, "name": str, "status": STATUSES, "position": int, "updated_at": "time"}
    ],
    "incidents": [
        {
            "id": str,
            "name": str,
            "status": {"investigating", "identified", "monitoring", "resolved"},
            "impact": {"none", "minor", "major", "critical"},
            "shortlink": str,
            "created_at": "time",
            "resolved_at": "time?",
            "incident_updates": [
                {"body": str, "status": str, "created_at": "time", "display_at": "time"}
            ],
        }
    ],
    "scheduled_maintenances": list,
}


def test_summary_json_has_statuspage_v2_shape(client: Client, post_alerts: PostAlerts) -> None:
    post_alerts(payload(alert()))
    body = json.loads(client.get("/status/summary.json").content)
    assert check_shape(body, SUMMARY) == []


def test_summary_json_is_briefly_cacheable_and_open_to_other_sites(client: Client) -> None:
    response = client.get("/status/summary.json", headers={"Origin": "https://elsewhere.example"})
    assert (response["Access-Control-Allow-Origin"], response["Cache-Control"]) == (
        "*",
        "public, max-age=5",
    )


def test_summary_says_all_is_well_when_it_is(client: Client) -> None:
    body = json.loads(client.get("/status/summary.json").content)
    assert (body["status"], {c["status"] for c in body["components"]}, body["incidents"]) == (
        {"indicator": "none", "description": "All Systems Operational"},
        {"operational"},
        [],
    )


def test_the_status_page_lists_components_and_says_as_of(client: Client) -> None:
    page = client.get("/status/").content.decode()
    assert all(
        word in page
        for word in (
            "Storefront",
            "Search",
            "Cart &amp; checkout",
            "API",
            "As of",
            "All Systems Operational",
        )
    )


def test_the_feed_is_atom_with_each_incident(client: Client, post_alerts: PostAlerts) -> None:
    post_alerts(payload(alert()))
    response = client.get("/status/incidents.atom")
    body = response.content.decode()
    assert (
        response["Content-Type"].split(";")[0],
        body.count("<entry>"),
        "Investigating" in body,
    ) == (
        "application/atom+xml",
        1,
        True,
    )


def test_every_storefront_page_shows_the_banner_during_an_incident(
    client: Client, post_alerts: PostAlerts
) -> None:
    CategoryFactory(name="Sprockets", slug="sprockets")
    post_alerts(payload(alert()))
    pages = [client.get(path).content.decode() for path in ("/", "/widgets/", "/cart/")]
    assert all('class="status-banner' in page and 'href="/status/"' in page for page in pages)


def test_the_banner_is_a_polite_status_unless_it_is_a_major_outage(
    client: Client, post_alerts: PostAlerts
) -> None:
    post_alerts(payload(alert()))
    partial = client.get("/cart/").content.decode()
    post_alerts(payload(alert(name="Down", component_status="major_outage")))
    major = client.get("/cart/").content.decode()
    assert ('role="status"' in partial, 'role="alert"' in major) == (True, True)


def test_the_banner_carries_the_latest_update(client: Client, post_alerts: PostAlerts) -> None:
    post_alerts(payload(alert()))
    assert (
        "We are seeing some requests failing on Storefront" in client.get("/cart/").content.decode()
    )


def test_no_banner_when_all_is_well(client: Client) -> None:
    assert "status-banner" not in client.get("/cart/").content.decode()


def test_the_status_page_costs_no_query(
    client: Client, post_alerts: PostAlerts, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    post_alerts(payload(alert()))
    with django_assert_num_queries(0):
        page = client.get("/status/").content.decode()
    assert 'class="status-banner' in page


def test_the_banner_adds_no_query_to_a_storefront_page(
    client: Client, post_alerts: PostAlerts
) -> None:
    """A page cached before the incident shows its banner: filled in per request, no query."""
    CategoryFactory(name="Sprockets", slug="sprockets")
    client.get("/widgets/")
    post_alerts(payload(alert()))
    client.get("/status/")  # this process's copy is refreshed from the cache first
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/widgets/").content.decode()
    assert (len(queries), 'class="status-banner' in page) == (0, True)


def test_an_unknown_incident_is_a_404(client: Client) -> None:
    assert client.get("/status/incidents/nope/").status_code == 404


def test_an_incident_has_its_own_page(client: Client, post_alerts: PostAlerts) -> None:
    post_alerts(payload(alert()))
    summary = json.loads(client.get("/status/summary.json").content)
    link = summary["incidents"][0]["shortlink"].removeprefix("http://testserver")
    assert "Some requests failing: Storefront" in client.get(link).content.decode()


def test_a_page_seen_during_an_incident_is_not_revalidated_once_it_is_over(
    client: Client, post_alerts: PostAlerts
) -> None:
    CategoryFactory(name="Sprockets", slug="sprockets")
    post_alerts(payload(alert()))
    during = client.get("/widgets/")
    post_alerts(payload(alert(status="resolved")))
    after = client.get("/widgets/", headers={"If-None-Match": during["ETag"]})
    assert (after.status_code, "status-banner" in after.content.decode()) == (200, False)
