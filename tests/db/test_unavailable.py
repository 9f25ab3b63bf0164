"""No connection to be had: a 503 with Retry-After, HTML for shoppers, JSON for the API."""

from __future__ import annotations

import json

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from core.db.backends.postgresql.errors import DatabaseUnavailable, PoolRejected, PoolTimeout
from core.http.unavailable import ServiceUnavailableMiddleware, server_error

middleware = ServiceUnavailableMiddleware(lambda request: HttpResponse())


def test_a_busy_pool_gives_shoppers_a_friendly_503(rf: RequestFactory) -> None:
    response = middleware.process_exception(rf.get("/widgets/"), PoolTimeout("busy"))

    assert response is not None
    assert (response.status_code, response["Retry-After"]) == (503, "2")
    assert b"very busy" in response.content


def test_api_clients_get_json(rf: RequestFactory) -> None:
    response = middleware.process_exception(rf.get("/api/widgets/"), PoolRejected("full"))

    assert response is not None
    assert json.loads(response.content)["error"] == "busy"


def test_a_database_outage_says_so_and_asks_for_a_longer_pause(rf: RequestFactory) -> None:
    response = middleware.process_exception(rf.get("/"), DatabaseUnavailable("down"))

    assert response is not None
    assert (response["Retry-After"], b"stock room" in response.content) == ("5", True)


def test_503_pages_are_never_cached(rf: RequestFactory) -> None:
    response = middleware.process_exception(rf.get("/"), PoolTimeout("busy"))

    assert response is not None
    assert "no-store" in response["Cache-Control"]


def test_other_errors_are_left_alone(rf: RequestFactory) -> None:
    assert middleware.process_exception(rf.get("/"), ValueError("bug")) is None


def test_outside_a_view_the_500_handler_still_answers_503(rf: RequestFactory) -> None:
    try:
        raise PoolTimeout("busy in a middleware")
    except PoolTimeout:
        response = server_error(rf.get("/"))

    assert response.status_code == 503


@pytest.mark.django_db
def test_a_real_error_still_gets_the_500_page(rf: RequestFactory) -> None:
    try:
        raise ValueError("bug")
    except ValueError:
        response = server_error(rf.get("/"))

    assert response.status_code == 500
