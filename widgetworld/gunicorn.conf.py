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


# The master's /metrics listener (core/metrics/exporter.py), once it is ready.
_metrics: Any = None


def when_ready(server: Any) -> None:
    """In the master, before any worker: /metrics on its own port, from every worker's files."""
    # Imported here, never above: prometheus_client picks file-backed values
    # only if PROMETHEUS_MULTIPROC_DIR is set when it is first imported.
    from core.metrics.exporter import MetricsServer, metrics_app

    global _metrics
    if _metrics is None:
        app = metrics_app(settings.METRICS_ALLOWED_NETWORKS, settings.METRICS_TOKEN)
        _metrics = MetricsServer(settings.METRICS_HOST, settings.METRICS_PORT, app).start()
    server.log.info(
        "serving /metrics on http://%s:%d/metrics", settings.METRICS_HOST, _metrics.port
    )


def post_fork(server: object, worker: object) -> None:
    """A worker inherits the master's metrics socket: it must never answer on it."""
    if _metrics is not None:
        _metrics.close_socket()


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
    if _metrics is not None:
        _metrics.stop()
    multiprocess.cleanup()
