"""Reads from streaming replicas, writes and fresh reads from the primary (docs/data-layer.md).

Configure with `settings.DATABASE_ROUTING` (`config.py`), the router
(`DATABASE_ROUTERS = ["core.db.routing.router.ReplicaRouter"]`) and, for web
requests, `core.http.routing.ReplicaRoutingMiddleware`, which opens a
`scope.replica_reads()` per request and gives writers their read-your-writes
token. Each replica alias uses WidgetWorld's backend with
`OPTIONS["pool"]["track_wal"] = True`, and so has its own pool, budget and
breaker from its own server. Code that must read the latest rows wraps them
in `scope.primary()`.

Nothing is imported here: the settings module reads `config.py`.
"""
