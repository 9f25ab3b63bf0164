"""Logging staff in the way the back office demands: a password and a current one-time code."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

PASSWORD = "correct horse battery staple"


def make_staff(username: str = "ada", *, superuser: bool = True) -> tuple[User, TOTPDevice]:
    user = User.objects.create_user(
        username, f"{username}@example.com", PASSWORD, is_staff=True, is_superuser=superuser
    )
    return user, TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def current_code(device: TOTPDevice) -> str:
    device.refresh_from_db()
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return f"{code:0{device.digits}d}"


def log_in(
    client: Client,
    username: str,
    *,
    password: str = PASSWORD,
    code: str = "",
    address: str = "127.0.0.1",
    admin: str = "/admin/",
) -> Any:
    return client.post(
        f"{admin}login/?next={admin}",
        {"username": username, "password": password, "otp_token": code},
        REMOTE_ADDR=address,
    )
