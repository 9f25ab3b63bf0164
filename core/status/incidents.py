"""Incidents in the shared document: the automatic one's life, and the copy in PostgreSQL.

The automation keeps at most one incident open: "what the signals and the
alerts say is wrong right now", opened, updated and resolved with the
templated words below (docs/communication-plan.md quotes them). Staff take
it over by saving it in the admin; from then on the automation leaves it
alone and opens no other until staff resolve it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import Q

from core.status.components import ComponentStatus, Impact, worst
from core.status.models import (
    Incident,
    IncidentStatus,
    IncidentUpdate,
    Maintenance,
    Source,
    new_public_id,
)
from core.status.snapshot import RESOLVED, automatic_statuses, component_names, component_statuses
from core.status.state import Document, empty_document

logger = logging.getLogger(__name__)

# How long a resolved incident or a finished window stays on the page.
HISTORY = timedelta(days=7)
MAX_INCIDENTS = 50

_PROBLEM = {
    ComponentStatus.DEGRADED_PERFORMANCE: "slower pages than usual",
    ComponentStatus.PARTIAL_OUTAGE: "some requests failing",
    ComponentStatus.MAJOR_OUTAGE: "most requests failing",
}
_TITLE = {
    ComponentStatus.DEGRADED_PERFORMANCE: "Slow responses: {names}",
    ComponentStatus.PARTIAL_OUTAGE: "Some requests failing: {names}",
    ComponentStatus.MAJOR_OUTAGE: "Outage: {names}",
}
CART_PROMISE = "Your cart is kept, and orders already placed are not affected."
OPENED = "We are seeing {problem} on {names} and are investigating. " + CART_PROMISE
UPDATED = "Now affecting {names}: {problem}. We are still working on it. " + CART_PROMISE
RESOLVED_TEXT = "{names} {verb} working normally again. Thank you for your patience."


def _words(affected: dict[str, ComponentStatus]) -> dict[str, str]:
    ids = sorted(affected, key=lambda c: list(affected).index(c))
    status = worst(list(affected.values()))
    return {"names": component_names(ids), "problem": _PROBLEM[status]}


def _update(status: str, body: str, at: float) -> dict[str, Any]:
    return {
        "id": new_public_id(),
        "status": status,
        "body": body,
        "created_at": at,
        "display_at": at,
    }


def reconcile(document: Document, now: float) -> None:
    """Open, update or resolve the automatic incident to match the automatic statuses."""
    affected = {
        c: s
        for c, s in automatic_statuses(document, now).items()
        if s.rank > ComponentStatus.UNDER_MAINTENANCE.rank
    }
    incidents: list[dict[str, Any]] = document["incidents"]
    mine = next((i for i in incidents if i.get("automated") and i["status"] != RESOLVED), None)
    handed_over = any(
        i["source"] == Source.SIGNALS and not i.get("automated") and i["status"] != RESOLVED
        for i in incidents
    )
    signature = {"components": sorted(affected), "status": worst(list(affected.values())).value}
    if affected and mine is None and not handed_over:
        words = _words(affected)
        status = worst(list(affected.values()))
        incident: dict[str, Any] = {
            "id": new_public_id(),
            "name": _TITLE[status].format(**words),
            "status": IncidentStatus.INVESTIGATING.value,
            "impact": Impact.of(status).value,
            "components": sorted(affected),
            "source": Source.SIGNALS.value,
            "automated": True,
            "postmortem_url": "",
            "created_at": now,
            "updated_at": now,
            "resolved_at": None,
            "signature": signature,
            "updates": [_update("investigating", OPENED.format(**words), now)],
        }
        incidents.insert(0, incident)
        _pending(document, incident["id"])
        logger.warning(
            "status: automatic incident opened: %s",
            incident["name"],
            extra={"incident": incident["id"]},
        )
    elif mine is not None and affected and mine.get("signature") != signature:
        words = _words(affected)
        status = worst(list(affected.values()))
        mine.update(
            name=_TITLE[status].format(**words),
            impact=Impact.of(status).value,
            components=sorted(affected),
            signature=signature,
            updated_at=now,
        )
        mine["updates"].insert(0, _update(mine["status"], UPDATED.format(**words), now))
        _pending(document, mine["id"])
    elif mine is not None and not affected:
        names = component_names(mine["components"])
        verb = "is" if len(mine["components"]) == 1 else "are"
        mine.update(status=RESOLVED, updated_at=now, resolved_at=now)
        mine["updates"].insert(
            0, _update(RESOLVED, RESOLVED_TEXT.format(names=names, verb=verb), now)
        )
        _pending(document, mine["id"])
        logger.warning(
            "status: automatic incident resolved: %s", mine["name"], extra={"incident": mine["id"]}
        )
    note_component_changes(document, now)


def note_component_changes(document: Document, now: float) -> None:
    """Remember when each component's status last changed, for `updated_at`."""
    changed = document.setdefault("components", {})
    for component, status in component_statuses(document, now).items():
        if changed.get(component, {}).get("status") != status.value:
            changed[component] = {"status": status.value, "at": now}


def _pending(document: Document, incident_id: str) -> None:
    if incident_id not in document["pending_writeback"]:
        document["pending_writeback"].append(incident_id)


def trim(document: Document, now: float) -> None:
    """Keep the document small: open incidents, and a week of resolved ones."""
    horizon = now - HISTORY.total_seconds()
    kept = [
        i
        for i in document["incidents"]
        if i["status"] != RESOLVED
        or (i["resolved_at"] or now) >= horizon
        or i["id"] in document["pending_writeback"]
    ]
    document["incidents"] = kept[:MAX_INCIDENTS]


# -- PostgreSQL, the durable copy ---------------------------------------------------------


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value else None


def _at(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _maybe_at(value: float | None) -> datetime | None:
    return _at(value) if value else None


def incident_as_dict(row: Incident) -> dict[str, Any]:
    return {
        "id": row.public_id,
        "name": row.name,
        "status": row.status,
        "impact": row.impact,
        "components": list(row.components),
        "source": row.source,
        "automated": row.automated,
        "postmortem_url": row.postmortem_url,
        "created_at": _ts(row.created_at),
        "updated_at": _ts(row.updated_at),
        "resolved_at": _ts(row.resolved_at),
        "updates": [
            {
                "id": update.public_id,
                "status": update.status,
                "body": update.body,
                "created_at": _ts(update.created_at),
                "display_at": _ts(update.display_at),
            }
            for update in sorted(
                row.updates.all(), key=lambda u: (u.display_at, u.id), reverse=True
            )
        ],
    }


def maintenance_as_dict(row: Maintenance) -> dict[str, Any]:
    return {
        "id": row.public_id,
        "name": row.name,
        "body": row.body,
        "components": list(row.components),
        "scheduled_for": _ts(row.scheduled_for),
        "scheduled_until": _ts(row.scheduled_until),
        "cancelled": row.cancelled,
        "created_at": _ts(row.created_at),
        "updated_at": _ts(row.updated_at),
    }


def read_database(now: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Recent incidents and maintenance windows as PostgreSQL has them (raises DatabaseError)."""
    since = _at(now - HISTORY.total_seconds())
    incidents = Incident.objects.filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=since))
    windows = Maintenance.objects.filter(scheduled_until__gte=since)
    return (
        [incident_as_dict(row) for row in incidents.prefetch_related("updates")[:MAX_INCIDENTS]],
        [maintenance_as_dict(row) for row in windows[:MAX_INCIDENTS]],
    )


def merge_database(
    document: Document, incidents: list[dict[str, Any]], windows: list[dict[str, Any]], now: float
) -> None:
    """PostgreSQL wins for what staff own; the document, for what the automation still writes."""
    stored = {incident["id"]: incident for incident in incidents}
    merged = []
    for incident in document["incidents"]:
        row = stored.pop(incident["id"], None)
        if row is not None:
            merged.append(incident if row["automated"] and incident.get("automated") else row)
        elif incident["id"] in document["pending_writeback"]:
            merged.append(incident)
        # else: deleted in the admin, or aged out
    merged.extend(stored.values())
    merged.sort(key=lambda i: i["created_at"], reverse=True)
    document["incidents"] = merged
    document["maintenances"] = windows
    document["synced_at"] = now
    note_component_changes(document, now)


def rebuild(now: float) -> Document:
    """A document from PostgreSQL alone (a new or emptied cache); empty if it cannot be read."""
    document = empty_document()
    try:
        merge_database(document, *read_database(now), now)
    except DatabaseError as error:
        logger.warning("status: cannot read incidents from PostgreSQL: %s", error)
    return document


def write_back(document: Document) -> dict[str, float | None]:
    """Copy the pending automatic incidents into PostgreSQL (raises DatabaseError).

    Answers each written id with the `updated_at` written, so `forget_written`
    keeps an incident pending that changed again meanwhile.
    """
    written: dict[str, float | None] = {}
    by_id = {incident["id"]: incident for incident in document["incidents"]}
    for incident_id in list(document["pending_writeback"]):
        incident = by_id.get(incident_id)
        if incident is not None:
            _write_incident(incident)
        written[incident_id] = incident["updated_at"] if incident else None
    return written


def _write_incident(incident: dict[str, Any]) -> None:
    with transaction.atomic():
        row, created = Incident.objects.select_for_update().get_or_create(
            public_id=incident["id"],
            defaults={
                "source": incident["source"],
                "automated": True,
                "created_at": _at(incident["created_at"]),
            },
        )
        if not created and not row.automated:
            return  # staff took it over meanwhile: theirs now
        for field in ("name", "status", "impact", "components"):
            setattr(row, field, incident[field])
        row.updated_at = _at(incident["updated_at"])
        row.resolved_at = _maybe_at(incident["resolved_at"])
        row.save()
        known = set(row.updates.values_list("public_id", flat=True))
        IncidentUpdate.objects.bulk_create(
            IncidentUpdate(
                public_id=update["id"],
                incident=row,
                status=update["status"],
                body=update["body"],
                created_at=_at(update["created_at"]),
                display_at=_at(update["display_at"]),
            )
            for update in incident["updates"]
            if update["id"] not in known
        )


def forget_written(document: Document, written: dict[str, float | None]) -> None:
    current = {incident["id"]: incident["updated_at"] for incident in document["incidents"]}
    document["pending_writeback"] = [
        i for i in document["pending_writeback"] if i not in written or current.get(i) != written[i]
    ]
