"""Our own metrics: the pool, the server's connection slots, readiness and the shared cache.

Gauges say how each worker's value combines under gunicorn
(`multiprocess_mode`): a pool belongs to one process, so its gauges are
`liveall` (one series per live worker, `pid` label; PromQL sums or maxes them)
and vanish when the worker dies; facts about the server or the fleet are the
same whichever worker saw them, so they are `livemostrecent` or `livemax` and
never double counted. Counters and histograms always sum across workers.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# A checkout should take microseconds; the pool gives up after a few seconds.
WAIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10)
# A request holds a connection for its queries: milliseconds, unless it leaks.
HOLD_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

# -- pool, per worker process -------------------------------------------------------

POOL_CONNECTIONS = Gauge(
    "widgetworld_db_pool_connections",
    "Connections this worker's pool holds open, by state (idle, in_use).",
    ["alias", "state"],
    multiprocess_mode="liveall",
)
POOL_WAITING = Gauge(
    "widgetworld_db_pool_waiting",
    "Requests waiting for a connection from this worker's pool.",
    ["alias"],
    multiprocess_mode="liveall",
)
POOL_MIN = Gauge(
    "widgetworld_db_pool_min",
    "The pool's minimum size.",
    ["alias"],
    multiprocess_mode="liveall",
)
POOL_MAX = Gauge(
    "widgetworld_db_pool_max",
    "The pool's current ceiling: min(budget share, threads, hard maximum).",
    ["alias"],
    multiprocess_mode="liveall",
)
POOL_BUDGET = Gauge(
    "widgetworld_db_pool_budget",
    "This worker's fair share of the server's connection budget.",
    ["alias"],
    multiprocess_mode="liveall",
)
POOL_PEERS = Gauge(
    "widgetworld_db_pool_peers",
    "WidgetWorld processes connected to the server, as the pool last counted them.",
    ["alias"],
    multiprocess_mode="livemax",
)

POOL_LIMIT = Gauge(
    "widgetworld_db_pool_limit",
    "The learned limit: connections this worker lets requests use at once (min..max).",
    ["alias"],
    multiprocess_mode="liveall",
)
POOL_LIMIT_QUERY = Gauge(
    "widgetworld_db_pool_limit_query_seconds",
    "The learned limit's inputs: mean query time in its last window (recent) and the "
    "lowest window mean it remembers (baseline).",
    ["alias", "window"],
    multiprocess_mode="liveall",
)
POOL_LIMIT_GRADIENT = Gauge(
    "widgetworld_db_pool_limit_gradient",
    "baseline / recent query time: 1 means more connections cost nothing; below "
    "1/tolerance the limit backs off.",
    ["alias"],
    multiprocess_mode="liveall",
)
BREAKER_OPEN = Gauge(
    "widgetworld_db_breaker_open",
    "1 while this worker knows the database is down and answers 503 at once; 0 otherwise.",
    ["alias"],
    multiprocess_mode="liveall",
)
POOL_STANDING_QUEUE = Gauge(
    "widgetworld_db_pool_standing_queue",
    "1 while a standing queue makes the deadline queue shed new requests.",
    ["alias"],
    multiprocess_mode="liveall",
)

POOL_WAIT = Histogram(
    "widgetworld_db_pool_wait_seconds",
    "How long a request waited to check a connection out.",
    ["alias"],
    buckets=WAIT_BUCKETS,
)
POOL_HOLD = Histogram(
    "widgetworld_db_pool_hold_seconds",
    "How long a connection was held before it went back to the pool.",
    ["alias"],
    buckets=HOLD_BUCKETS,
)

POOL_TIMEOUTS = Counter(
    "widgetworld_db_pool_timeouts_total",
    "Checkouts that waited the full timeout and got a 503.",
    ["alias"],
)
POOL_REJECTED = Counter(
    "widgetworld_db_pool_rejected_total",
    "Checkouts turned away at once because the wait queue was full (503).",
    ["alias"],
)
POOL_SHED = Counter(
    "widgetworld_db_pool_shed_total",
    "New requests turned away by the deadline queue (a standing queue had formed): a 503 each.",
    ["alias"],
)
BREAKER_TRIPS = Counter(
    "widgetworld_db_breaker_trips_total",
    "Times the breaker opened: the database became unreachable.",
    ["alias"],
)
POOL_OPENED = Counter(
    "widgetworld_db_pool_connections_opened_total",
    "Connections the pool opened to the server.",
    ["alias"],
)
POOL_LOST = Counter(
    "widgetworld_db_pool_connections_lost_total",
    "Connections found broken (server restart, terminated backend, network).",
    ["alias"],
)
POOL_LEAKS = Counter(
    "widgetworld_db_pool_leaks_total",
    "Connections held longer than the leak threshold.",
    ["alias"],
)
POOL_RESIZES = Counter(
    "widgetworld_db_pool_resizes_total",
    "Times the pool changed its ceiling (budget or demand).",
    ["alias"],
)

# -- server, sampled by one worker --------------------------------------------------

SERVER_CONNECTIONS = Gauge(
    "widgetworld_db_server_connections",
    "Client backends in pg_stat_activity by state and application (application_name "
    "up to its first '/').",
    ["alias", "state", "application"],
    multiprocess_mode="livemostrecent",
)
SERVER_MAX_CONNECTIONS = Gauge(
    "widgetworld_db_server_max_connections",
    "The server's max_connections.",
    ["alias"],
    multiprocess_mode="livemostrecent",
)
SERVER_RESERVED_CONNECTIONS = Gauge(
    "widgetworld_db_server_reserved_connections",
    "Slots only superusers may use (superuser_reserved_connections + reserved_connections).",
    ["alias"],
    multiprocess_mode="livemostrecent",
)
SERVER_UTILISATION = Gauge(
    "widgetworld_db_server_utilisation_ratio",
    "Client backends over max_connections: 1 means the server refuses new connections.",
    ["alias"],
    multiprocess_mode="livemostrecent",
)

# -- read replicas (core/db/routing) ------------------------------------------------

REPLICA_LAG = Gauge(
    "widgetworld_db_replica_lag_seconds",
    "How far behind the primary the replica is, as last judged: the larger of the standby's "
    "own reading and the primary's WAL position (kept at its last value while unknown).",
    ["alias"],
    multiprocess_mode="livemax",
)
REPLICA_IN_ROTATION = Gauge(
    "widgetworld_db_replica_in_rotation",
    "1 while this worker sends reads to the replica; 0 while it is out of rotation "
    "(lagging, unreachable, not read lately, not a standby).",
    ["alias"],
    multiprocess_mode="liveall",
)
READ_ROUTES = Counter(
    "widgetworld_db_read_routes_total",
    "Requests' reads by the alias that served them and why: replica, primary (the request "
    "must read from it), read_your_writes, fallback (no replica in rotation), replica_failed "
    "(the replica failed under the request, which ran again on the primary).",
    ["alias", "reason"],
)
REPLICA_OUT = Counter(
    "widgetworld_db_replica_out_of_rotation_total",
    "Times a worker took the replica out of rotation, by reason (lagging, unreachable, "
    "stale, not_standby).",
    ["alias", "reason"],
)

# -- readiness ---------------------------------------------------------------------

READY = Gauge(
    "widgetworld_ready",
    "1 when the last readiness evaluation passed, 0 when it failed.",
    multiprocess_mode="livemostrecent",
)
READINESS_CHECK = Gauge(
    "widgetworld_readiness_check_ok",
    "1 when the named readiness check passed at the last evaluation, else 0.",
    ["check"],
    multiprocess_mode="livemostrecent",
)

# -- the shared cache (core/cache) ---------------------------------------------------

CACHE_LOOKUPS = Counter(
    "widgetworld_cache_lookups_total",
    "Cache reads that reached the server, by answer (hit, miss).",
    ["cache", "result"],
)
CACHE_ERRORS = Counter(
    "widgetworld_cache_errors_total",
    "Cache calls that failed or timed out and were treated as a miss (reads) or skipped (writes).",
    ["alias", "operation"],
)
CACHE_SKIPPED = Counter(
    "widgetworld_cache_skipped_total",
    "Cache calls not made because the cache's breaker is open (a miss or no-op at no cost).",
    ["alias", "operation"],
)
CACHE_BREAKER_OPEN = Gauge(
    "widgetworld_cache_breaker_open",
    "1 while a worker's breaker for this cache is open or probing, else 0 (max over workers).",
    ["alias"],
    multiprocess_mode="livemax",
)

# -- status page (core/status) -------------------------------------------------------

STATUS_COMPONENT = Gauge(
    "widgetworld_status_component",
    "What the status page shows for a component: 0 operational, 1 under maintenance, "
    "2 degraded performance, 3 partial outage, 4 major outage.",
    ["component"],
    multiprocess_mode="livemostrecent",
)
STATUS_WEBHOOK = Counter(
    "widgetworld_status_webhook_requests",
    "Calls to the Alertmanager webhook, by outcome (accepted, unauthorized, forbidden, "
    "bad_request, too_large, not_saved).",
    ["outcome"],
)
