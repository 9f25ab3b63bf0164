"""Each status test starts from an empty shared state: no document, no counts, no cached copy."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from core.status import monitor, signals
from core.status.state import cache, store

TOKEN = "test-webhook-token-0123456789"


@pytest.fixture(autouse=True)
def fresh_status(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    settings.STATUS_WEBHOOK_TOKEN = TOKEN
    # An earlier test's readiness verdict (a database it stopped) must not
    # become this worker's heartbeat here.
    monkeypatch.setattr(monitor, "_readiness", None)
    cache().clear()
    store.forget()
    signals.take()
    yield
    cache().clear()
    store.forget()
    signals.take()


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def alert(
    name: str = "WidgetWorldDBPoolTimeouts",
    *,
    status: str = "firing",
    component: str | None = "storefront",
    severity: str = "critical",
    fingerprint: str | None = None,
    starts_at: float = 1_700_000_000.0,
    **labels: str,
) -> dict[str, Any]:
    all_labels = {"alertname": name, "severity": severity, "job": "widgetworld", **labels}
    if component is not None:
        all_labels["component"] = component
    return {
        "status": status,
        "labels": all_labels,
        "annotations": {"summary": f"{name} summary"},
        "startsAt": iso(starts_at),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": fingerprint or f"fp-{name}",
    }


def payload(*alerts: dict[str, Any], version: str = "4") -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": version,
        "groupKey": '{}:{alertname="x"}',
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "status-page",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example",
        "alerts": list(alerts),
    }


PostAlerts = Callable[..., Any]


@pytest.fixture
def post_alerts(client: Client) -> PostAlerts:
    def post(body: Any, token: str | None = TOKEN, raw: bytes | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        data = raw if raw is not None else json.dumps(body).encode()
        return client.post(
            "/status/alertmanager", data=data, content_type="application/json", headers=headers
        )

    return post
