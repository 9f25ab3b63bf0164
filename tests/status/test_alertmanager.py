"""The webhook against a real Alertmanager (Debian's), routed by deploy/prometheus/alertmanager.yml.

Alerts are posted to Alertmanager's API as Prometheus posts them; Alertmanager
groups them and calls WidgetWorld's live server, which must change the page.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devtools import alertmanager as am
from devtools.servers import http_get, wait_for
from tests.status.conftest import TOKEN
from tests.tools import require

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

StartAlertmanager = Callable[[str], am.Alertmanager]


@pytest.fixture
def start_alertmanager(live_server: Any, tmp_path: Path) -> Iterator[StartAlertmanager]:
    require("prometheus-alertmanager", package="prometheus-alertmanager")
    started: list[am.Alertmanager] = []

    def start(token: str) -> am.Alertmanager:
        token_file = tmp_path / "status-webhook-token"
        token_file.write_text(token)
        config = am.local_config(f"{live_server.url}/status/alertmanager", token_file, fast=True)
        manager = am.Alertmanager(config, tmp_path / "alertmanager")
        started.append(manager)
        manager.wait_until_ready()
        return manager

    yield start
    for manager in started:
        manager.stop()
    shutil.rmtree(tmp_path / "alertmanager", ignore_errors=True)


def now() -> str:
    return datetime.now(UTC).isoformat()


def timeouts_alert() -> dict[str, Any]:
    return {
        "labels": {
            "alertname": "WidgetWorldDBPoolTimeouts",
            "severity": "critical",
            "component": "storefront",
            "job": "widgetworld",
            "instance": "web-1:8000",
            "alias": "default",
        },
        "annotations": {"summary": "Shoppers get 503s"},
        "startsAt": now(),
    }


def summary(live_server: Any) -> dict[str, Any]:
    return json.loads(http_get(f"{live_server.url}/status/summary.json").body)


def storefront(live_server: Any) -> str:
    return next(c["status"] for c in summary(live_server)["components"] if c["id"] == "storefront")


def test_a_firing_then_resolved_alert_degrades_then_restores_the_storefront(
    start_alertmanager: StartAlertmanager, live_server: Any, settings: Any
) -> None:
    settings.STATUS_LOCAL_TTL = 0
    manager = start_alertmanager(TOKEN)
    firing = timeouts_alert()
    manager.post_alerts([firing])
    wait_for(
        "the storefront in partial outage", lambda: storefront(live_server) == "partial_outage", 30
    )
    opened = summary(live_server)["incidents"]
    manager.post_alerts([{**firing, "endsAt": now()}])
    wait_for("the storefront operational", lambda: storefront(live_server) == "operational", 30)
    assert (len(opened), summary(live_server)["incidents"]) == (1, [])


def test_alertmanager_with_the_wrong_token_changes_nothing(
    start_alertmanager: StartAlertmanager, live_server: Any, settings: Any
) -> None:
    settings.STATUS_LOCAL_TTL = 0
    manager = start_alertmanager("not-the-token")
    manager.post_alerts([timeouts_alert()])
    wait_for("Alertmanager to give up a notification", lambda: manager.notifications("failed"), 30)
    assert storefront(live_server) == "operational"
