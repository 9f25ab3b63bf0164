"""The admin site: django-otp's, with every wrong one-time code counted as a failed login."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.ratelimit.limiter import limit
from core.ratelimit.views import too_many_requests


class StaffLoginForm(OTPAdminAuthenticationForm):
    """django-otp's admin login, with a wrong code counted by the lockout like a wrong password.

    django-axes counts `user_login_failed`, which Django sends for a wrong
    password only: without this, whoever had a password could try codes for
    ever. Sent for the username tried, so the lockout stays per username and
    address.
    """

    def _chosen_device(self, user: Any) -> Any:
        """The device the code belongs to, so staff type a code and never pick from a list.

        Six digits come from the authenticator app; anything else is a backup
        code. django-otp asks for an explicit device rather than trying each
        (a failed try throttles the others); the code's shape is that choice.
        """
        chosen = super()._chosen_device(user)
        if chosen is not None:
            return chosen
        token = str(self.cleaned_data.get("otp_token") or "")
        kind = TOTPDevice if token.isascii() and token.isdigit() else StaticDevice
        return kind.objects.filter(user=user, confirmed=True).first()

    def clean_otp(self, user: Any) -> None:
        try:
            super().clean_otp(user)
        except ValidationError:
            if self.data.get("otp_token"):
                user_login_failed.send(
                    sender=type(self),
                    credentials={"username": self.data.get("username", "")},
                    request=self.request,
                )
            raise


class StaffAdminSite(OTPAdminSite):
    login_form = StaffLoginForm
    site_header = "WidgetWorld back office"
    site_title = "WidgetWorld back office"

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """Each attempt hashes a password: one address gets only so many (`admin-login`)."""
        if request.method == "POST":
            verdict = limit("admin-login").hit(request)
            if not verdict.allowed:
                return too_many_requests(request, verdict)
        return super().login(request, extra_context)
