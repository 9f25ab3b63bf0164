"""`OPTIONS["host_name"]` (WIDGETWORLD_HOST_NAME): the `<host>` the fleet is counted by."""

from __future__ import annotations

import os

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from core.db.backends.postgresql.base import DatabaseWrapper
from core.db.backends.postgresql.budget import application_name


def test_the_host_defaults_to_the_machines_name() -> None:
    assert application_name("widgetworld").split("/")[1] == os.uname().nodename


def test_a_long_host_name_keeps_the_pid_within_63_characters() -> None:
    name = application_name("widgetworld", host="web-" + "x" * 80)

    assert (len(name), name.endswith(f"/{os.getpid()}")) == (63, True)


@pytest.mark.django_db
def test_connections_carry_the_configured_host_name() -> None:
    settings = {
        **connection.settings_dict,
        "OPTIONS": {
            **connection.settings_dict["OPTIONS"],
            "host_name": "web-7c9f-x2k4q",
            # Its own connection, not the alias' pool, which others share.
            "pool": False,
        },
    }
    wrapper = DatabaseWrapper(settings)
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("SHOW application_name")
            shown = cursor.fetchone()[0]
    finally:
        wrapper.close()

    assert shown == f"widgetworld/web-7c9f-x2k4q/{os.getpid()}"


def test_a_host_name_with_a_slash_is_refused() -> None:
    settings = {**connection.settings_dict, "OPTIONS": {"host_name": "rack/7"}}

    with pytest.raises(ImproperlyConfigured, match="host_name must be a name without '/'"):
        DatabaseWrapper(settings, alias="host_name_test")
