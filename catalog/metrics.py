"""What the shop's orders are doing, for the unusual-velocity alert and the dashboard.

Counters only (they sum across gunicorn workers): `rate()` of placed orders
and units against the same hour's usual pace is what the alert compares.
"""

from __future__ import annotations

from prometheus_client import Counter

ORDERS_PLACED = Counter("widgetworld_orders_placed_total", "Orders placed at checkout.")
ORDER_UNITS = Counter("widgetworld_order_units_total", "Units of stock taken by placed orders.")
ORDERS_CANCELLED = Counter(
    "widgetworld_orders_cancelled_total",
    "Orders cancelled (by staff or an expired hold); their stock went back.",
)
HOLDS_RELEASED = Counter(
    "widgetworld_order_holds_released_total",
    "Orders awaiting payment whose hold expired: cancelled, stock returned.",
)
