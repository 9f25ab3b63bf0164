"""A rate, "count/period": read by settings, so it imports nothing but the standard library."""

from __future__ import annotations

import re
from dataclasses import dataclass

_RATE = re.compile(r"([0-9]+)\s*/\s*([0-9]*)\s*([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    """At most `limit` (requests, or units of cost) per `period` seconds."""

    limit: int
    period: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """ "20/10m", "300/m", "500/h", "1000/d"."""
        found = _RATE.fullmatch(text.strip())
        if not found:
            raise ValueError(f"{text!r}: expected a rate such as 20/10m, 300/m or 500/h")
        count, multiple, unit = found.groups()
        period = int(multiple or 1) * _UNIT_SECONDS[unit]
        if int(count) < 1 or period < 1:
            raise ValueError(f"{text!r}: a rate needs a positive count and period")
        return cls(int(count), period)

    def __str__(self) -> str:
        return f"{self.limit}/{self.period}s"
