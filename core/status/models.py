"""The durable copy of the status page: incidents, their updates, maintenance windows.

PostgreSQL is where staff write (the admin) and where everything is kept for
good; the live state shoppers read is the shared document in `state.py`,
which survives a database outage. Automatic incidents are born in that
document (possibly while the database is down) and written back here when
the database answers, keyed by their `public_id`.
"""

from __future__ import annotations

import secrets

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.urls import reverse
from django.utils import timezone

from core.status.components import COMPONENTS, Impact


def new_public_id() -> str:
    """Statuspage-style opaque id: published in summary.json and the feed, never reused."""
    return secrets.token_hex(6)


COMPONENT_CHOICES = [(component.id, component.name) for component in COMPONENTS]


class IncidentStatus(models.TextChoices):
    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"


class Source(models.TextChoices):
    STAFF = "staff", "Staff"
    SIGNALS = "signals", "Automatic (the app's own signals and alerts)"


class Incident(models.Model):
    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=200)
    status = models.CharField(
        max_length=16,
        choices=IncidentStatus.choices,
        default=IncidentStatus.INVESTIGATING,
        help_text="Follows the latest update.",
    )
    impact = models.CharField(
        max_length=8,
        choices=[(impact.value, impact.value.title()) for impact in Impact],
        default=Impact.MINOR.value,
        help_text="Sets the chosen components' status while the incident is open: "
        "minor = degraded performance, major = partial outage, critical = major outage.",
    )
    components = ArrayField(
        models.CharField(max_length=32, choices=COMPONENT_CHOICES), default=list, blank=True
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.STAFF)
    automated = models.BooleanField(
        default=False,
        help_text="The automation still writes this incident. Saving it here hands it to "
        "staff for good (docs/communication-plan.md).",
    )
    postmortem_url = models.URLField(blank=True, help_text="Optional, once written.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("status:incident", args=[self.public_id])


class IncidentUpdate(models.Model):
    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    status = models.CharField(max_length=16, choices=IncidentStatus.choices)
    body = models.TextField(help_text="What shoppers read on the page and in the banner.")
    created_at = models.DateTimeField(default=timezone.now)
    display_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-display_at", "-id")

    def __str__(self) -> str:
        return f"{self.get_status_display()}: {self.body[:60]}"


class Maintenance(models.Model):
    """A planned window: its components are under maintenance between the two times, by itself."""

    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=200)
    body = models.TextField(help_text="What shoppers read: what changes, what they cannot do.")
    components = ArrayField(
        models.CharField(max_length=32, choices=COMPONENT_CHOICES), default=list
    )
    scheduled_for = models.DateTimeField()
    scheduled_until = models.DateTimeField()
    cancelled = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-scheduled_for",)
        constraints = (
            models.CheckConstraint(
                condition=models.Q(scheduled_until__gt=models.F("scheduled_for")),
                name="status_maintenance_ends_after_it_starts",
            ),
        )

    def __str__(self) -> str:
        return self.name
