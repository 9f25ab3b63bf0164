"""A maintenance window starts and ends by the clock, with nobody clicking."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from core.status import monitor, snapshot
from core.status.models import Maintenance
from core.status.state import store

pytestmark = pytest.mark.django_db

Capture = Callable[..., AbstractContextManager[Any]]
T0 = datetime(2030, 1, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def window(django_capture_on_commit_callbacks: Capture) -> Maintenance:
    with django_capture_on_commit_callbacks(execute=True):
        return Maintenance.objects.create(
            name="Database upgrade",
            body="Checkout is paused for up to an hour; browsing works.",
            components=["cart-checkout"],
            scheduled_for=T0,
            scheduled_until=T0 + timedelta(hours=1),
        )


def at(moment: datetime) -> tuple[str, str | None]:
    current = snapshot.build(store.read(max_age=0), moment.timestamp())
    status = next(c.status.value for c in current.components if c.id == "cart-checkout")
    return status, current.banner.kind if current.banner else None


@pytest.mark.usefixtures("window")
def test_the_window_starts_and_ends_by_itself() -> None:
    assert [at(T0 - timedelta(minutes=1)), at(T0), at(T0 + timedelta(hours=1))] == [
        ("operational", None),
        ("under_maintenance", "maintenance"),
        ("operational", None),
    ]


@pytest.mark.usefixtures("window")
def test_the_monitor_notes_when_the_window_started() -> None:
    monitor.tick(T0.timestamp() + 5)
    noted = store.read(max_age=0)["components"]["cart-checkout"]
    assert (noted["status"], noted["at"]) == ("under_maintenance", T0.timestamp() + 5)


@pytest.mark.usefixtures("window")
def test_automation_stays_quiet_on_components_under_maintenance() -> None:
    document = store.read(max_age=0)
    document["alerts"]["fp"] = {
        "name": "Down",
        "components": ["cart-checkout", "api"],
        "component_status": "major_outage",
        "summary": "",
        "starts_at": 0,
        "received_at": T0.timestamp(),
    }
    statuses = {c.id: c.status.value for c in snapshot.build(document, T0.timestamp()).components}
    assert (statuses["cart-checkout"], statuses["api"]) == ("under_maintenance", "major_outage")


def test_a_window_in_progress_shows_on_the_pages(
    client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    now = datetime.now(UTC)
    with django_capture_on_commit_callbacks(execute=True):
        Maintenance.objects.create(
            name="Faster search",
            body="Search may be slow for ten minutes.",
            components=["search"],
            scheduled_for=now - timedelta(minutes=1),
            scheduled_until=now + timedelta(minutes=9),
        )
    page = client.get("/cart/").content.decode()
    summary = client.get("/status/summary.json").json()
    assert (
        "Faster search" in page,
        summary["status"]["indicator"],
        summary["scheduled_maintenances"][0]["status"],
    ) == (True, "maintenance", "in_progress")


def test_a_cancelled_window_never_starts(
    window: Maintenance, django_capture_on_commit_callbacks: Capture
) -> None:
    window.cancelled = True
    with django_capture_on_commit_callbacks(execute=True):
        window.save()
    assert at(T0 + timedelta(minutes=5)) == ("operational", None)
