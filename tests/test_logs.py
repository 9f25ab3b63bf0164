"""Logs: a request id from the edge to every line, JSON for collectors, no per-request noise."""

from __future__ import annotations

import json
import logging
import re
from ipaddress import ip_network

import pytest
from django.test import Client
from gunicorn.glogging import SafeAtoms
from pytest_django.fixtures import Settings

from core.logs.config import ACCESS_LOG_FORMAT, gunicorn_logging
from core.logs.context import DropServiceUnavailable, RequestIdFilter, request_id
from core.logs.formatters import AccessJsonFormatter


def test_a_request_gets_an_id_in_the_response(client: Client) -> None:
    response = client.get("/livez")

    assert len(response["X-Request-ID"]) == 32


def test_a_trusted_proxys_request_id_is_kept(client: Client, settings: Settings) -> None:
    settings.TRUSTED_PROXIES = [ip_network("10.0.0.0/8")]

    response = client.get(
        "/livez", headers={"X-Request-ID": "edge-7f3a.42"}, REMOTE_ADDR="10.1.2.3"
    )

    assert response["X-Request-ID"] == "edge-7f3a.42"


def test_a_clients_own_request_id_gets_a_server_part(client: Client, settings: Settings) -> None:
    settings.TRUSTED_PROXIES = [ip_network("10.0.0.0/8")]

    response = client.get(
        "/livez", headers={"X-Request-ID": "edge-7f3a.42"}, REMOTE_ADDR="203.0.113.9"
    )

    assert re.fullmatch(r"edge-7f3a\.42\.[0-9a-f]{12}", response["X-Request-ID"])


@pytest.mark.parametrize("incoming", ['"><script>', "a b", "x" * 200, "line\nbreak", ""], ids=repr)
def test_an_insane_incoming_request_id_is_replaced(client: Client, incoming: str) -> None:
    response = client.get("/livez", headers={"X-Request-ID": incoming})

    assert response["X-Request-ID"] not in (incoming, "")


def record(message: str = "hello", **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("core.db.pool", logging.WARNING, __file__, 1, message, None, None)
    rec.__dict__.update(extra)
    return rec


def test_log_lines_carry_the_current_request_id() -> None:
    token = request_id.set("abc123")
    try:
        rec = record()
        RequestIdFilter().filter(rec)
    finally:
        request_id.reset(token)

    assert rec.request_id == "abc123"  # type: ignore[attr-defined]


def test_log_lines_outside_a_request_say_so() -> None:
    rec = record()
    RequestIdFilter().filter(rec)

    assert rec.request_id == "-"  # type: ignore[attr-defined]


def test_djangos_line_per_503_is_dropped_but_500s_are_kept() -> None:
    drop = DropServiceUnavailable()

    assert (drop.filter(record(status_code=503)), drop.filter(record(status_code=500))) == (
        False,
        True,
    )


def gunicorn_access_record() -> logging.LogRecord:
    """A record exactly as gunicorn's Logger.access() makes it."""
    atoms = SafeAtoms(
        {
            "h": "10.1.2.3",
            "m": "GET",
            "U": "/catalog/",
            "q": "page=2",
            "s": "200",
            "B": 512,
            "M": 12,
            "a": "curl/8",
            "r": "GET /catalog/?page=2 HTTP/1.1",
            "b": "512",
            "{x-request-id}o": "rid-1",
        }
    )
    return logging.LogRecord(
        "gunicorn.access", logging.INFO, __file__, 1, ACCESS_LOG_FORMAT, (atoms,), None
    )


def test_gunicorns_access_log_becomes_json_fields() -> None:
    config = gunicorn_logging("json", "INFO", access_log=True)["formatters"]["json_access"]
    formatter = AccessJsonFormatter(config["fmt"], rename_fields=config["rename_fields"])

    line = json.loads(formatter.format(gunicorn_access_record()))

    assert {k: line[k] for k in ("logger", "method", "path", "status", "request_id")} == {
        "logger": "gunicorn.access",
        "method": "GET",
        "path": "/catalog/",
        "status": 200,
        "request_id": "rid-1",
    }


def test_turning_the_access_log_off_silences_gunicorns_access_logger() -> None:
    access = gunicorn_logging("json", "INFO", access_log=False)["loggers"]["gunicorn.access"]

    assert (access["handlers"], access["level"]) == ([], "WARNING")


def test_djangos_own_response_lines_carry_the_request_id(client: Client) -> None:
    stamped: list[str] = []

    class Capture(logging.Handler):
        def emit(self, rec: logging.LogRecord) -> None:
            RequestIdFilter().filter(rec)
            stamped.append(rec.request_id)  # type: ignore[attr-defined]

    handler = Capture()
    logging.getLogger("django.request").addHandler(handler)
    try:
        response = client.get("/no-such-page/", headers={"X-Request-ID": "rid-404"})
    finally:
        logging.getLogger("django.request").removeHandler(handler)

    assert (response.status_code, stamped) == (404, [response["X-Request-ID"]])


def test_the_request_id_is_forgotten_when_the_response_closes(client: Client) -> None:
    client.get("/livez")

    assert request_id.get() is None
