"""Staff sessions the server can end, while shoppers' sessions stay cookie-only."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class StaffSessionQuerySet(models.QuerySet["StaffSession"]):
    def live(self) -> StaffSessionQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class StaffSession(models.Model):
    """One staff login: valid until it expires or is revoked, whatever the cookie says.

    The session itself stays a signed cookie (shoppers' carts cost no database
    write); the cookie carries this row's random `key`, and every
    authenticated request checks the row. Logging out, or revoking, ends it
    for every copy of the cookie.
    """

    key = models.CharField(max_length=64, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_sessions"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)

    objects = StaffSessionQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at",)
        indexes = (models.Index(fields=["user", "revoked_at"], name="staffsession_user_idx"),)

    def __str__(self) -> str:
        return f"{self.user} since {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def live(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
