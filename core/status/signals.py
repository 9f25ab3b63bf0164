"""Counting what shoppers get, summed over every worker on every host.

The publishing API other features call (issue 9's stale answers included):

    from core.status import signals
    signals.record_path(request.path, signals.STALE)    # or signals.record("storefront", ...)

`record` only adds to this process's counters (a dict under a lock:
nanoseconds, no I/O). `flush` (the monitor thread, every
`STATUS_MONITOR_INTERVAL` seconds) adds them into time buckets in the shared
cache with atomic `incr`, so the buckets hold the fleet's totals whatever the
number of workers and hosts. `window` sums the last `STATUS_SIGNAL_WINDOW`
seconds of buckets. Each worker also counts itself once per bucket in the
`fleet` entry, with its readiness, so the rules can tell "one worker is
unwell" from "every worker is".
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterable

from django.conf import settings

from core.status import rules
from core.status.components import classify
from core.status.state import CACHE_FAILED, cache, safely

# The signal names, re-exported for callers.
REQUESTS = rules.REQUESTS
UNAVAILABLE = rules.UNAVAILABLE
BUSY = rules.BUSY
FAILED = rules.FAILED
STALE = rules.STALE
SIGNALS = (REQUESTS, UNAVAILABLE, BUSY, FAILED, STALE)

FLEET = "_fleet"
WORKERS, UNREADY, DATABASE_DOWN = "workers", "unready", "database_down"
BUCKET_SECONDS = 5
PREFIX = "status:signal"

_lock = threading.Lock()
_counts: Counter[tuple[str, str]] = Counter()


def record(component: str, signal: str, n: int = 1) -> None:
    """Count `n` of `signal` for `component` in this process (no I/O)."""
    with _lock:
        _counts[(component, signal)] += n


def record_path(path: str, signal: str, n: int = 1) -> None:
    """Count for the component that serves `path`; the site's plumbing counts for none."""
    component = classify(path)
    if component is not None:
        record(component, signal, n)


def take() -> dict[tuple[str, str], int]:
    """This process's counts since the last call, reset."""
    with _lock:
        counts = dict(_counts)
        _counts.clear()
    return counts


def bucket_of(now: float) -> int:
    return int(now // BUCKET_SECONDS)


def _key(bucket: int, component: str, signal: str) -> str:
    return f"{PREFIX}:{bucket}:{component}:{signal}"


def _add(key: str, n: int, ttl: int) -> None:
    """Atomic on Redis/Valkey: `add` creates the counter at 0 once, `incr` adds."""
    backend = cache()
    backend.add(key, 0, ttl)
    try:
        backend.incr(key, n)
    except ValueError:  # expired between add and incr: start it again
        backend.add(key, n, ttl)


def flush(
    counts: dict[tuple[str, str], int],
    now: float,
    *,
    worker: str,
    ready: bool | None,
    database_ok: bool | None,
) -> bool:
    """Add `counts` and this worker's heartbeat to the current bucket; False if the cache failed.

    On failure the caller puts the counts back (`restore`), so nothing is lost
    while the cache is briefly away.
    """
    bucket = bucket_of(now)
    ttl = int(settings.STATUS_SIGNAL_WINDOW) + 4 * BUCKET_SECONDS

    def write() -> bool:
        backend = cache()
        for (component, signal), n in counts.items():
            if n:
                _add(_key(bucket, component, signal), n, ttl)
        if backend.add(f"{PREFIX}:{bucket}:{FLEET}:seen:{worker}", 1, ttl):
            _add(_key(bucket, FLEET, WORKERS), 1, ttl)
            if ready is False:
                _add(_key(bucket, FLEET, UNREADY), 1, ttl)
            if database_ok is False:
                _add(_key(bucket, FLEET, DATABASE_DOWN), 1, ttl)
        return True

    return bool(safely("signal flush", write, False))


def restore(counts: dict[tuple[str, str], int]) -> None:
    with _lock:
        _counts.update(counts)


def window(now: float, components: Iterable[str]) -> rules.Window | None:
    """The fleet's counts for the last `STATUS_SIGNAL_WINDOW` seconds; None if the cache failed."""
    seconds = float(settings.STATUS_SIGNAL_WINDOW)
    last = bucket_of(now)
    buckets = range(last - math.ceil(seconds / BUCKET_SECONDS) + 1, last + 1)
    names = list(components)
    keys = [_key(b, c, s) for b in buckets for c in names for s in SIGNALS]
    # Heartbeats: the last complete bucket, so a worker that has not flushed
    # into the current one yet is not taken for gone.
    fleet_bucket = last - 1
    fleet_keys = [_key(fleet_bucket, FLEET, name) for name in (WORKERS, UNREADY, DATABASE_DOWN)]
    found = safely("signal read", lambda: cache().get_many([*keys, *fleet_keys]))
    if found is CACHE_FAILED:
        return None
    counts: dict[str, dict[str, int]] = {name: dict.fromkeys(SIGNALS, 0) for name in names}
    for b in buckets:
        for c in names:
            for s in SIGNALS:
                counts[c][s] += int(found.get(_key(b, c, s), 0))
    fleet = [int(found.get(key, 0)) for key in fleet_keys]
    return rules.Window(
        seconds=seconds, counts=counts, workers=fleet[0], unready=fleet[1], database_down=fleet[2]
    )
