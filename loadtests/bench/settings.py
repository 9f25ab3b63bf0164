"""WidgetWorld's settings with the database set up as one of the compared setups.

Benchmarks start gunicorn (or Django in process) with
DJANGO_SETTINGS_MODULE=loadtests.bench.settings and BENCH_SETUP naming the
setup; everything else is exactly WidgetWorld's but the rate limits (off).
"""

import os

from loadtests.bench.configs import database
from widgetworld.settings import *  # noqa: F403
from widgetworld.settings import DATABASES

# Benchmarks send thousands of requests a minute from one address to measure
# the data layer; the rate limits would measure themselves instead.
RATE_LIMITS_ENABLED = False

DATABASES = {
    "default": database(
        os.environ.get("BENCH_SETUP", "widgetworld"),
        DATABASES["default"],
        pgbouncer_port=int(os.environ.get("BENCH_PGBOUNCER_PORT", "0")),
    )
}
