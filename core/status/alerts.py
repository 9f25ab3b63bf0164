"""Alertmanager's webhook (payload version 4) in, component statuses out.

An alert reaches the status page only through its labels:

- `component`: one component id, or several separated by commas
  (`storefront,search`); alerts without it are for on-call only and ignored;
- `severity`: `warning` -> degraded performance, `critical` -> partial outage;
- `component_status` (optional): a status of our vocabulary, overriding the above.

Unknown components, severities and statuses are ignored and logged. The
payload is checked whole before anything changes: a malformed one is
refused (400) and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.status.components import BY_ID, ComponentStatus
from core.status.state import Document

logger = logging.getLogger(__name__)

VERSION = "4"
SEVERITY = {
    "warning": ComponentStatus.DEGRADED_PERFORMANCE,
    "critical": ComponentStatus.PARTIAL_OUTAGE,
}
# A firing alert that Alertmanager has not repeated for this long is taken as
# gone: its resolve notification was lost. Alertmanager's status-page route
# repeats every 30 minutes (deploy/prometheus/alertmanager.yml).
EXPIRY_SECONDS = 2 * 3600


class PayloadError(ValueError):
    """The body is not an Alertmanager version 4 payload; said in one line for the 400."""


@dataclass(frozen=True)
class Alert:
    fingerprint: str
    name: str
    firing: bool
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None


def _timestamp(value: object, what: str) -> float | None:
    if not isinstance(value, str):
        raise PayloadError(f"{what} must be an RFC 3339 string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"{what} is not an RFC 3339 time: {value[:40]!r}") from None
    if moment.year <= 1:  # Alertmanager's "not set" (0001-01-01T00:00:00Z)
        return None
    if moment.tzinfo is None:
        raise PayloadError(f"{what} has no time zone")
    return moment.timestamp()


def _strings(value: object, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise PayloadError(f"{what} must be an object of strings")
    return value


def parse(payload: object) -> list[Alert]:
    """Every alert of the payload, or PayloadError: nothing half-read."""
    if not isinstance(payload, dict):
        raise PayloadError("the body must be a JSON object")
    if payload.get("version") != VERSION:
        raise PayloadError(f"version must be {VERSION!r}, got {payload.get('version')!r}")
    raw = payload.get("alerts")
    if not isinstance(raw, list):
        raise PayloadError("alerts must be a list")
    alerts = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict):
            raise PayloadError(f"alerts[{n}] must be an object")
        status = item.get("status")
        if status not in ("firing", "resolved"):
            raise PayloadError(f"alerts[{n}].status must be firing or resolved")
        labels = _strings(item.get("labels"), f"alerts[{n}].labels")
        annotations = _strings(item.get("annotations", {}), f"alerts[{n}].annotations")
        fingerprint = item.get("fingerprint")
        if not isinstance(fingerprint, str) or not fingerprint:
            raise PayloadError(f"alerts[{n}].fingerprint must be a non-empty string")
        starts_at = _timestamp(item.get("startsAt"), f"alerts[{n}].startsAt")
        alerts.append(
            Alert(
                fingerprint=fingerprint[:64],
                name=labels.get("alertname", "unnamed alert")[:200],
                firing=status == "firing",
                labels=labels,
                annotations=annotations,
                starts_at=starts_at or 0.0,
                ends_at=_timestamp(
                    item.get("endsAt", "0001-01-01T00:00:00Z"), f"alerts[{n}].endsAt"
                ),
            )
        )
    return alerts


def effect(alert: Alert) -> tuple[list[str], ComponentStatus] | None:
    """The components an alert speaks for and the status it gives them; None: not for shoppers."""
    wanted = [c.strip() for c in alert.labels.get("component", "").split(",") if c.strip()]
    if not wanted:
        logger.info("status: alert %s has no component label: ignored", alert.name)
        return None
    known = [c for c in wanted if c in BY_ID]
    for unknown in set(wanted) - set(known):
        logger.warning(
            "status: alert %s names unknown component %r: ignored", alert.name, unknown[:64]
        )
    explicit = alert.labels.get("component_status")
    if explicit is not None:
        try:
            status = ComponentStatus(explicit)
        except ValueError:
            logger.warning(
                "status: alert %s has unknown component_status %r: ignored",
                alert.name,
                explicit[:64],
            )
            return None
    else:
        severity = alert.labels.get("severity", "")
        if severity not in SEVERITY:
            logger.warning(
                "status: alert %s has unknown severity %r: ignored", alert.name, severity[:64]
            )
            return None
        status = SEVERITY[severity]
    if not known or status in (ComponentStatus.OPERATIONAL, ComponentStatus.UNDER_MAINTENANCE):
        return None
    return known, status


def apply(document: Document, alerts: list[Alert], now: float) -> int:
    """Record firing alerts and drop resolved ones; the number that changed the document."""
    firing: dict[str, dict[str, Any]] = document.setdefault("alerts", {})
    changed = 0
    for alert in alerts:
        if not alert.firing or (alert.ends_at is not None and alert.ends_at <= now):
            changed += firing.pop(alert.fingerprint, None) is not None
            continue
        mapped = effect(alert)
        if mapped is None:
            continue
        components, status = mapped
        firing[alert.fingerprint] = {
            "name": alert.name,
            "components": components,
            "component_status": status.value,
            "summary": alert.annotations.get("summary", "")[:500],
            "starts_at": alert.starts_at,
            "received_at": now,
        }
        changed += 1
    return changed


def expire(document: Document, now: float) -> None:
    """Forget firing alerts Alertmanager stopped repeating (a lost resolve)."""
    firing = document.setdefault("alerts", {})
    for fingerprint, alert in list(firing.items()):
        if now - alert["received_at"] > EXPIRY_SECONDS:
            logger.warning(
                "status: alert %s not repeated for %ds: taken as resolved",
                alert["name"],
                EXPIRY_SECONDS,
            )
            del firing[fingerprint]
