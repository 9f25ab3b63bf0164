"""The alerts, the dashboard and the docs only speak of metrics the app really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from django_prometheus.middleware import Metrics
from prometheus_client import REGISTRY

BASE_DIR = Path(__file__).resolve().parent.parent
ALERTS = BASE_DIR / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = sorted((BASE_DIR / "deploy" / "prometheus" / "tests").glob("*.test.yml"))
DASHBOARD = BASE_DIR / "deploy" / "grafana" / "widgetworld.json"
METRICS_DOC = BASE_DIR / "docs" / "metrics.md"
# Series Prometheus makes itself, not the app.
PROMETHEUS_OWN = {"up"}
METRIC_NAME = re.compile(r"\b((?:widgetworld|django)_[a-z0-9_]+)\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported() -> set[str]:
    """Every sample name the app's registry can produce (counters, histograms expanded)."""
    Metrics.get_instance()  # django-prometheus registers its request metrics on first use
    names = set()
    for family in REGISTRY.collect():
        for suffix in SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def alert_rules() -> list[dict[str, Any]]:
    return [
        rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]
    ]


def dashboard_queries() -> list[str]:
    return [
        target["expr"]
        for panel in json.loads(DASHBOARD.read_text())["panels"]
        for target in panel.get("targets", [])
    ]


def metrics_in(expressions: list[str]) -> set[str]:
    return {name for expr in expressions for name in METRIC_NAME.findall(expr)}


def test_every_metric_the_alerts_query_is_exported() -> None:
    used = metrics_in([rule["expr"] for rule in alert_rules()])

    assert used - exported() == set()


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    used = metrics_in(dashboard_queries())

    assert used - exported() == set()


def test_the_dashboard_shows_what_the_on_call_person_needs() -> None:
    used = metrics_in(dashboard_queries())

    assert {
        "widgetworld_db_pool_connections",
        "widgetworld_db_pool_max",
        "widgetworld_db_pool_budget",
        "widgetworld_db_pool_waiting",
        "widgetworld_db_pool_wait_seconds_bucket",
        "widgetworld_db_pool_hold_seconds_bucket",
        "widgetworld_db_server_connections",
        "widgetworld_db_server_max_connections",
        "django_http_responses_total_by_status_total",
        "django_http_requests_latency_including_middlewares_seconds_bucket",
        # Read replicas: how far behind, in rotation or not, where reads go.
        "widgetworld_db_replica_lag_seconds",
        "widgetworld_db_replica_in_rotation",
        "widgetworld_db_read_routes_total",
    } <= used


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_says_how_bad_what_and_where_to_look(rule: dict[str, Any]) -> None:
    annotations = rule["annotations"]

    assert (
        rule["labels"]["severity"] in ("critical", "warning"),
        bool(annotations["summary"]),
        bool(annotations["description"]),
        annotations["runbook_url"].startswith("docs/runbooks/"),
    ) == (True, True, True, True)


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub makes for a file's headings."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", markdown, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_every_runbook_url_leads_to_a_section(rule: dict[str, Any]) -> None:
    path, _, anchor = rule["annotations"]["runbook_url"].partition("#")

    assert anchor in github_anchors((BASE_DIR / path).read_text())


def test_every_alert_has_a_promtool_test() -> None:
    tested = {
        case["alertname"]
        for path in ALERT_TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test["alert_rule_test"]
    }

    assert tested == {rule["alert"] for rule in alert_rules()}


def test_docs_list_every_widgetworld_metric() -> None:
    documented = set(re.findall(r"^\| `(widgetworld_[a-z0-9_]+)`", METRICS_DOC.read_text(), re.M))
    ours = {
        family.name + ("_total" if family.type == "counter" else "")
        for family in REGISTRY.collect()
        if family.name.startswith("widgetworld_")
    }

    assert documented == ours


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_has_a_panel_showing_what_it_watches(rule: dict[str, Any]) -> None:
    """At 3 a.m. the page leads to the dashboard: what fired must be on it."""
    assert series_in([rule["expr"]]) & series_in(dashboard_queries())


def series_in(expressions: list[str]) -> set[str]:
    """The app's metrics and Prometheus' own series (`up`) that the expressions read."""
    own = {
        name for name in PROMETHEUS_OWN for expr in expressions if re.search(rf"\b{name}\b", expr)
    }
    return metrics_in(expressions) | own
