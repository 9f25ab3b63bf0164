"""Writes to the status state: alerts received, signals evaluated, PostgreSQL synced.

Every write goes through `store.mutate` (the shared document) first, so it
works while the database is down; PostgreSQL is written after, when it
answers, and caught up later when it does not.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError

from core.status import alerts as alerting
from core.status import incidents, rules
from core.status.components import COMPONENTS
from core.status.state import Document, store

logger = logging.getLogger(__name__)


def _load(now: float) -> Document:
    return incidents.rebuild(now)


@dataclass(frozen=True)
class Received:
    changed: int  # alerts that changed something
    shared: bool  # False: the shared cache failed, only this process knows (retry)


def receive_alerts(received: list[alerting.Alert], now: float | None = None) -> Received:
    """Apply Alertmanager's alerts (idempotent: the same payload twice changes nothing more)."""
    at = time.time() if now is None else now
    changed = 0

    def change(document: Document) -> None:
        nonlocal changed
        changed = alerting.apply(document, received, at)
        incidents.reconcile(document, at)

    published = store.mutate(change, load=lambda: _load(at))
    write_back()
    return Received(changed, published.shared)


def evaluate(window: rules.Window, now: float | None = None) -> Document:
    """Step every component's track towards what the fleet's signals say (hysteresis)."""
    at = time.time() if now is None else now

    def change(document: Document) -> None:
        tracks = document.setdefault("tracks", {})
        for component in COMPONENTS:
            track = rules.Track.from_dict(tracks.get(component.id, {}))
            tracks[component.id] = track.step(
                rules.assess(window, component.id),
                at,
                degrade_after=settings.STATUS_DEGRADE_AFTER,
                recover_after=settings.STATUS_RECOVER_AFTER,
            ).as_dict()
        alerting.expire(document, at)
        incidents.reconcile(document, at)
        incidents.trim(document, at)

    return store.mutate(change, load=lambda: _load(at)).document


def write_back() -> bool:
    """Copy pending automatic incidents into PostgreSQL; False while it cannot be reached."""
    document = store.shared() or store.read(max_age=0)
    if not document.get("pending_writeback"):
        return True
    try:
        written = incidents.write_back(document)
    except DatabaseError as error:
        # Every round while the database is down: the pool already says so, once.
        logger.debug("status: PostgreSQL not written yet (%s); will retry", type(error).__name__)
        return False
    store.mutate(lambda d: incidents.forget_written(d, written), load=lambda: document)
    return True


def sync_from_database(now: float | None = None) -> bool:
    """Take what staff saved (incidents, maintenance) into the shared document."""
    at = time.time() if now is None else now
    try:
        found = incidents.read_database(at)
    except DatabaseError as error:
        logger.debug(
            "status: cannot read PostgreSQL (%s); keeping the shared copy", type(error).__name__
        )
        return False
    store.mutate(lambda d: incidents.merge_database(d, *found, at), load=lambda: _load(at))
    return True
