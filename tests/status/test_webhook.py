"""POST /status/alertmanager: what Alertmanager sends changes the page; nothing else does."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client
from prometheus_client import REGISTRY

from core.status import snapshot
from core.status.components import ComponentStatus
from core.status.state import store
from tests.status.conftest import PostAlerts, alert, payload

pytestmark = pytest.mark.django_db


def storefront() -> ComponentStatus:
    current = snapshot.build(store.read(max_age=0), 1_700_000_100.0)
    return next(c.status for c in current.components if c.id == "storefront")


def test_a_critical_alert_puts_its_component_in_partial_outage(post_alerts: PostAlerts) -> None:
    post_alerts(payload(alert()))
    assert storefront() == ComponentStatus.PARTIAL_OUTAGE


def test_the_alert_opens_an_automatic_incident_that_resolves_with_it(
    post_alerts: PostAlerts,
) -> None:
    post_alerts(payload(alert()))
    opened = store.read(max_age=0)["incidents"][0]
    post_alerts(payload(alert(status="resolved")))
    resolved = store.read(max_age=0)["incidents"][0]
    assert (opened["status"], resolved["id"], resolved["status"], storefront()) == (
        "investigating",
        opened["id"],
        "resolved",
        ComponentStatus.OPERATIONAL,
    )


def test_a_warning_alert_degrades_and_several_components_can_be_named(
    post_alerts: PostAlerts,
) -> None:
    post_alerts(payload(alert(severity="warning", component="storefront, search")))
    current = snapshot.build(store.read(max_age=0), 1_700_000_100.0)
    statuses = {c.id: c.status for c in current.components}
    assert (statuses["storefront"], statuses["search"], statuses["api"]) == (
        ComponentStatus.DEGRADED_PERFORMANCE,
        ComponentStatus.DEGRADED_PERFORMANCE,
        ComponentStatus.OPERATIONAL,
    )


def test_no_token_is_401(post_alerts: PostAlerts) -> None:
    response = post_alerts(payload(alert()), token=None)
    assert (response.status_code, response["WWW-Authenticate"]) == (401, 'Bearer realm="status"')


def test_a_wrong_token_is_403_and_changes_nothing(post_alerts: PostAlerts) -> None:
    response = post_alerts(payload(alert()), token="guess")
    assert (response.status_code, storefront()) == (403, ComponentStatus.OPERATIONAL)


def test_an_unset_token_refuses_everyone(post_alerts: PostAlerts, settings: object) -> None:
    settings.STATUS_WEBHOOK_TOKEN = ""  # type: ignore[attr-defined]
    assert post_alerts(payload(alert()), token="").status_code == 401


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"version": "3", "alerts": []}',
        b'{"version": "4"}',
        b'{"version": "4", "alerts": [{"status": "firing"}]}',
        b'{"version": "4", "alerts": [{"status": "burning", "labels": {}}]}',
    ],
    ids=[
        "malformed",
        "not-utf8",
        "not-an-object",
        "old-version",
        "no-alerts",
        "no-labels",
        "status",
    ],
)
def test_bad_payloads_are_400_and_change_nothing(post_alerts: PostAlerts, raw: bytes) -> None:
    response = post_alerts(None, raw=raw)
    assert (response.status_code, storefront()) == (400, ComponentStatus.OPERATIONAL)


def test_one_bad_alert_refuses_the_whole_payload(post_alerts: PostAlerts) -> None:
    broken = alert(name="Broken")
    broken["startsAt"] = "yesterday"
    response = post_alerts(payload(alert(), broken))
    assert (response.status_code, storefront()) == (400, ComponentStatus.OPERATIONAL)


def test_a_payload_over_the_limit_is_413(post_alerts: PostAlerts, settings: object) -> None:
    settings.STATUS_WEBHOOK_MAX_BYTES = 2048  # type: ignore[attr-defined]
    big = payload(*[alert(fingerprint=f"fp{n}") for n in range(40)])
    response = post_alerts(big)
    assert (response.status_code, storefront()) == (413, ComponentStatus.OPERATIONAL)


def test_unknown_components_and_labels_are_ignored_and_logged(
    post_alerts: PostAlerts, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="core.status.alerts")
    response = post_alerts(
        payload(
            alert(name="A", component="warehouse"),
            alert(name="B", severity="page-everyone"),
            alert(name="C", component_status="on_fire"),
        )
    )
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert (
        response.status_code,
        storefront(),
        "warehouse" in logged,
        "page-everyone" in logged,
        "on_fire" in logged,
    ) == (200, ComponentStatus.OPERATIONAL, True, True, True)


def test_alerts_without_a_component_are_for_on_call_only(post_alerts: PostAlerts) -> None:
    post_alerts(payload(alert(component=None)))
    assert store.read(max_age=0)["incidents"] == []


def test_only_post(client: Client) -> None:
    assert client.get("/status/alertmanager").status_code == 405


def test_the_answer_says_what_was_received(post_alerts: PostAlerts) -> None:
    response = post_alerts(payload(alert(), alert(name="Other", component=None)))
    assert json.loads(response.content) == {"received": 2, "changed": 1}


def test_every_call_is_counted_by_outcome(post_alerts: PostAlerts) -> None:
    def count(outcome: str) -> float:
        value = REGISTRY.get_sample_value(
            "widgetworld_status_webhook_requests_total", {"outcome": outcome}
        )
        return value or 0.0

    before = {o: count(o) for o in ("accepted", "unauthorized", "forbidden", "bad_request")}
    post_alerts(payload(alert()))
    post_alerts(payload(alert()), token=None)
    post_alerts(payload(alert()), token="guess")
    post_alerts(None, raw=b"{")
    assert {o: count(o) - n for o, n in before.items()} == dict.fromkeys(before, 1.0)


def test_the_automatic_incident_is_updated_when_what_is_affected_changes(
    post_alerts: PostAlerts,
) -> None:
    post_alerts(payload(alert(severity="warning")))
    post_alerts(payload(alert(name="Search", component="search", fingerprint="fp-search")))
    incident = store.read(max_age=0)["incidents"][0]
    assert ([u["body"][:36] for u in incident["updates"]], incident["impact"]) == (
        ["Now affecting Storefront and Search:", "We are seeing slower pages than usua"],
        "major",
    )
