"""Receivers: start the monitor on a worker's first request, feed it readiness, publish edits."""

from __future__ import annotations

import logging
from typing import Any

from django.core.signals import request_started
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from core.health.readiness import Readiness
from core.health.signals import readiness_evaluated
from core.status import services
from core.status.models import Incident, IncidentUpdate, Maintenance
from core.status.monitor import monitor, remember_readiness

logger = logging.getLogger(__name__)


@receiver(request_started, dispatch_uid="core.status.monitor")
def start_monitor(sender: Any, **kwargs: Any) -> None:
    monitor.ensure_started()


@receiver(readiness_evaluated, dispatch_uid="core.status.readiness")
def note_readiness(sender: Any, readiness: Readiness, **kwargs: Any) -> None:
    remember_readiness(readiness)


@receiver(post_save, sender=Incident, dispatch_uid="core.status.incident_saved")
@receiver(post_delete, sender=Incident, dispatch_uid="core.status.incident_deleted")
@receiver(post_save, sender=IncidentUpdate, dispatch_uid="core.status.update_saved")
@receiver(post_delete, sender=IncidentUpdate, dispatch_uid="core.status.update_deleted")
@receiver(post_save, sender=Maintenance, dispatch_uid="core.status.maintenance_saved")
@receiver(post_delete, sender=Maintenance, dispatch_uid="core.status.maintenance_deleted")
def publish_staff_changes(sender: Any, raw: bool = False, **kwargs: Any) -> None:
    """Shoppers see an edit at once: the shared document is refreshed when the save commits.

    The automation's own write-back also saves incidents; re-reading then is
    harmless (the document wins for incidents it still writes).
    """
    if not raw:
        transaction.on_commit(services.sync_from_database)
