"""Gunicorn's configuration: the same for `make run`, Docker and production.

Values come from `widgetworld.settings`, the one place that reads the
environment, so the port and worker counts documented there are the ones used.
"""

import sys
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from core.logs.config import ACCESS_LOG_FORMAT, gunicorn_logging
from core.metrics import multiprocess

try:
    from widgetworld import settings
except ImproperlyConfigured as error:
    # One line an operator can act on, not gunicorn's traceback of its config file.
    sys.exit(f"widgetworld: configuration error: {error}")

# Before any worker exists (or imports prometheus_client): every worker writes
# its metrics to this run's fresh directory, and any of them can export all.
multiprocess.prepare()

bind = [f"{settings.HOST}:{settings.PORT}"]
worker_class = "gthread"
workers = settings.WEB_CONCURRENCY
threads = settings.WEB_THREADS
# A request still running after this long is stuck, not slow: the worker is replaced.
timeout = 30
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so slow leaks cannot accumulate; the jitter
# keeps them from restarting together.
max_requests = 10_000
max_requests_jitter = 1_000
# Logs go to stderr in the format the rest of the app uses (JSON in
# production), the access log included unless ACCESS_LOG=false.
accesslog = "-" if settings.ACCESS_LOG else None
access_log_format = ACCESS_LOG_FORMAT
errorlog = "-"
loglevel = settings.LOG_LEVEL.lower()
logconfig_dict = gunicorn_logging(settings.LOG_FORMAT, settings.LOG_LEVEL, settings.ACCESS_LOG)
wsgi_app = "widgetworld.wsgi:application"
# Gunicorn 25+ opens a control socket in $HOME by default: two servers on one
# machine (tests, benchmarks) would fight over it, and nothing here uses it.
control_socket_disable = True


def pre_fork(server: object, worker: object) -> None:
    """The master serves no request: whatever pool it opened must not reach a worker."""
    from core.db.backends.postgresql import registry

    registry.close_all()


def worker_exit(server: object, worker: object) -> None:
    """Close this worker's connections cleanly, so its peers see it gone at once."""
    from core.db.backends.postgresql import registry

    registry.close_all()


def child_exit(server: Any, worker: Any) -> None:
    """In the master: a dead worker's live gauges (its pool) leave the metrics."""
    multiprocess.worker_exited(worker.pid)


def on_exit(server: Any) -> None:
    multiprocess.cleanup()
