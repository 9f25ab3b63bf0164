"""WidgetWorld settings: every knob is an environment variable, read here and only here.

`WIDGETWORLD_ENV` picks the defaults. `production` (the default) is safe to
deploy as is: it refuses to start without a real SECRET_KEY and ALLOWED_HOSTS,
and turns on HTTPS-only cookies, redirects and HSTS. `local` (set by
`make run`) serves plain HTTP on loopback and generates a development secret
once. `test` is `local` for the test suite. The README's configuration table
lists every variable.
"""

from __future__ import annotations

import ipaddress
import secrets
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.db.backends.postgresql.options import PoolOptions
from core.db.routing.config import RoutingConfig
from core.http.headers import static_headers
from core.logs.config import django_logging
from core.ratelimit.rates import Rate

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

ENVIRONMENT = env.str("WIDGETWORLD_ENV", default="production")
if ENVIRONMENT not in ("production", "local", "test"):
    raise ImproperlyConfigured(
        f"WIDGETWORLD_ENV={ENVIRONMENT!r}: expected production, local or test"
    )
LOCAL = ENVIRONMENT != "production"

# Git-ignored folder for everything a local run creates: the PostgreSQL
# cluster, the development secret, collected static files.
DATA_DIR = Path(env.str("WIDGETWORLD_DATA_DIR", default=str(BASE_DIR / ".data")))


def _local_secret_key(path: Path) -> str:
    """A development secret, made once per checkout so sessions survive restarts."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env.bool("DEBUG", default=False)
if DEBUG and not LOCAL:
    raise ImproperlyConfigured("DEBUG is on: production never shows Django's debug pages")

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not LOCAL:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: production needs a long random value "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'); "
            "WIDGETWORLD_ENV=local generates one for development"
        )
    SECRET_KEY = (
        _local_secret_key(DATA_DIR / "secret_key")
        if ENVIRONMENT == "local"
        else secrets.token_urlsafe(50)
    )

# Django's own deploy check (W009) calls these unsafe too; here they stop the start.
_PLACEHOLDER_SECRETS = ("changeme", "change-me", "secret", "insecure", "collectstatic-only")
if not LOCAL and (
    len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
    or SECRET_KEY.startswith("django-insecure-")
    or any(placeholder in SECRET_KEY.lower() for placeholder in _PLACEHOLDER_SECRETS)
):
    raise ImproperlyConfigured(
        "SECRET_KEY is too short or a placeholder: production needs 50+ random characters"
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if LOCAL else [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is not set: list the host names this site answers to, comma-separated"
    )
if "*" in ALLOWED_HOSTS and not LOCAL:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS contains '*': production names the hosts it answers to"
    )
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# -- Serving (read by widgetworld/gunicorn.conf.py) -----------------------------

HOST = env.str("HOST", default="127.0.0.1")
PORT = env.int("PORT", default=8000)
# Two workers per core is gunicorn's advice for I/O-bound apps; the pool's
# connection budget divides the database among however many there are.
WEB_CONCURRENCY = env.int("WEB_CONCURRENCY", default=2)
WEB_THREADS = env.int("WEB_THREADS", default=8)
if WEB_CONCURRENCY < 1 or WEB_THREADS < 1:
    raise ImproperlyConfigured("WEB_CONCURRENCY and WEB_THREADS must be at least 1")

# -- Applications ----------------------------------------------------------------

INSTALLED_APPS = [
    # Django's admin on a site that requires a second factor (core/staff).
    "core.staff.adminconfig.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # Full-text search, trigram similarity and their indexes.
    "django.contrib.postgres",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "core",
    "core.staff",
    "core.status",
    "catalog",
]

MIDDLEWARE = [
    # Outermost, so request latency includes every other middleware.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Next, so that every later line logged for the request carries its id.
    "core.logs.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Outside WhiteNoise, so static files get the same policies as pages.
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "core.http.unavailable.ServiceUnavailableMiddleware",
    # After it: sees the pool's exception first, and counts every answer (core/status).
    "core.status.middleware.StatusSignalsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A staff session ended server-side (logout, revocation, expiry) is logged out here.
    "core.staff.sessions.StaffSessionMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "widgetworld.urls"
WSGI_APPLICATION = "widgetworld.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "widgetworld" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "catalog.context_processors.storefront",
                "core.status.context_processors.status_banner",
            ],
        },
    },
]

# -- Database ----------------------------------------------------------------------

# `make run` points DATABASE_URL at its own cluster; without it, libpq's
# defaults (the local socket) are used. The URL is parsed and then forgotten:
# only DATABASES keeps the password, under a key error reports mask (as they
# mask DATABASE_URL in the environment: core/http/reporting.py).
_database_url = env.str("DATABASE_URL", default="postgres:///widgetworld")
try:
    _database = env.db_url_config(_database_url)
except (ImproperlyConfigured, KeyError, ValueError) as error:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {error}") from error
if _database.get("ENGINE") != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        "DATABASE_URL must be a postgres:// URL: WidgetWorld needs PostgreSQL"
    )
del _database_url

# The pool (core.db.backends.postgresql, docs/data-layer.md). Only variables
# that are set override the backend's defaults, which the README lists.
_POOL_VARIABLES = {
    "min_size": ("WIDGETWORLD_DB_POOL_MIN", env.int),
    "max_size": ("WIDGETWORLD_DB_POOL_MAX", env.int),
    "timeout": ("WIDGETWORLD_DB_POOL_TIMEOUT", env.float),
    "max_waiting": ("WIDGETWORLD_DB_POOL_MAX_WAITING", env.int),
    "headroom": ("WIDGETWORLD_DB_POOL_HEADROOM", env.int),
    "max_lifetime": ("WIDGETWORLD_DB_POOL_MAX_LIFETIME", env.float),
    "max_idle": ("WIDGETWORLD_DB_POOL_MAX_IDLE", env.float),
    "leak_seconds": ("WIDGETWORLD_DB_POOL_LEAK_SECONDS", env.float),
    "release": ("WIDGETWORLD_DB_POOL_RELEASE", env.bool),
    "budget_interval": ("WIDGETWORLD_DB_POOL_BUDGET_INTERVAL", env.float),
    "adaptive": ("WIDGETWORLD_DB_POOL_ADAPTIVE", env.bool),
    "tolerance": ("WIDGETWORLD_DB_POOL_TOLERANCE", env.float),
    "queue_target": ("WIDGETWORLD_DB_POOL_QUEUE_TARGET", env.float),
    "queue_interval": ("WIDGETWORLD_DB_POOL_QUEUE_INTERVAL", env.float),
}
DB_POOL: dict[str, object] = {
    key: read(variable) for key, (variable, read) in _POOL_VARIABLES.items() if variable in env
}
# More connections than threads would only ever sit idle.
DB_POOL["threads"] = WEB_THREADS
PoolOptions.from_mapping(DB_POOL, where="WIDGETWORLD_DB_POOL_* settings")

DB_POOL_ON = env.bool("WIDGETWORLD_DB_POOL", default=True)

# The `<host>` in each connection's application_name (`widgetworld/<host>/<pid>`),
# which is how the pool counts the fleet. The machine's name by default (a
# pod's name in Kubernetes); set it where processes share one, such as pods on
# the host network or several servers on one machine standing for hosts.
DB_HOST_NAME = env.str("WIDGETWORLD_HOST_NAME", default="")
if "/" in DB_HOST_NAME:
    raise ImproperlyConfigured(f"WIDGETWORLD_HOST_NAME={DB_HOST_NAME!r}: a name without '/'")

# Behind PgBouncer in transaction mode (docs/scaling.md) the pool is off and
# PgBouncer shares the server: each thread keeps its connection to PgBouncer
# for this many seconds, and no server-side cursor may outlive a statement.
DB_CONN_MAX_AGE = env.int("WIDGETWORLD_DB_CONN_MAX_AGE", default=0)
if DB_CONN_MAX_AGE < 0 or (DB_CONN_MAX_AGE and DB_POOL_ON):
    raise ImproperlyConfigured(
        "WIDGETWORLD_DB_CONN_MAX_AGE: a number of seconds, and only with WIDGETWORLD_DB_POOL=false "
        "(the pool already keeps its connections)"
    )
DB_SERVER_SIDE_CURSORS = env.bool("WIDGETWORLD_DB_SERVER_SIDE_CURSORS", default=True)

DATABASES = {
    "default": {
        **_database,
        "ENGINE": "core.db.backends.postgresql",
        "CONN_MAX_AGE": DB_CONN_MAX_AGE,
        "DISABLE_SERVER_SIDE_CURSORS": not DB_SERVER_SIDE_CURSORS,
        "OPTIONS": {
            **_database.get("OPTIONS", {}),
            "pool": DB_POOL if DB_POOL_ON else False,
            **({"host_name": DB_HOST_NAME} if DB_HOST_NAME else {}),
            # A web request has no business running a query this long...
            "statement_timeout": env.int("WIDGETWORLD_DB_STATEMENT_TIMEOUT", default=10_000),
            # ...or sitting in an open transaction doing nothing.
            "idle_in_transaction_session_timeout": env.int(
                "WIDGETWORLD_DB_IDLE_IN_TRANSACTION_TIMEOUT", default=30_000
            ),
        },
    }
}

# -- Read replicas (docs/data-layer.md, "Read replicas") -----------------------------

# Streaming replicas of DATABASE_URL's server, comma-separated; each becomes an
# alias (replica1, replica2...) on the same backend with its own pool, budget
# and breaker from its own server. Empty (the default): one database, as before.
# Parsed, then forgotten as DATABASE_URL is: only DATABASES keeps the passwords.
_replica_urls = env.list("DATABASE_REPLICA_URLS", default=[])
# A replica more than this many seconds behind gets no reads until it catches up.
DATABASE_REPLICA_MAX_LAG = env.float("DATABASE_REPLICA_MAX_LAG", default=5.0)
# After a write, its writer reads only from the primary or a replica that has
# replayed it, for this many seconds.
DATABASE_REPLICA_READ_YOUR_WRITES = env.float("DATABASE_REPLICA_READ_YOUR_WRITES", default=30.0)

REPLICA_ALIASES = [f"replica{number}" for number in range(1, len(_replica_urls) + 1)]
for _alias, _url in zip(REPLICA_ALIASES, _replica_urls, strict=True):
    try:
        _replica = env.db_url_config(_url)
    except (ImproperlyConfigured, KeyError, ValueError) as error:
        raise ImproperlyConfigured(
            f"DATABASE_REPLICA_URLS: {_alias} is not a database URL: {error}"
        ) from error
    if _replica.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            f"DATABASE_REPLICA_URLS: {_alias} must be a postgres:// URL (a streaming replica)"
        )
    DATABASES[_alias] = {
        **DATABASES["default"],
        **_replica,
        "ENGINE": "core.db.backends.postgresql",
        "OPTIONS": {**DATABASES["default"]["OPTIONS"], **_replica.get("OPTIONS", {})},
    }
del _replica_urls

# The router needs the pool: it reads where each server stands in the WAL from
# the pools' monitors. With the pool switched off (WIDGETWORLD_DB_POOL=false,
# the kill switch) every read stays on the primary.
if REPLICA_ALIASES and DB_POOL_ON:
    for _alias in ("default", *REPLICA_ALIASES):
        DATABASES[_alias]["OPTIONS"]["pool"] = {**DB_POOL, "track_wal": True}
    DATABASE_ROUTERS = ["core.db.routing.router.ReplicaRouter"]
    DATABASE_ROUTING = {
        "primary": "default",
        "replicas": REPLICA_ALIASES,
        "max_lag": DATABASE_REPLICA_MAX_LAG,
        "read_your_writes": DATABASE_REPLICA_READ_YOUR_WRITES,
    }
    MIDDLEWARE.insert(
        MIDDLEWARE.index("core.http.unavailable.ServiceUnavailableMiddleware") + 1,
        "core.http.routing.ReplicaRoutingMiddleware",
    )
RoutingConfig.parse(
    {"max_lag": DATABASE_REPLICA_MAX_LAG, "read_your_writes": DATABASE_REPLICA_READ_YOUR_WRITES},
    DATABASES,
)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# -- Cache -------------------------------------------------------------------------

# The shared cache: Redis or Valkey, through Django's own RedisCache backend.
# Chosen over django-redis because everything WidgetWorld needs beyond it (a
# failure is a miss, a breaker, counters) lives in one seam of ours anyway
# (core/cache, docs/storefront.md); django-redis would add a dependency whose
# own IGNORE_EXCEPTIONS would hide failures from that seam. `make run` and the
# tests start their own server and set CACHE_URL; without it the conventional
# local server is tried, and when nothing answers the site serves uncached.
# `dummy://` caches nothing (a kill switch).
CACHE_URL = env.str("CACHE_URL", default="redis://127.0.0.1:6379/0")
# What one call to a cache that is down or hung may cost at most (connect,
# then wait for the reply); the breaker (core/cache/breaker.py) stops even
# that after CACHE_BREAKER_FAILURES failures in a row, for CACHE_RETRY_INTERVAL s.
CACHE_CONNECT_TIMEOUT_MS = env.float("CACHE_CONNECT_TIMEOUT_MS", default=5)
CACHE_TIMEOUT_MS = env.float("CACHE_TIMEOUT_MS", default=5)
CACHE_BREAKER_FAILURES = env.int("CACHE_BREAKER_FAILURES", default=3)
CACHE_RETRY_INTERVAL = env.float("CACHE_RETRY_INTERVAL", default=2.0)
# What a read of the last good copy may wait, breaker or not, when the
# database is down and that copy is the only answer short of a 503
# (core/cache/failsafe.py, "last resort"): a loaded cache that misses the
# everyday few milliseconds still answers in time for it.
CACHE_OUTAGE_TIMEOUT_MS = env.float("CACHE_OUTAGE_TIMEOUT_MS", default=100)
if CACHE_CONNECT_TIMEOUT_MS <= 0 or CACHE_TIMEOUT_MS <= 0 or CACHE_OUTAGE_TIMEOUT_MS <= 0:
    raise ImproperlyConfigured(
        "CACHE_CONNECT_TIMEOUT_MS, CACHE_TIMEOUT_MS and CACHE_OUTAGE_TIMEOUT_MS must be positive"
    )
if CACHE_BREAKER_FAILURES < 1 or CACHE_RETRY_INTERVAL <= 0:
    raise ImproperlyConfigured(
        "CACHE_BREAKER_FAILURES must be at least 1 and CACHE_RETRY_INTERVAL positive"
    )


def _cache(url: str) -> dict[str, Any]:
    scheme = url.partition("://")[0] if "://" in url else ""
    if scheme == "dummy":
        return {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
    if scheme not in ("redis", "rediss", "unix"):
        raise ImproperlyConfigured(
            f"CACHE_URL={url!r}: expected redis://, rediss:// or unix:// (Redis or Valkey), "
            "or dummy:// to cache nothing"
        )
    return {
        # Django's RedisCache, with one redis-py client per pool rather than one
        # per call (core/cache/backends.py: that costs as much as the round trip).
        "BACKEND": "core.cache.backends.RedisCache",
        "LOCATION": url,
        # The key space is shared with whatever else uses the server.
        "KEY_PREFIX": "widgetworld",
        "OPTIONS": {
            "socket_connect_timeout": CACHE_CONNECT_TIMEOUT_MS / 1000,
            "socket_timeout": CACHE_TIMEOUT_MS / 1000,
            # Never retry inside the client: a retry doubles the wait, and the
            # breaker decides when the server is worth another try.
            "retry": Retry(NoBackoff(), 0),
        },
        # Read by core.cache (Django ignores it).
        "BREAKER": {"failures": CACHE_BREAKER_FAILURES, "retry_after": CACHE_RETRY_INTERVAL},
        # Never shorter than the everyday wait (the tests' is 250 ms).
        "LAST_RESORT": {"timeout": max(CACHE_OUTAGE_TIMEOUT_MS, CACHE_TIMEOUT_MS) / 1000},
    }


CACHES = {"default": _cache(CACHE_URL)}

# -- The catalog's cached pages (catalog/caching, docs/storefront.md) -----------------

# A cached page is fresh while the catalog version it was rendered at is
# current, and for at most CATALOG_CACHE_FRESH seconds: the bound for writes
# that bypass the ORM's signals (raw SQL, QuerySet.update()).
CATALOG_CACHE_FRESH = env.int("CATALOG_CACHE_FRESH", default=300)
# How long the last good copy of a page (and of the product data the cart
# shows) is kept, to answer with while the database is down: hours.
CATALOG_CACHE_KEEP = env.int("CATALOG_CACHE_KEEP", default=6 * 3600)
# How long a request that finds no copy at all waits for the one request
# rendering it (in another thread or process) before rendering it itself.
CATALOG_CACHE_WAIT_MS = env.float("CATALOG_CACHE_WAIT_MS", default=250)
# How long a process trusts its own copy of the catalog version: a change
# committed on another host shows on this one's pages within this.
CATALOG_VERSION_TTL = env.float("CATALOG_VERSION_TTL", default=1.0)
if CATALOG_CACHE_FRESH < 1 or CATALOG_CACHE_KEEP < CATALOG_CACHE_FRESH:
    raise ImproperlyConfigured(
        "CATALOG_CACHE_FRESH must be at least 1 s and CATALOG_CACHE_KEEP at least as long"
    )
if CATALOG_CACHE_WAIT_MS < 0 or CATALOG_VERSION_TTL < 0:
    raise ImproperlyConfigured("CATALOG_CACHE_WAIT_MS and CATALOG_VERSION_TTL must be >= 0")

# Test-only endpoints that hold connections on purpose (core/chaos): for the
# chaos tests, the alert drill and the benchmarks. Never in production.
CHAOS_ENDPOINTS = env.bool("WIDGETWORLD_CHAOS_ENDPOINTS", default=False)
if CHAOS_ENDPOINTS and ENVIRONMENT != "test":
    raise ImproperlyConfigured(
        f"WIDGETWORLD_CHAOS_ENDPOINTS is refused in {ENVIRONMENT}: only WIDGETWORLD_ENV=test"
    )

# Django's error reports (debug pages, mailed 500s) mask settings and
# environment variables by name; these names also hold credentials.
DEFAULT_EXCEPTION_REPORTER_FILTER = "core.http.reporting.CredentialsFilter"

# -- Sessions ----------------------------------------------------------------------

# The session (the cart, the last order's number, flash messages) lives in a
# signed cookie: browsing and filling a cart cost no database write and no
# connection, which is what the 2023 surge ran out of. Browsers cap a cookie
# at about 4 KB, so the cart holds ids and quantities only (prices are read
# from the database) and is capped at CART_MAX_LINES lines of at most
# CART_MAX_QUANTITY each, which keeps it far below that.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
SESSION_COOKIE_AGE = 14 * 24 * 3600  # a cart survives a fortnight of thinking it over

# -- The shop ------------------------------------------------------------------------

# ISO 4217 code every price is in: the shop sells in one currency.
CURRENCY = env.str("CURRENCY", default="GBP").upper()
if len(CURRENCY) != 3 or not CURRENCY.isalpha():
    raise ImproperlyConfigured(f"CURRENCY={CURRENCY!r}: expected an ISO 4217 code such as GBP")
CATALOG_PAGE_SIZE = 24
# "Only 3 left" is shown at or below this stock.
CATALOG_LOW_STOCK = env.int("CATALOG_LOW_STOCK", default=5)
CART_MAX_LINES = 40
CART_MAX_QUANTITY = 99
# Shipping is free from this subtotal up, and costs SHIPPING_FEE below it.


def _money(name: str, default: str) -> Decimal:
    value = env.str(name, default=default)
    try:
        amount = Decimal(value)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0:
        raise ImproperlyConfigured(f"{name}={value!r}: expected an amount such as {default}")
    return amount


FREE_SHIPPING_FROM = _money("FREE_SHIPPING_FROM", "50.00")
SHIPPING_FEE = _money("SHIPPING_FEE", "4.95")
# Stock holds, for when a payment step exists (docs/storefront.md): orders
# then start "awaiting payment" and are cancelled, their stock returned, if
# unpaid after ORDER_HOLD_MINUTES (`manage.py release_expired_holds`, every
# minute). Off until a payment provider confirms orders.
ORDER_AWAIT_PAYMENT = env.bool("ORDER_AWAIT_PAYMENT", default=False)
ORDER_HOLD_MINUTES = env.float("ORDER_HOLD_MINUTES", default=30)
if ORDER_HOLD_MINUTES <= 0:
    raise ImproperlyConfigured("ORDER_HOLD_MINUTES must be positive")
# How long browsers and a CDN may reuse a catalog API answer without asking
# again; pages are per-shopper (cart, CSRF token) and always revalidate.
CATALOG_API_MAX_AGE = env.int("CATALOG_API_MAX_AGE", default=60)

# -- Rate limits (core/ratelimit) ------------------------------------------------------

# Each scope's limits per kind of key, "count/period" (s, m, h, d; "20/10m").
# Chosen from the release suites' traffic (docs/load-testing.md: a simulated
# shopper is far busier than a person) with room to spare, so shoppers never
# meet them and the load gates pass; a script looping over checkout does.
# The cache counts (CACHE_URL's server, shared by every process); when it is
# down, limits let everything through rather than refuse a shopper.
RATE_LIMITS_ENABLED = env.bool("RATE_LIMITS_ENABLED", default=True)
RATE_LIMIT_CACHE = "default"
_RATE_LIMIT_DEFAULTS = {
    # Per scope, per kind of key: the variable that sets it, and its default.
    "checkout": {
        "session": ("RATE_LIMIT_CHECKOUT_SESSION", "20/10m"),
        "address": ("RATE_LIMIT_CHECKOUT_ADDRESS", "60/10m"),
    },
    "order-units": {
        "session": ("RATE_LIMIT_ORDER_UNITS_SESSION", "200/h"),
        "address": ("RATE_LIMIT_ORDER_UNITS_ADDRESS", "500/h"),
    },
    "cart": {
        "session": ("RATE_LIMIT_CART_SESSION", "60/10m"),
        "address": ("RATE_LIMIT_CART_ADDRESS", "300/10m"),
    },
    "search": {"address": ("RATE_LIMIT_SEARCH_ADDRESS", "120/m")},
    "api": {"address": ("RATE_LIMIT_API_ADDRESS", "300/m")},
    "admin-login": {"address": ("RATE_LIMIT_ADMIN_LOGIN_ADDRESS", "30/10m")},
}


def _rate_limits() -> dict[str, dict[str, Rate]]:
    limits: dict[str, dict[str, Rate]] = {}
    for scope, keys in _RATE_LIMIT_DEFAULTS.items():
        limits[scope] = {}
        for key, (variable, default) in keys.items():
            try:
                limits[scope][key] = Rate.parse(env.str(variable, default=default))
            except ValueError as error:
                raise ImproperlyConfigured(f"{variable}: {error}") from error
    return limits


RATE_LIMITS = _rate_limits()
# Units (widgets) one order may hold, whatever the cart's lines say.
ORDER_MAX_UNITS = env.int("ORDER_MAX_UNITS", default=100)

# -- Security ------------------------------------------------------------------------

# Production sits behind a TLS-terminating proxy that says so in
# X-Forwarded-Proto; only trust that header when the proxy strips it from clients.
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not LOCAL)
# Probes and scrapers speak plain HTTP to the pod itself, and so does
# Alertmanager inside the cluster: it would follow a redirect as a GET and
# lose the alert (its bearer token is what guards the webhook).
SECURE_REDIRECT_EXEMPT = [r"^livez$", r"^readyz$", r"^healthz$", r"^status/alertmanager$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not LOCAL)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if LOCAL else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=SECURE_HSTS_SECONDS > 0)
# Networks our own proxies (load balancer, ingress) connect from, as CIDRs.
# Requests from them came from the internet: they are never "internal" for
# /metrics, their X-Forwarded-For names the client (rate limits), and their
# X-Request-ID is kept as is (core/http/proxies.py).
try:
    TRUSTED_PROXIES = [
        ipaddress.ip_network(network, strict=False)
        for network in env.list("TRUSTED_PROXIES", default=[])
    ]
except ValueError as error:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES: {error}") from error
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): our own origin only, and no inline
# script or style anywhere, ever: no 'unsafe-inline', no nonces, no hashes.
# A template that needs behaviour or style links a static file
# (docs/storefront.md, "Content-Security-Policy"); the admin already does.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "manifest-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}
# Powerful browser features the shop never uses, off for every page and for
# anything a page could embed. A payment step that uses the Payment Request
# API would allow "payment" for its own origin.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "usb",
        "xr-spatial-tracking",
    )
}

# /.well-known/security.txt (RFC 9116): where to report a vulnerability.
SECURITY_TXT_CONTACT = env.list(
    "SECURITY_TXT_CONTACT", default=[f"mailto:security@{ALLOWED_HOSTS[0].lstrip('.')}"]
)
SECURITY_TXT_POLICY = env.str("SECURITY_TXT_POLICY", default="")
SECURITY_TXT_LANGUAGES = env.str("SECURITY_TXT_LANGUAGES", default="en")
# Expires is always this many days ahead, so the file never goes stale by neglect.
SECURITY_TXT_EXPIRES_DAYS = env.int("SECURITY_TXT_EXPIRES_DAYS", default=180)
if not 1 <= SECURITY_TXT_EXPIRES_DAYS <= 365:
    raise ImproperlyConfigured("SECURITY_TXT_EXPIRES_DAYS must be from 1 to 365 (RFC 9116)")

# -- Monitoring ------------------------------------------------------------------------

# /metrics and verbose health output are for the monitoring network: these
# addresses (CIDRs; the socket's address, never X-Forwarded-For) or whoever
# sends `Authorization: Bearer <METRICS_TOKEN>`. Empty networks with a token
# means token only.
try:
    METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(network, strict=False)
        for network in env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
    ]
except ValueError as error:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {error}") from error
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# /metrics is served by the gunicorn master on a port of its own, never on
# PORT, so a proxy forwarding the shop can never forward it (core/metrics/
# exporter.py). 0 lets the OS pick (tests); the master logs the port it got.
METRICS_HOST = env.str("METRICS_HOST", default=HOST)
METRICS_PORT = env.int("METRICS_PORT", default=9464)
# Port 0 for both (tests, `make bare`): the OS gives each its own.
if METRICS_PORT == PORT != 0:
    raise ImproperlyConfigured(
        "METRICS_PORT must differ from PORT: the shop's port never serves it"
    )

# /readyz: how long the database may take to answer SELECT 1, and the share of
# the pool's ceiling in use at which this worker says "not ready" without
# querying (so a probe never takes the last connection of a saturated pool).
READYZ_TIMEOUT = env.float("READYZ_TIMEOUT", default=1.0)
READYZ_POOL_SATURATION = env.float("READYZ_POOL_SATURATION", default=0.9)
if READYZ_TIMEOUT <= 0 or not 0 < READYZ_POOL_SATURATION <= 1:
    raise ImproperlyConfigured(
        "READYZ_TIMEOUT must be positive and READYZ_POOL_SATURATION in (0, 1]"
    )

# -- The back office (core/staff) -------------------------------------------------------

# Where the admin lives: not /admin/, where every script looks first.
ADMIN_PATH = env.str("ADMIN_PATH", default="admin").strip("/")
if not ADMIN_PATH or not all(
    part.replace("-", "").replace("_", "").isalnum() for part in ADMIN_PATH.split("/")
):
    raise ImproperlyConfigured(
        f"ADMIN_PATH={ADMIN_PATH!r}: expected a path such as back-office or staff/x7"
    )
# A staff login lasts this long (and no cookie outlives it), unless ended sooner.
STAFF_SESSION_HOURS = env.float("STAFF_SESSION_HOURS", default=8.0)
# Lockout (django-axes): this many failures of one username from one client
# address pause that pair for ADMIN_LOCKOUT_MINUTES. Keyed on the pair, an
# attacker's address never locks a real staff member out, and never for ever.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("ADMIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "core.http.proxies.client_address"
AXES_LOCKOUT_CALLABLE = "core.staff.lockout.locked_out"
AXES_VERBOSE = False
if ENVIRONMENT == "test":
    # Test logins hash in microseconds; every other environment keeps Django's default.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The name staff see in their authenticator app.
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="WidgetWorld")

# -- Status page and banner (core/status, docs/communication-plan.md) --------------------

# Alertmanager's webhook (POST /status/alertmanager) must send
# `Authorization: Bearer <STATUS_WEBHOOK_TOKEN>`; empty refuses every call.
STATUS_WEBHOOK_TOKEN = env.str("STATUS_WEBHOOK_TOKEN", default="")
STATUS_WEBHOOK_MAX_BYTES = env.int("STATUS_WEBHOOK_MAX_BYTES", default=256 * 1024)
# Hysteresis: a component degrades once its signals have pointed there this
# many seconds, and recovers once they have been clear this many.
STATUS_DEGRADE_AFTER = env.float("STATUS_DEGRADE_AFTER", default=30.0)
STATUS_RECOVER_AFTER = env.float("STATUS_RECOVER_AFTER", default=120.0)
# Seconds of the fleet's request outcomes each evaluation looks at.
STATUS_SIGNAL_WINDOW = env.int("STATUS_SIGNAL_WINDOW", default=60)
# How often each worker publishes its counts and the fleet is evaluated.
STATUS_MONITOR_INTERVAL = env.float("STATUS_MONITOR_INTERVAL", default=5.0)
# How stale a process's copy of the status may be before it asks the cache again.
STATUS_LOCAL_TTL = env.float("STATUS_LOCAL_TTL", default=2.0)
STATUS_SUMMARY_MAX_AGE = env.int("STATUS_SUMMARY_MAX_AGE", default=5)
# The cache holding the shared status document (Django cache alias).
STATUS_CACHE_ALIAS = env.str("STATUS_CACHE_ALIAS", default="default")
if min(STATUS_DEGRADE_AFTER, STATUS_RECOVER_AFTER) < 0 or STATUS_MONITOR_INTERVAL <= 0:
    raise ImproperlyConfigured(
        "STATUS_DEGRADE_AFTER and STATUS_RECOVER_AFTER must be >= 0, STATUS_MONITOR_INTERVAL > 0"
    )
if STATUS_SIGNAL_WINDOW < 5 or STATUS_WEBHOOK_MAX_BYTES < 1024:
    raise ImproperlyConfigured(
        "STATUS_SIGNAL_WINDOW must be at least 5 s and STATUS_WEBHOOK_MAX_BYTES at least 1024"
    )

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

# -- Internationalisation ----------------------------------------------------------

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# -- Static files ------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(DATA_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "widgetworld" / "static"]
# SVG files can carry script: served with a sandboxing policy of their own.
WHITENOISE_ADD_HEADERS_FUNCTION = static_headers
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names let browsers and a CDN cache static files forever. Tests
    # render templates without running collectstatic first, so they use the
    # plain storage; one test collects and checks the hashed names.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if ENVIRONMENT == "test"
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# -- Logging -----------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if LOCAL else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r}: expected json or text")

# Gunicorn's access log is the one line per request; load tests and setups
# whose proxy already logs requests turn it off.
ACCESS_LOG = env.bool("ACCESS_LOG", default=True)

LOGGING = django_logging(LOG_FORMAT, LOG_LEVEL)
