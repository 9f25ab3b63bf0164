"""The private cache server (Valkey or Redis) that development, tests, drills and benchmarks run."""

from devtools.localcache.server import CacheServer, CacheServerError, find_server, local_cache

__all__ = ["CacheServer", "CacheServerError", "find_server", "local_cache"]
