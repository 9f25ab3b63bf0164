"""Django's RedisCache with one redis-py client per connection pool (core/cache/backends.py)."""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache import caches

from devtools.localcache import CacheServer


def test_every_call_of_a_thread_reuses_one_client(cache_server: CacheServer) -> None:
    backend: Any = caches["default"]

    assert backend._cache.get_client("a") is backend._cache.get_client("b", write=True)


def test_threads_do_not_share_a_client(cache_server: CacheServer) -> None:
    """Django's cache handler is per thread, so is the client it keeps."""
    clients: list[Any] = []

    def use() -> None:
        backend: Any = caches["default"]
        backend.set("shared", 1, 30)
        clients.append(backend._cache.get_client())

    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert clients[0] is not clients[1]
