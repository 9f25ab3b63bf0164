"""/metrics (on its own port) and verbose health are for monitoring: networks or a token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from ipaddress import ip_network

import pytest
from django.test import Client
from pytest_django.fixtures import DjangoAssertNumQueries, Settings

from core.metrics.exporter import MetricsServer, metrics_app
from devtools.servers import Answer, http_get

OUTSIDE = "203.0.113.9"


@pytest.mark.parametrize("path", ["/readyz?verbose", "/healthz?verbose"])
@pytest.mark.django_db
def test_an_outsider_gets_403_and_costs_no_database_work(
    client: Client, django_assert_num_queries: DjangoAssertNumQueries, path: str
) -> None:
    with django_assert_num_queries(0):
        response = client.get(path, REMOTE_ADDR=OUTSIDE)

    assert response.status_code == 403


@pytest.mark.django_db
def test_json_health_is_verbose_too(client: Client) -> None:
    response = client.get("/readyz", REMOTE_ADDR=OUTSIDE, headers={"Accept": "application/json"})

    assert response.status_code == 403


@pytest.fixture
def exporter() -> Iterator[Callable[..., Answer]]:
    """The master's /metrics listener in this process: scrape(networks, token, headers)."""
    servers: list[MetricsServer] = []

    def scrape(
        networks: list[str], token: str = "", headers: dict[str, str] | None = None
    ) -> Answer:
        app = metrics_app([ip_network(n) for n in networks], token)
        servers.append(MetricsServer("127.0.0.1", 0, app).start())
        return http_get(f"http://127.0.0.1:{servers[-1].port}/metrics", headers=headers)

    yield scrape
    for server in servers:
        server.stop()


@pytest.mark.django_db
def test_the_shops_port_has_no_metrics(client: Client) -> None:
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


def test_loopback_may_scrape_by_default(exporter: Callable[..., Answer]) -> None:
    answer = exporter(["127.0.0.0/8", "::1/128"])

    assert (answer.status, b"# HELP" in answer.body) == (200, True)


def test_another_network_may_not(exporter: Callable[..., Answer]) -> None:
    assert exporter(["203.0.113.0/24"]).status == 403


def test_the_bearer_token_lets_anyone_in(exporter: Callable[..., Answer]) -> None:
    answer = exporter([], "s3cret-token", {"Authorization": "Bearer s3cret-token"})

    assert answer.status == 200


def test_a_wrong_token_is_refused(exporter: Callable[..., Answer]) -> None:
    answer = exporter([], "s3cret-token", {"Authorization": "Bearer guess"})

    assert answer.status == 403


def test_no_token_configured_means_no_token_accepted(exporter: Callable[..., Answer]) -> None:
    assert exporter([], "", {"Authorization": "Bearer "}).status == 403


@pytest.mark.django_db
def test_plain_readiness_is_public(client: Client) -> None:
    response = client.get("/readyz", REMOTE_ADDR=OUTSIDE)

    assert (response.status_code, response.content) == (200, b"ok\n")


@pytest.mark.django_db
def test_a_request_relayed_by_our_proxy_is_never_internal(
    client: Client, settings: Settings
) -> None:
    settings.TRUSTED_PROXIES = [ip_network("127.0.0.1/32")]

    response = client.get("/readyz?verbose", REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 403
