"""`settings.DATABASE_ROUTING`: the primary's alias, its replicas', how fresh is fresh.

Read live from settings (so `override_settings` works) and parsed again only
when it changes. A bad value fails with one message naming the key.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS

from core.db.backends.postgresql.options import OptionsCache

SETTING = "DATABASE_ROUTING"


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    # Writes, transactions and every read that must be fresh go here.
    primary: str = DEFAULT_DB_ALIAS
    # Streaming replicas of the primary; reads are spread over the fit ones.
    replicas: tuple[str, ...] = ()
    # Seconds of replay lag after which a replica gets no reads until it catches up.
    max_lag: float = 5.0
    # Seconds after a write during which its writer reads only from the primary
    # or from a replica that has replayed it. Longer than max_lag: afterwards,
    # any replica fit to read from has replayed it anyway.
    read_your_writes: float = 30.0
    # A replica whose WAL position was last read longer ago than this is not
    # trusted: its pool's monitor reads it every 0.5 s.
    stale_after: float = 3.0

    @classmethod
    def parse(cls, raw: Any, databases: Collection[str]) -> RoutingConfig:
        """`raw` (the setting's value) checked, including against the `databases` aliases."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ImproperlyConfigured(f"{SETTING} must be a dict")
        unknown = sorted(set(raw) - set(cls.__dataclass_fields__))
        if unknown:
            raise ImproperlyConfigured(f"{SETTING}: unknown key(s) {', '.join(unknown)}")
        values = dict(raw)
        if "replicas" in values:
            values["replicas"] = tuple(values["replicas"])
        for key in ("max_lag", "read_your_writes", "stale_after"):
            if key in values:
                try:
                    values[key] = float(values[key])
                except (TypeError, ValueError):
                    raise ImproperlyConfigured(
                        f"{SETTING}: {key} must be a number of seconds, not {values[key]!r}"
                    ) from None
        config = cls(**values)
        config._validate(databases)
        return config

    def _validate(self, databases: Collection[str]) -> None:
        problems = [
            f"{key} must be positive ({getattr(self, key)})"
            for key in ("max_lag", "read_your_writes", "stale_after")
            if getattr(self, key) <= 0
        ]
        if self.read_your_writes <= self.max_lag:
            problems.append(
                f"read_your_writes ({self.read_your_writes:g} s) must be longer than max_lag "
                f"({self.max_lag:g} s), or a writer could read from a replica that has not "
                "replayed its write"
            )
        if self.primary in self.replicas:
            problems.append(f"the primary {self.primary!r} cannot be one of its replicas")
        if len(set(self.replicas)) != len(self.replicas):
            problems.append("a replica is listed twice")
        missing = [a for a in (self.primary, *self.replicas) if a not in databases]
        if missing:
            problems.append(f"not in DATABASES: {', '.join(missing)}")
        if problems:
            raise ImproperlyConfigured(f"{SETTING}: {'; '.join(problems)}")


_cache: OptionsCache[RoutingConfig] = OptionsCache(
    # getattr: the settings module reads this module, and mypy cannot type that loop.
    lambda raw: RoutingConfig.parse(raw, getattr(settings, "DATABASES", {}))
)


def routing_config() -> RoutingConfig:
    return _cache.get(getattr(settings, SETTING, None))
