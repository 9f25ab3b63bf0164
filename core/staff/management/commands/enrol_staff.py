"""Enrol a staff member's authenticator (TOTP) from a terminal: how the first superuser gets in.

The admin asks every login for a one-time code, so nobody can log in to
enrol the first device there. This creates or updates the account, gives it
a TOTP key and ten single-use backup codes, and prints the key as a QR code
and an otpauth:// link for the authenticator app.
"""

from __future__ import annotations

import getpass
import io
import os
import sys
from typing import Any

import qrcode
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

BACKUP_CODES = 10
# As Django's createsuperuser reads it, for scripted set-ups.
PASSWORD_VARIABLE = "DJANGO_SUPERUSER_PASSWORD"


class Command(BaseCommand):
    help = "Create or update a staff account and enrol its authenticator app (TOTP)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--superuser", action="store_true", help="all permissions")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="issue a new key even though one is enrolled (a lost phone)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model().objects
        username: str = options["username"]
        with transaction.atomic():
            user = users.filter(username=username).first()
            if user is None:
                user = users.model(username=username, email=options["email"])
                user.set_password(self._new_password(user))
            elif TOTPDevice.objects.filter(user=user, confirmed=True).exists():
                if not options["replace"]:
                    raise CommandError(
                        f"{username} already has an authenticator: --replace issues a new key"
                    )
                TOTPDevice.objects.filter(user=user).delete()
                StaticDevice.objects.filter(user=user).delete()
            user.is_staff = True
            if options["superuser"]:
                user.is_superuser = True
            user.save()
            device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
            backup = StaticDevice.objects.create(user=user, name="backup codes", confirmed=True)
            codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
            StaticToken.objects.bulk_create(StaticToken(device=backup, token=c) for c in codes)
        self._show(username, device.config_url, codes)

    def _new_password(self, user: Any) -> str:
        password = os.environ.get(PASSWORD_VARIABLE)
        if password is None:
            if not sys.stdin.isatty():
                raise CommandError(f"a new account needs a password: set {PASSWORD_VARIABLE}")
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("the passwords differ")
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        return password

    def _show(self, username: str, url: str, codes: list[str]) -> None:
        qr = qrcode.QRCode(border=1)
        qr.add_data(url)
        drawn = io.StringIO()
        qr.print_ascii(out=drawn)
        self.stdout.write(
            f"Scan this with {username}'s authenticator app (or enter the link):\n\n"
            f"{drawn.getvalue()}\n{url}\n\n"
            "Single-use backup codes, for a lost phone (keep them somewhere safe):\n  "
            + "\n  ".join(codes)
            + "\n"
        )
