"""The status page and the banner with the shared cache server really stopped.

Each process keeps the last state it read, so shoppers are still told; what
cannot reach the other workers is refused to Alertmanager, which retries.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings

from devtools.localcache import CacheServer
from tests.conftest import MakeCacheServer
from tests.status.conftest import PostAlerts, alert, payload

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

_serial = itertools.count()


@pytest.fixture
def status_cache(make_cache_server: MakeCacheServer, settings: Any) -> Iterator[CacheServer]:
    """The status state on a private server (and an alias, so a breaker, of its own)."""
    server = make_cache_server()
    alias = f"status-{next(_serial)}"
    entry = {**settings.CACHES["default"], "LOCATION": server.url}
    with override_settings(CACHES={**settings.CACHES, alias: entry}):
        settings.STATUS_CACHE_ALIAS = alias
        # Every read asks the cache, so a stopped server is noticed at once.
        settings.STATUS_LOCAL_TTL = 0
        yield server


def test_the_banner_outlives_the_cache_server(
    status_cache: CacheServer, client: Client, post_alerts: PostAlerts
) -> None:
    post_alerts(payload(alert()))
    client.get("/status/")
    status_cache.stop()
    pages = [client.get(path) for path in ("/cart/", "/status/", "/status/summary.json")]
    assert [(page.status_code, b"Some requests failing" in page.content) for page in pages] == [
        (200, True)
    ] * 3


def test_alertmanager_is_asked_to_retry_what_the_cache_did_not_take(
    status_cache: CacheServer, post_alerts: PostAlerts
) -> None:
    post_alerts(payload(alert()))
    status_cache.stop()
    response = post_alerts(payload(alert(status="resolved")))
    assert (response.status_code, response["Retry-After"]) == (503, "5")
