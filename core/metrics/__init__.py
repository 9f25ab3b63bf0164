"""Prometheus instrumentation: what the pool, the server and the app are doing, at `/metrics`.

Every metric is listed with its type, labels and meaning in `docs/metrics.md`.
Under gunicorn this runs in prometheus_client's multiprocess mode (the
directory is prepared by `widgetworld/gunicorn.conf.py`); anywhere else
(tests, management commands) it uses the ordinary single-process registry.
"""
