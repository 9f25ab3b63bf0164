"""What the catalog's cache does, for the dashboard's "Page cache" row and the stale alert.

Counters and histograms only, so they sum across gunicorn workers. The
shared cache's own counters (errors, skipped calls, its breaker) are
core.cache's; the database's breaker is the pool's.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# What one lookup came to (catalog/caching/copies.py, Outcome).
REQUESTS = Counter(
    "widgetworld_page_cache_requests_total",
    "Cacheable catalog answers by kind of page and how they were answered: hit (a current copy), "
    "miss (rendered now), previous (the copy before, while another request renders the new one), "
    "waited (rendered by another request while this one waited), stale (the last good copy: the "
    "database could not be reached), uncached (the cache was unavailable: rendered, not kept).",
    ["page", "outcome"],
)
RENDERS = Histogram(
    "widgetworld_page_render_seconds",
    "Renders of cacheable catalog answers (queries and templates), by kind of page; the count "
    "is how many renders reached the database.",
    ["page"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WAITS = Histogram(
    "widgetworld_page_cache_wait_seconds",
    "Requests that found no copy while another rendered it, and how long they waited; result is "
    "served (the other render's copy) or rendered (gave up waiting and rendered it themselves).",
    ["page", "result"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
STALE_RESPONSES = Counter(
    "widgetworld_stale_responses_total",
    "Answers made from the last good copy because the database could not be reached "
    "(database_unavailable) or the pool turned the request away (pool_timeout, pool_rejected): "
    "catalog pages, API answers and carts.",
    ["reason"],
)
