"""/metrics and verbose health are for monitoring: allowed networks or a bearer token."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from django.test import Client
from pytest_django.fixtures import DjangoAssertNumQueries, Settings

OUTSIDE = "203.0.113.9"


@pytest.mark.parametrize("path", ["/metrics", "/readyz?verbose", "/healthz?verbose"])
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


@pytest.mark.django_db
def test_loopback_may_scrape_by_default(client: Client) -> None:
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 200


@pytest.mark.django_db
def test_an_allowed_network_may_scrape(client: Client, settings: Settings) -> None:
    settings.METRICS_ALLOWED_NETWORKS = [ip_network("203.0.113.0/24")]

    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 200


@pytest.mark.django_db
def test_the_bearer_token_lets_anyone_in(client: Client, settings: Settings) -> None:
    settings.METRICS_TOKEN = "s3cret-token"

    response = client.get(
        "/metrics", REMOTE_ADDR=OUTSIDE, headers={"Authorization": "Bearer s3cret-token"}
    )

    assert response.status_code == 200


@pytest.mark.django_db
def test_a_wrong_token_is_refused(client: Client, settings: Settings) -> None:
    settings.METRICS_TOKEN = "s3cret-token"

    response = client.get(
        "/metrics", REMOTE_ADDR=OUTSIDE, headers={"Authorization": "Bearer guess"}
    )

    assert response.status_code == 403


def test_no_token_configured_means_no_token_accepted(client: Client, settings: Settings) -> None:
    settings.METRICS_TOKEN = ""

    response = client.get("/metrics", REMOTE_ADDR=OUTSIDE, headers={"Authorization": "Bearer "})

    assert response.status_code == 403


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
