"""Gunicorn's configuration: the same for `make run`, Docker and production.

Values come from `widgetworld.settings`, the one place that reads the
environment, so the port and worker counts documented there are the ones used.
"""

from widgetworld import settings

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
# Logs go to stderr in the format the rest of the app uses.
accesslog = "-"
errorlog = "-"
loglevel = settings.LOG_LEVEL.lower()
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
