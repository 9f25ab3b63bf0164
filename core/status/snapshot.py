"""What the page, the feed and the banner show, derived from the document at one instant.

Pure: a function of the shared document and `now`. Maintenance windows
start and end here, by the clock, with nobody clicking: a window whose time
has come puts its components under maintenance at the next read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.status.components import (
    BY_ID,
    COMPONENTS,
    INDICATOR,
    ComponentStatus,
    Impact,
    worst,
)
from core.status.state import Document

RESOLVED = "resolved"


def moment(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


@dataclass(frozen=True)
class ComponentView:
    id: str
    name: str
    description: str
    position: int
    status: ComponentStatus
    updated_at: datetime | None


@dataclass(frozen=True)
class Banner:
    """One line on every storefront page, and how loudly to say it."""

    kind: str  # "incident" or "maintenance"
    title: str
    body: str
    role: str  # "alert" for a major outage, else "status"
    severity: str  # the page indicator: minor, major, critical, maintenance


@dataclass(frozen=True)
class Snapshot:
    now: datetime
    as_of: datetime | None  # when the document last changed
    components: tuple[ComponentView, ...]
    indicator: str
    description: str
    incidents: tuple[dict[str, Any], ...]  # unresolved first, then recent, newest first
    maintenances: tuple[dict[str, Any], ...]  # in progress, then upcoming

    @property
    def unresolved(self) -> tuple[dict[str, Any], ...]:
        return tuple(i for i in self.incidents if i["status"] != RESOLVED)

    @property
    def resolved(self) -> tuple[dict[str, Any], ...]:
        return tuple(i for i in self.incidents if i["status"] == RESOLVED)

    @property
    def active_maintenances(self) -> tuple[dict[str, Any], ...]:
        return tuple(m for m in self.maintenances if m["status"] == "in_progress")

    @property
    def upcoming_maintenances(self) -> tuple[dict[str, Any], ...]:
        return tuple(m for m in self.maintenances if m["status"] == "scheduled")

    @property
    def banner(self) -> Banner | None:
        if self.unresolved:
            incident = self.unresolved[0]
            latest = incident["updates"][0]["body"] if incident["updates"] else ""
            return Banner(
                kind="incident",
                title=incident["name"],
                body=latest,
                role="alert" if self.indicator == "critical" else "status",
                severity=self.indicator if self.indicator != "none" else "minor",
            )
        if self.active_maintenances:
            window = self.active_maintenances[0]
            return Banner(
                kind="maintenance",
                title=window["name"],
                body=window["body"],
                role="status",
                severity="maintenance",
            )
        return None


def maintenance_status(window: dict[str, Any], now: float) -> str:
    """scheduled, in_progress or completed, from the clock alone."""
    if window.get("cancelled") or now >= window["scheduled_until"]:
        return "completed"
    return "in_progress" if now >= window["scheduled_for"] else "scheduled"


def under_maintenance(document: Document, now: float) -> set[str]:
    return {
        component
        for window in document.get("maintenances", [])
        if maintenance_status(window, now) == "in_progress"
        for component in window["components"]
    }


def automatic_statuses(document: Document, now: float) -> dict[str, ComponentStatus]:
    """Signals and alerts per component; components under maintenance are left out.

    Planned work makes the database look down: automation stays quiet on what
    staff said is being worked on.
    """
    resting = under_maintenance(document, now)
    statuses: dict[str, list[ComponentStatus]] = {c.id: [] for c in COMPONENTS}
    for component, track in document.get("tracks", {}).items():
        if component in statuses:
            statuses[component].append(ComponentStatus(track["status"]))
    for alert in document.get("alerts", {}).values():
        for component in alert["components"]:
            if component in statuses:
                statuses[component].append(ComponentStatus(alert["component_status"]))
    return {c: worst(s) for c, s in statuses.items() if c not in resting}


def component_statuses(document: Document, now: float) -> dict[str, ComponentStatus]:
    """Each component's status: staff's open incidents, then maintenance, then automation."""
    automatic = automatic_statuses(document, now)
    resting = under_maintenance(document, now)
    result: dict[str, ComponentStatus] = {}
    for component in COMPONENTS:
        said_by_staff = [
            Impact(incident["impact"]).component_status
            for incident in document.get("incidents", [])
            if incident["status"] != RESOLVED
            and not incident.get("automated")
            and component.id in incident["components"]
        ]
        if component.id in resting:
            status = worst([*said_by_staff, ComponentStatus.UNDER_MAINTENANCE])
        else:
            status = worst([*said_by_staff, automatic[component.id]])
        result[component.id] = status
    return result


def build(document: Document, now: float) -> Snapshot:
    statuses = component_statuses(document, now)
    changed = document.get("components", {})
    views = tuple(
        ComponentView(
            id=c.id,
            name=c.name,
            description=c.description,
            position=c.position,
            status=statuses[c.id],
            updated_at=moment(
                changed[c.id]["at"]
                if c.id in changed and changed[c.id]["status"] == statuses[c.id]
                else now
            ),
        )
        for c in COMPONENTS
    )
    overall = worst(list(statuses.values()))
    indicator, description = INDICATOR[overall]
    incidents = sorted(
        document.get("incidents", []),
        key=lambda i: (i["status"] == RESOLVED, -i["created_at"]),
    )
    maintenances = []
    for window in document.get("maintenances", []):
        status = maintenance_status(window, now)
        if status != "completed" or now - window["scheduled_until"] < 7 * 86400:
            maintenances.append({**window, "status": status})
    maintenances.sort(
        key=lambda m: ({"in_progress": 0, "scheduled": 1}.get(m["status"], 2), m["scheduled_for"])
    )
    return Snapshot(
        now=moment(now) or datetime.now(UTC),
        as_of=moment(document.get("updated_at")),
        components=views,
        indicator=indicator,
        description=description,
        incidents=tuple(incidents),
        maintenances=tuple(maintenances),
    )


def component_names(ids: list[str]) -> str:
    names = [BY_ID[i].name for i in ids if i in BY_ID] or ["the shop"]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
