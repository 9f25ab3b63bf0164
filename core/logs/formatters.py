"""JSON for gunicorn's access log: fields a log collector can filter on, not one string."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pythonjsonlogger.json import JsonFormatter

# Gunicorn's access-log atoms and the field each becomes.
ACCESS_FIELDS = {
    "h": "client",
    "m": "method",
    "U": "path",
    "q": "query",
    "s": "status",
    "B": "bytes",
    "M": "duration_ms",
    "a": "user_agent",
    "{x-request-id}o": "request_id",
}


class AccessJsonFormatter(JsonFormatter):
    """Spreads gunicorn's access atoms (the record's mapping args) into JSON fields."""

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        atoms = record.args
        if not isinstance(atoms, Mapping):
            return
        for atom, field in ACCESS_FIELDS.items():
            value = atoms[atom]
            if value not in (None, "-", ""):
                log_data[field] = int(str(value)) if field == "status" else value
