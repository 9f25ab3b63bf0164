"""Rate limits on the shared cache: how often one browser or one address may make us work.

Written by hand rather than with django-ratelimit: WidgetWorld needs to
charge a *cost* (units ordered, not requests), to say `Retry-After` (when the
window ends), to count every refusal by scope, and to fail open through the
cache's fail-soft seam (a cache outage must never refuse a shopper).
django-ratelimit increments by one, knows no window end and raises cache
errors. Fixed windows: one counter per key and window, `add` then `incr`,
atomic on Redis/Valkey.

API, for views (core never knows what the shop is):

    from core.ratelimit.limiter import limit
    from core.ratelimit.views import rate_limited

    @rate_limited("search", methods=("GET",))
    def search_page(request): ...

    verdict = limit("order-units").check(request, cost=units)   # peek, no charge
    limit("order-units").charge(request, cost=units)            # after success

A refused request gets `too_many_requests()`: 429, `Retry-After`, a friendly
page (or JSON under /api/). Scopes and their rates are settings
(`RATE_LIMITS`, README); docs/storefront.md lists them. `Rate` lives in
`core.ratelimit.rates`, which settings import: it imports nothing else, so
prometheus_client is never imported before gunicorn prepares its metrics.
"""
