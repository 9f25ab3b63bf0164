"""What shoppers see as separate parts of the shop, and the vocabulary of their states.

Components are fixed in code, not edited in the admin: each one's state is
derived from the requests it serves (`classify`), so adding one means adding
the signals that drive it. Their ids are stable strings, published in
`summary.json` and used by alert labels (`component="storefront"`).

Written by hand: the state names, impact levels and indicator wording are
Atlassian Statuspage's public v2 vocabulary, so existing widgets read ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ComponentStatus(StrEnum):
    OPERATIONAL = "operational"
    UNDER_MAINTENANCE = "under_maintenance"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"

    @property
    def rank(self) -> int:
        """Worse is larger; maintenance is planned, so it ranks below any failure."""
        return _RANK[self]

    @property
    def label(self) -> str:
        return _LABEL[self]


_RANK = {status: rank for rank, status in enumerate(ComponentStatus)}
_LABEL = {
    ComponentStatus.OPERATIONAL: "Operational",
    ComponentStatus.UNDER_MAINTENANCE: "Under maintenance",
    ComponentStatus.DEGRADED_PERFORMANCE: "Degraded performance",
    ComponentStatus.PARTIAL_OUTAGE: "Partial outage",
    ComponentStatus.MAJOR_OUTAGE: "Major outage",
}


def worst(statuses: list[ComponentStatus]) -> ComponentStatus:
    return max(statuses, key=lambda status: status.rank, default=ComponentStatus.OPERATIONAL)


class Impact(StrEnum):
    """An incident's impact, as Statuspage names it; it sets its components' status."""

    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"

    @property
    def component_status(self) -> ComponentStatus:
        return _IMPACT_STATUS[self]

    @classmethod
    def of(cls, status: ComponentStatus) -> Impact:
        return {
            ComponentStatus.DEGRADED_PERFORMANCE: cls.MINOR,
            ComponentStatus.PARTIAL_OUTAGE: cls.MAJOR,
            ComponentStatus.MAJOR_OUTAGE: cls.CRITICAL,
        }.get(status, cls.NONE)


_IMPACT_STATUS = {
    Impact.NONE: ComponentStatus.OPERATIONAL,
    Impact.MINOR: ComponentStatus.DEGRADED_PERFORMANCE,
    Impact.MAJOR: ComponentStatus.PARTIAL_OUTAGE,
    Impact.CRITICAL: ComponentStatus.MAJOR_OUTAGE,
}

# The page's overall indicator and its words, from the worst component.
INDICATOR = {
    ComponentStatus.OPERATIONAL: ("none", "All Systems Operational"),
    ComponentStatus.UNDER_MAINTENANCE: ("maintenance", "Service Under Maintenance"),
    ComponentStatus.DEGRADED_PERFORMANCE: ("minor", "Minor Service Outage"),
    ComponentStatus.PARTIAL_OUTAGE: ("major", "Partial System Outage"),
    ComponentStatus.MAJOR_OUTAGE: ("critical", "Major Service Outage"),
}


@dataclass(frozen=True)
class Component:
    id: str
    name: str
    description: str
    position: int


COMPONENTS: tuple[Component, ...] = (
    Component("storefront", "Storefront", "Browsing the shop: home, departments, widgets.", 1),
    Component("search", "Search", "Finding widgets by name, SKU or description.", 2),
    Component("cart-checkout", "Cart & checkout", "Your cart, and placing orders.", 3),
    Component("api", "API", "The read-only catalog API for integrations.", 4),
)
BY_ID = {component.id: component for component in COMPONENTS}

# Paths that serve no shopper (probes, metrics, staff, this page) count for no component.
_NOT_SHOPPING = (
    "/livez",
    "/readyz",
    "/healthz",
    "/metrics",
    "/_chaos/",
    "/admin/",
    "/static/",
    "/status/",
    "/.well-known/",
    "/favicon",
)
_PREFIXES = (
    ("/search/", "search"),
    ("/cart/", "cart-checkout"),
    ("/checkout/", "cart-checkout"),
    ("/api/", "api"),
)


def classify(path: str) -> str | None:
    """The component a request path belongs to, or None for the site's own plumbing."""
    if path.startswith(_NOT_SHOPPING):
        return None
    for prefix, component in _PREFIXES:
        if path.startswith(prefix):
            return component
    return "storefront"
