"""The backend a last-resort read uses: the alias's own, given longer to answer.

A last-resort read is one whose only alternative is an error page (the
database is down and the cache holds the only answer there is). Its
budget is the alias's `"LAST_RESORT": {"timeout": seconds}` entry: a
cache that takes 20 ms on a saturated host misses the everyday 5 ms
timeout, but waiting 100 ms for it beats a 503. Without that entry a
last-resort read uses the alias's own backend, timeouts and all.

Built by hand from the alias's `CACHES` entry because redis-py fixes a
socket's timeout per connection pool, not per command: a second backend is
the only way to give a few reads a longer one. Like Django's, one per thread
(Django's cache handler gives each thread its own backends too); it opens
its connections only when first used, so a shop whose database never goes
down never holds them.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.utils.module_loading import import_string

_local = threading.local()


def last_resort_backend(alias: str) -> BaseCache:
    """This thread's backend for the alias's last-resort reads."""
    entry: dict[str, Any] = settings.CACHES[alias]
    timeout = entry.get("LAST_RESORT", {}).get("timeout")
    if timeout is None:
        return caches[alias]
    # Keyed by where the server is, so that a changed setting (tests point an
    # alias at a server of their own) gets a backend of its own.
    key = (alias, entry.get("LOCATION"), timeout)
    backends: dict[tuple[Any, ...], BaseCache] = _local.__dict__.setdefault("backends", {})
    backend = backends.get(key)
    if backend is None:
        params = {name: entry[name] for name in entry if name not in ("BACKEND", "LOCATION")}
        params["OPTIONS"] = {
            **entry.get("OPTIONS", {}),
            "socket_connect_timeout": timeout,
            "socket_timeout": timeout,
        }
        backend = backends[key] = import_string(entry["BACKEND"])(entry.get("LOCATION", ""), params)
    return backend
