"""Pool events: counted always, signalled always, logged once.

A surge produces thousands of identical timeouts in seconds; one log line per
request would bury the one line that matters. The first event of each kind is
logged at once with its context, the rest are counted and summed up in one
line per window. Leaks are logged every time: each borrow is reported once,
and each report's stack is the point of it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from core.db.backends.postgresql import signals

logger = logging.getLogger("core.db.pool")


@dataclass(slots=True)
class _Window:
    opened_at: float
    suppressed: int = 0


class EventLog:
    def __init__(self, alias: str, sender: type, window: float = 10.0) -> None:
        self.alias = alias
        self.sender = sender
        self.window = window
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def record(
        self, event: str, level: int, message: str, *, every: bool = False, **context: Any
    ) -> None:
        """Count and signal; log the first of its kind per window, or `every` one."""
        signals.pool_event.send(sender=self.sender, alias=self.alias, event=event, context=context)
        now = time.monotonic()
        if not every:
            with self._lock:
                window = self._windows.get(event)
                if window is not None and now - window.opened_at < self.window:
                    window.suppressed += 1
                    return
                self._windows[event] = _Window(opened_at=now)
        logger.log(
            level,
            "pool %s: %s",
            self.alias,
            message,
            extra={"pool_event": event, "alias": self.alias, **context},
        )

    def flush(self) -> None:
        """Close windows that have ended, summing up what they kept quiet."""
        now = time.monotonic()
        with self._lock:
            ended = {e: w for e, w in self._windows.items() if now - w.opened_at >= self.window}
            for event in ended:
                del self._windows[event]
        for event, window in ended.items():
            if window.suppressed:
                logger.warning(
                    "pool %s: %d more %s event(s) in the last %.0f s",
                    self.alias,
                    window.suppressed,
                    event,
                    now - window.opened_at,
                    extra={"pool_event": event, "alias": self.alias, "count": window.suppressed},
                )
