"""Staff post an incident in the admin, update it, resolve it; and take over an automatic one."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.test import Client

from core.status.models import Incident
from tests.status.conftest import PostAlerts, alert, payload

pytestmark = pytest.mark.django_db

Capture = Callable[..., AbstractContextManager[Any]]


def update_form(n: int, status: str, body: str, initial: int = 0, total: int = 1) -> dict[str, Any]:
    return {
        "updates-TOTAL_FORMS": str(total),
        "updates-INITIAL_FORMS": str(initial),
        "updates-MIN_NUM_FORMS": "0",
        "updates-MAX_NUM_FORMS": "1000",
        f"updates-{n}-status": status,
        f"updates-{n}-body": body,
        f"updates-{n}-display_at_0": "2030-01-01",
        f"updates-{n}-display_at_1": f"12:0{n}:00",
    }


def existing_updates(incident: Incident) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for n, update in enumerate(incident.updates.order_by("id")):
        fields |= {
            f"updates-{n}-id": str(update.pk),
            f"updates-{n}-incident": str(incident.pk),
            f"updates-{n}-status": update.status,
            f"updates-{n}-body": update.body,
            f"updates-{n}-display_at_0": update.display_at.strftime("%Y-%m-%d"),
            f"updates-{n}-display_at_1": update.display_at.strftime("%H:%M:%S"),
        }
    return fields


def post_update(
    admin_client: Client, capture: Capture, incident: Incident, status: str, body: str
) -> None:
    count = incident.updates.count()
    data = {
        "name": incident.name,
        "impact": incident.impact,
        "components": incident.components,
        "postmortem_url": incident.postmortem_url,
        **existing_updates(incident),
        **update_form(count, status, body, initial=count, total=count + 1),
    }
    with capture(execute=True):
        response = admin_client.post(f"/admin/status/incident/{incident.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]


def test_staff_open_update_and_resolve_an_incident(
    admin_client: Client, client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/status/incident/add/",
            {
                "name": "Checkout is slow",
                "impact": "major",
                "components": ["cart-checkout"],
                "postmortem_url": "",
                **update_form(0, "investigating", "Orders take a minute to go through."),
            },
        )
    incident = Incident.objects.get()
    opened = client.get("/cart/").content.decode()
    post_update(
        admin_client,
        django_capture_on_commit_callbacks,
        incident,
        "identified",
        "A slow payment check; your cart is kept.",
    )
    identified = client.get("/cart/").content.decode()
    post_update(
        admin_client,
        django_capture_on_commit_callbacks,
        incident,
        "resolved",
        "Checkout is quick again.",
    )
    incident.refresh_from_db()
    resolved = client.get("/cart/").content.decode()
    assert (
        "Orders take a minute" in opened,
        "A slow payment check" in identified,
        "status-banner" in resolved,
        incident.status,
        incident.resolved_at is not None,
    ) == (True, True, False, "resolved", True)


def test_staff_incidents_set_their_components(
    admin_client: Client, client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/status/incident/add/",
            {
                "name": "Search down",
                "impact": "critical",
                "components": ["search"],
                "postmortem_url": "",
                **update_form(0, "investigating", "Search is down."),
            },
        )
    components = {
        c["id"]: c["status"] for c in client.get("/status/summary.json").json()["components"]
    }
    assert (components["search"], components["storefront"]) == ("major_outage", "operational")


def test_an_incident_needs_a_first_update(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/status/incident/add/",
        {
            "name": "Silent",
            "impact": "minor",
            "components": ["api"],
            "postmortem_url": "",
            **update_form(0, "", ""),
        },
    )
    assert (response.status_code, Incident.objects.count()) == (200, 0)


def test_saving_an_automatic_incident_hands_it_to_staff_for_good(
    admin_client: Client,
    client: Client,
    post_alerts: PostAlerts,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    post_alerts(payload(alert()))
    incident = Incident.objects.get()  # written back at once: the database is up
    post_update(
        admin_client,
        django_capture_on_commit_callbacks,
        incident,
        "identified",
        "We found it: a slow query. Your cart is kept.",
    )
    post_alerts(payload(alert(status="resolved")))
    incident.refresh_from_db()
    page = client.get("/cart/").content.decode()
    assert (incident.automated, incident.status, "We found it" in page) == (
        False,
        "identified",
        True,
    )
