"""The logging configuration Django and gunicorn share, built from two settings.

Both processes format the same way (JSON in production, readable text
locally) and stamp the request id, so a collector sees one stream whichever
logger wrote the line. Gunicorn's access log is the only one-line-per-request
log, and `ACCESS_LOG=false` turns it off (load tests, or a proxy that logs).
"""

from __future__ import annotations

from typing import Any

# What gunicorn's access log says in text; the JSON formatter spreads the same
# atoms into fields. The request id comes from our response header.
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'

_JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"
_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}


def _formatters() -> dict[str, dict[str, Any]]:
    return {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": _JSON_FIELDS,
            "rename_fields": _RENAMES,
        },
        "json_access": {
            "()": "core.logs.formatters.AccessJsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            "rename_fields": {**_RENAMES, "process": "pid"},
        },
        "text": {"format": "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"},
        "text_access": {"format": "%(asctime)s %(levelname)-7s %(name)s %(message)s"},
    }


def _handlers(log_format: str) -> dict[str, dict[str, Any]]:
    return {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": log_format,
            "filters": ["request_id"],
        },
        "access": {"class": "logging.StreamHandler", "formatter": f"{log_format}_access"},
    }


# psycopg_pool logs every checkout at INFO; our pool reports its own events
# (core.db.pool), once each, with context.
_QUIET = {"psycopg.pool": {"level": "ERROR"}}

_FILTERS = {
    "request_id": {"()": "core.logs.context.RequestIdFilter"},
    "drop_503": {"()": "core.logs.context.DropServiceUnavailable"},
}


def django_logging(log_format: str, level: str) -> dict[str, Any]:
    """`settings.LOGGING`: everything through one console handler, root at `level`."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": _FILTERS,
        "formatters": _formatters(),
        "handlers": {"console": _handlers(log_format)["console"]},
        "loggers": {"django.request": {"filters": ["drop_503"]}, **_QUIET},
        "root": {"handlers": ["console"], "level": level},
    }


def gunicorn_logging(log_format: str, level: str, access_log: bool) -> dict[str, Any]:
    """Gunicorn's `logconfig_dict`: its error and access logs in our format, on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": _FILTERS,
        "formatters": _formatters(),
        "handlers": _handlers(log_format),
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["console"], "propagate": False},
            # Off means no handler and a level that skips the call: with a
            # logconfig_dict gunicorn always calls the access logger.
            "gunicorn.access": {
                "level": "INFO" if access_log else "WARNING",
                "handlers": ["access"] if access_log else [],
                "propagate": False,
            },
            **_QUIET,
        },
        "root": {"handlers": ["console"], "level": level},
    }
