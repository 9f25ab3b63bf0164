"""Fixed-window counters per scope and key, on a Django cache alias, failing open.

Every call goes through the cache seam (`core.cache.FailSafeCache`): while the
cache server is down its breaker skips it, so a limit check costs nothing
rather than a connection attempt or a socket timeout per request, and the
shopper is let through.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from prometheus_client import Counter

from core.cache import FailSafeCache
from core.http.proxies import client_address
from core.ratelimit.rates import Rate

LIMITED = Counter(
    "widgetworld_ratelimited_total",
    "Requests refused with a 429 by a rate limit, by scope and by the key that was over.",
    ["scope", "key"],
)
ERRORS = Counter(
    "widgetworld_ratelimit_errors_total",
    "Rate-limit checks the cache could not answer: let through (fail open).",
    ["scope"],
)

# The session key holding this browser's own random id (also the checkout's owner secret).
SESSION_ID_KEY = "shopper"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    scope: str
    # The key that was over its limit ("session", "address"...), when refused.
    key: str = ""
    # Seconds until the window that refused ends.
    retry_after: int = 0


ALLOWED = Verdict(True, "")


def session_id(request: HttpRequest) -> str:
    """This browser's own random id, minted into its session on first use."""
    value = request.session.get(SESSION_ID_KEY)
    if not isinstance(value, str):
        value = request.session[SESSION_ID_KEY] = secrets.token_urlsafe(24)
    return value


# How each kind of key is read from a request.
IDENTITIES: dict[str, Callable[[HttpRequest], str]] = {
    "session": session_id,
    "address": client_address,
}


class Limiter:
    """One scope's limits, one Rate per kind of key; thread-safe (the cache does the counting)."""

    def __init__(
        self,
        scope: str,
        rates: Mapping[str, Rate],
        alias: str = "default",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.scope = scope
        self.rates = dict(rates)
        self.alias = alias
        self._cache = FailSafeCache(alias, name="ratelimit")
        self._clock = clock

    def hit(self, request: HttpRequest, cost: int = 1) -> Verdict:
        """Charge `cost` now, and say whether the request is within every limit.

        A refused request was charged too: hammering a limit keeps it shut.
        """
        return self._count(request, cost, charge=True)

    def check(self, request: HttpRequest, cost: int = 1) -> Verdict:
        """Would `cost` more fit? Charges nothing (see `charge`, once the work succeeded)."""
        return self._count(request, cost, charge=False)

    def charge(self, request: HttpRequest, cost: int) -> None:
        self._count(request, cost, charge=True)

    def _count(self, request: HttpRequest, cost: int, *, charge: bool) -> Verdict:
        if not settings.RATE_LIMITS_ENABLED or not self.rates:
            return ALLOWED
        now = self._clock()
        verdict = ALLOWED
        for kind, rate in self.rates.items():
            window = int(now // rate.period)
            key = self._key(kind, IDENTITIES[kind](request), window)
            used = self._add(key, cost, rate) if charge else self._peek(key, cost)
            if used is None:
                # Never refuse a shopper for the cache's failure (the seam logged it).
                ERRORS.labels(self.scope).inc()
                return ALLOWED
            if used > rate.limit and verdict.allowed:
                retry = max(1, math.ceil((window + 1) * rate.period - now))
                verdict = Verdict(False, self.scope, kind, retry)
        if not verdict.allowed:
            LIMITED.labels(self.scope, verdict.key).inc()
        return verdict

    def _key(self, kind: str, identity: str, window: int) -> str:
        # Hashed: addresses and session ids never sit in the cache in clear.
        digest = hashlib.blake2b(identity.encode(), digest_size=12).hexdigest()
        return f"ratelimit:{self.scope}:{kind}:{digest}:{window}"

    def _peek(self, key: str, cost: int) -> int | None:
        """What `cost` more would make, or None when the cache cannot say."""
        used = self._cache.get(key, 0, failed=None)
        return None if used is None else int(used) + cost

    def _add(self, key: str, cost: int, rate: Rate) -> int | None:
        """The count once `cost` is added, or None when the cache cannot say."""
        # The key outlives its window a little, so a late increment never resurrects it.
        self._cache.add(key, 0, timeout=rate.period + 5)
        return self._cache.incr(key, cost)


def limit(scope: str) -> Limiter:
    """The configured limiter for `scope` (RATE_LIMITS); a scope with no rates allows all."""
    rates: Any = settings.RATE_LIMITS.get(scope, {})
    return Limiter(scope, rates, alias=settings.RATE_LIMIT_CACHE)
