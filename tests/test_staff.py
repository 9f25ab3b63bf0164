"""The back office: a second factor, a lockout never turned on staff, revocable sessions."""

from __future__ import annotations

import datetime as dt
import importlib
import io
import os
from collections.abc import Iterator

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import clear_url_caches
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from pytest_django.fixtures import Settings

from core.staff.models import StaffSession
from tests.staff import PASSWORD, current_code, log_in, make_staff

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.66"
OFFICE = "198.51.100.7"


def logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def test_a_password_alone_does_not_open_the_admin(client: Client) -> None:
    user, _ = make_staff()

    log_in(client, user.username)

    assert not logged_in(client)


def test_a_password_and_a_current_code_open_the_admin(client: Client) -> None:
    user, device = make_staff()

    log_in(client, user.username, code=current_code(device))

    assert logged_in(client)


def test_repeated_wrong_passwords_lock_that_username_at_that_address(client: Client) -> None:
    user, device = make_staff()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, user.username, password="guess", address=ATTACKER)

    locked = log_in(client, user.username, code=current_code(device), address=ATTACKER)

    assert (locked.status_code, locked["Retry-After"]) == (
        429,
        str(int(settings.AXES_COOLOFF_TIME.total_seconds())),
    )


def test_wrong_codes_count_towards_the_lockout(client: Client) -> None:
    user, device = make_staff()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, user.username, code="000000", address=ATTACKER)

    locked = log_in(client, user.username, code=current_code(device), address=ATTACKER)

    assert locked.status_code == 429


def test_an_attackers_lockout_never_locks_staff_out_elsewhere(client: Client) -> None:
    user, device = make_staff()
    for _ in range(settings.AXES_FAILURE_LIMIT + 3):
        log_in(client, user.username, password="guess", address=ATTACKER)

    log_in(client, user.username, code=current_code(device), address=OFFICE)

    assert logged_in(client)


def test_a_lockout_ends_after_the_cool_off(client: Client) -> None:
    user, device = make_staff()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, user.username, password="guess", address=ATTACKER)
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1)
    )

    log_in(client, user.username, code=current_code(device), address=ATTACKER)

    assert logged_in(client)


def test_logging_out_revokes_every_copy_of_the_session_cookie(client: Client) -> None:
    user, device = make_staff()
    log_in(client, user.username, code=current_code(device))
    stolen = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.post("/admin/logout/")

    thief = Client()
    thief.cookies[settings.SESSION_COOKIE_NAME] = stolen

    assert not logged_in(thief)


def test_a_revoked_session_is_logged_out_at_its_next_request(client: Client) -> None:
    user, device = make_staff()
    log_in(client, user.username, code=current_code(device))

    call_command("revoke_staff_sessions", "--user", user.username, stdout=io.StringIO())

    assert not logged_in(client)


def test_a_staff_session_ends_when_it_expires(client: Client) -> None:
    user, device = make_staff()
    log_in(client, user.username, code=current_code(device))

    StaffSession.objects.update(expires_at=timezone.now())

    assert not logged_in(client)


def test_a_staff_cookie_lasts_no_longer_than_the_session(client: Client) -> None:
    user, device = make_staff()
    log_in(client, user.username, code=current_code(device))

    max_age = int(client.cookies[settings.SESSION_COOKIE_NAME]["max-age"])

    assert max_age <= settings.STAFF_SESSION_HOURS * 3600


@pytest.fixture
def admin_at_back_office(settings: Settings) -> Iterator[None]:
    import widgetworld.urls

    settings.ADMIN_PATH = "back-office"
    importlib.reload(widgetworld.urls)
    clear_url_caches()
    yield
    settings.ADMIN_PATH = "admin"
    importlib.reload(widgetworld.urls)
    clear_url_caches()


@pytest.mark.usefixtures("admin_at_back_office")
def test_the_admin_lives_at_ADMIN_PATH(client: Client) -> None:  # noqa: N802
    moved = client.get("/back-office/login/")
    old = client.get("/admin/login/")

    assert (moved.status_code, old.status_code) == (200, 404)


def test_enrol_staff_creates_the_first_superuser_with_an_authenticator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    out = io.StringIO()

    call_command("enrol_staff", "grace", "--superuser", stdout=out)

    device = TOTPDevice.objects.get(user__username="grace")
    assert (
        device.user.is_superuser,
        device.confirmed,
        "otpauth://totp/" in out.getvalue(),
        StaticToken.objects.filter(device__user=device.user).count(),
    ) == (True, True, True, 10)


def test_an_enrolled_superuser_can_log_in_with_a_backup_code(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("enrol_staff", "grace", "--superuser", stdout=io.StringIO())
    code = StaticToken.objects.filter(device__user__username="grace").first()
    assert code is not None

    log_in(client, "grace", code=code.token)

    assert logged_in(client)


def test_enrolling_twice_needs_replace() -> None:
    os.environ.setdefault("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    user, _ = make_staff("grace")

    with pytest.raises(CommandError, match="--replace"):
        call_command("enrol_staff", user.username, stdout=io.StringIO())
