"""The pool's knobs, read from `DATABASES[alias]["OPTIONS"]`.

Everything has a default that works in any Django project; WidgetWorld's
settings fill them from `WIDGETWORLD_DB_*` environment variables. A bad value
fails with one message naming the key: at start for WidgetWorld (its settings
check them), at the first connection for any other project.

Like Django, the backend reads OPTIONS live from `settings_dict`, not once at
construction: `OptionsCache` parses again only when the value changed.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.exceptions import ImproperlyConfigured

# OPTIONS keys this backend consumes; everything else goes to libpq as usual.
SESSION_KEYS = ("statement_timeout", "idle_in_transaction_session_timeout")
# The `<host>` part of `application_name` (budget.py), when not the machine's name.
HOST_NAME_KEY = "host_name"
# Seconds a new connection may take to open when OPTIONS sets no `connect_timeout`.
# libpq's own default waits for ever: a server that accepts the TCP connection
# and never answers would hold a pool's opener (and its slot) for good, counted
# as a connection that is merely busy. A healthy server answers in
# milliseconds; 5 s leaves room for TLS and SCRAM on a loaded one, and is
# longer than a checkout's wait, so a shopper never waits on it directly
# (docs/data-layer.md, "Differences from Django's backend").
DEFAULT_CONNECT_TIMEOUT = 5
# Keys Django's own PostgreSQL backend (and libpq) would not understand.
OWN_KEYS = ("pool", *SESSION_KEYS, HOST_NAME_KEY)


@dataclass(frozen=True, slots=True)
class PoolOptions:
    """`OPTIONS["pool"]`: how many connections, how long to wait, what to watch."""

    # Kept open even when idle, so each process stays visible to its peers.
    min_size: int = 1
    # Hard maximum per process, whatever the budget says.
    max_size: int = 20
    # Seconds a request waits for a connection before getting a 503.
    timeout: float = 2.5
    # Requests allowed to wait at once; the next one is turned away at once.
    max_waiting: int = 16
    # Server slots left out of the budget for admins, migrations and monitoring.
    headroom: int = 4
    # Threads this process serves requests with: more connections would idle.
    threads: int | None = None
    # Connections are replaced after this long (jittered), to spread server memory.
    max_lifetime: float = 1800.0
    # An idle connection above min_size is closed after this long: the pool
    # hands out the most recently used first, so idle ones are spare.
    max_idle: float = 10.0
    # A connection held longer than this is reported once, with its borrower's stack.
    leak_seconds: float = 10.0
    # Return the connection between queries outside transactions.
    release: bool = True
    # Mean seconds between budget recomputations (jittered by +/-50%).
    budget_interval: float = 20.0
    # Give up reopening connections after this long without success.
    reconnect_timeout: float = 300.0
    # psycopg_pool's background workers (opening, returning, closing connections).
    num_workers: int = 4
    # Learn the effective limit from query times (limit.py); off, the limit is the ceiling.
    adaptive: bool = True
    # How much slower than their baseline queries may get before the limit backs off.
    tolerance: float = 1.5
    # The deadline queue (admission.py): once waits have stayed above queue_target
    # for queue_interval, new requests wait at most queue_target before a 503.
    queue_target: float = 0.1
    queue_interval: float = 1.0
    # Read the server's place in the WAL stream every monitor tick (replication.py),
    # for a router choosing among a primary and its replicas.
    track_wal: bool = False

    @classmethod
    def from_options(cls, options: Mapping[str, Any], alias: str = "default") -> PoolOptions | None:
        """Parse `OPTIONS`; None when pooling is switched off (`"pool": False`)."""
        raw = options.get("pool", True)
        if raw is False or raw is None:
            return None
        if raw is True:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ImproperlyConfigured(
                f"DATABASES[{alias!r}]['OPTIONS']['pool'] must be True, False or a dict"
            )
        return cls.from_mapping(raw, where=f"DATABASES[{alias!r}]['OPTIONS']['pool']")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], where: str = "pool options") -> PoolOptions:
        fields = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - set(fields))
        if unknown:
            raise ImproperlyConfigured(f"{where}: unknown option(s) {', '.join(unknown)}")
        values = {}
        for name, value in raw.items():
            values[name] = _coerce(where, name, value, str(fields[name].type))
        options = cls(**values)
        options._validate(where)
        return options

    def _validate(self, where: str) -> None:
        problems = [
            f"{name} must not be negative ({getattr(self, name)})"
            for name in ("min_size", "headroom", "max_waiting")
            if getattr(self, name) < 0
        ]
        problems += [
            f"{name} must be positive ({getattr(self, name)})"
            for name in (
                "max_size",
                "timeout",
                "max_lifetime",
                "max_idle",
                "leak_seconds",
                "budget_interval",
                "reconnect_timeout",
                "num_workers",
                "queue_target",
                "queue_interval",
            )
            if getattr(self, name) <= 0
        ]
        if self.tolerance < 1:
            problems.append(f"tolerance must be at least 1 ({self.tolerance})")
        if self.threads is not None and self.threads < 1:
            problems.append(f"threads must be at least 1 ({self.threads})")
        if self.min_size > self.max_size:
            problems.append(
                f"min_size ({self.min_size}) is greater than max_size ({self.max_size})"
            )
        if problems:
            raise ImproperlyConfigured(f"{where}: {'; '.join(problems)}")


T = TypeVar("T")


class OptionsCache(Generic[T]):
    """Parsed OPTIONS, parsed again only when the raw value is no longer equal.

    A copy of the raw value is kept, so a dict changed in place is noticed too.
    """

    def __init__(self, parse: Callable[[Any], T]) -> None:
        self._parse = parse
        self._seen: Any = None
        self._copy: Any = None
        self._parsed: T | None = None

    def get(self, raw: Any) -> T:
        if self._parsed is not None and raw is self._seen and raw == self._copy:
            return self._parsed
        parsed = self._parse(raw)
        self._seen, self._copy, self._parsed = raw, copy.deepcopy(raw), parsed
        return parsed


def _coerce(where: str, name: str, value: Any, annotation: str) -> Any:
    kind = {"int": int, "float": float, "bool": bool, "int | None": int}[annotation]
    if value is None and annotation == "int | None":
        return None
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ImproperlyConfigured(f"{where}: {name} must be true or false, not {value!r}")
    try:
        if isinstance(value, bool):
            raise TypeError
        number = kind(value)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"{where}: {name} must be a number, not {value!r}") from None
    if kind is int and number != float(value):
        raise ImproperlyConfigured(f"{where}: {name} must be a whole number, not {value!r}")
    return number


def session_options(options: Mapping[str, Any], alias: str = "default") -> dict[str, int]:
    """Per-connection server settings from `OPTIONS`, in milliseconds (0 = off)."""
    values = {}
    for key in SESSION_KEYS:
        if key in options:
            value = _coerce(f"DATABASES[{alias!r}]['OPTIONS']", key, options[key], "int")
            if value < 0:
                raise ImproperlyConfigured(
                    f"DATABASES[{alias!r}]['OPTIONS']: {key} must not be negative ({value})"
                )
            values[key] = value
    return values


def host_name(options: Mapping[str, Any], alias: str = "default") -> str:
    """`OPTIONS["host_name"]`, or "" for the machine's own name."""
    value = options.get(HOST_NAME_KEY) or ""
    if not isinstance(value, str) or "/" in value:
        raise ImproperlyConfigured(
            f"DATABASES[{alias!r}]['OPTIONS']: {HOST_NAME_KEY} must be a name without '/', "
            f"not {value!r}"
        )
    return value
