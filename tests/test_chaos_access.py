"""Chaos endpoints hold database connections on purpose: tests only, POST only, internal only."""

from __future__ import annotations

import pytest
from django.test import Client

OUTSIDE = "203.0.113.9"


@pytest.mark.django_db
def test_an_internal_post_holds_as_asked(client: Client) -> None:
    response = client.post("/_chaos/query?seconds=0", REMOTE_ADDR="127.0.0.1")

    assert (response.status_code, response.content) == (200, b"ok\n")


@pytest.mark.django_db
def test_a_get_is_refused(client: Client) -> None:
    response = client.get("/_chaos/query?seconds=0", REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 405


@pytest.mark.django_db
def test_an_outsider_is_refused(client: Client) -> None:
    response = client.post("/_chaos/query?seconds=0", REMOTE_ADDR=OUTSIDE)

    assert response.status_code == 403
