"""`summary.json`: Atlassian Statuspage's public v2 summary shape, from a snapshot.

Field names and value vocabularies follow Statuspage's documented
`/api/v2/summary.json`, so existing widgets and tools read ours unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.status.snapshot import Snapshot, moment

PAGE_ID = "widgetworld"
PAGE_NAME = "WidgetWorld"


def _iso(value: float | datetime | None) -> str | None:
    when = moment(value) if isinstance(value, int | float) else value
    return when.astimezone(UTC).isoformat(timespec="seconds") if when else None


def _incident(incident: dict[str, Any], base_url: str) -> dict[str, Any]:
    return {
        "id": incident["id"],
        "name": incident["name"],
        "status": incident["status"],
        "impact": incident["impact"],
        "shortlink": f"{base_url}/status/incidents/{incident['id']}/",
        "created_at": _iso(incident["created_at"]),
        "updated_at": _iso(incident["updated_at"]),
        "resolved_at": _iso(incident["resolved_at"]),
        "postmortem_url": incident.get("postmortem_url") or None,
        "components": incident["components"],
        "incident_updates": [_update(update) for update in incident["updates"]],
    }


def _update(update: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": update["id"],
        "status": update["status"],
        "body": update["body"],
        "created_at": _iso(update["created_at"]),
        "display_at": _iso(update["display_at"]),
    }


def summary(snapshot: Snapshot, base_url: str) -> dict[str, Any]:
    return {
        "page": {
            "id": PAGE_ID,
            "name": PAGE_NAME,
            "url": f"{base_url}/status/",
            "updated_at": _iso(snapshot.as_of or snapshot.now),
        },
        "status": {"indicator": snapshot.indicator, "description": snapshot.description},
        "components": [
            {
                "id": component.id,
                "name": component.name,
                "description": component.description,
                "status": component.status.value,
                "position": component.position,
                "updated_at": _iso(component.updated_at),
            }
            for component in snapshot.components
        ],
        "incidents": [_incident(i, base_url) for i in snapshot.unresolved],
        "scheduled_maintenances": [
            {
                "id": window["id"],
                "name": window["name"],
                "status": window["status"],
                "impact": "maintenance",
                "shortlink": f"{base_url}/status/#maintenance-{window['id']}",
                "created_at": _iso(window["created_at"]),
                "updated_at": _iso(window["updated_at"]),
                "scheduled_for": _iso(window["scheduled_for"]),
                "scheduled_until": _iso(window["scheduled_until"]),
                "components": window["components"],
                # A window's one "update" is its description, as staff wrote it.
                "incident_updates": [_update({**window, "display_at": window["created_at"]})],
            }
            for window in snapshot.maintenances
            if window["status"] != "completed"
        ],
        "as_of": _iso(snapshot.as_of),
    }
