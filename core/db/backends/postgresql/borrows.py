"""Who holds which connection, since when, and from where: leaks and orphans.

Every checkout is recorded (thread and time: a dict insert). The borrower's
stack costs more (a walk of up to 40 frames, several microseconds), so it is
sampled: one checkout in `SAMPLE_EVERY`, and every checkout for
`SUSPICION_SECONDS` after a leak has been reported, so the next report names
the code that took the connection. Every report also carries where the
holding thread is *now* (`sys._current_frames()`, read by the monitor only
when a leak is found), which for a long transaction or a stuck query is the
line that matters.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import Any

from core.db.backends.postgresql.events import EventLog

# Frames kept from a borrower's stack, innermost last.
STACK_DEPTH = 40
SAMPLE_EVERY = 16
SUSPICION_SECONDS = 600.0

Frames = list[tuple[CodeType, int]]


@dataclass(slots=True)
class Borrow:
    """A connection out of the pool: who took it, when, and (sampled) from where."""

    conn: Any
    since: float
    thread: threading.Thread
    frames: Frames | None
    reported: bool = False


def capture(frame: FrameType | None) -> Frames:
    """A stack as (code, line) pairs, innermost last: formatted only if it is ever reported."""
    frames: Frames = []
    while frame is not None and len(frames) < STACK_DEPTH:
        frames.append((frame.f_code, frame.f_lineno))
        frame = frame.f_back
    frames.reverse()
    return frames


def format_frames(frames: Frames) -> str:
    summary = traceback.StackSummary.from_list(
        [traceback.FrameSummary(code.co_filename, line, code.co_name) for code, line in frames]
    )
    return "".join(summary.format())


class Borrows:
    def __init__(self, alias: str, events: EventLog, leak_seconds: float) -> None:
        self.alias = alias
        self.leak_seconds = leak_seconds
        self._events = events
        self._lock = threading.Lock()
        self._by_id: dict[int, Borrow] = {}
        self._count = 0
        self._suspicious_until = 0.0
        self.leaks = 0

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, conn: Any, now: float) -> None:
        self._count += 1  # a lost increment under a race only shifts the sample
        frames = None
        if self._count % SAMPLE_EVERY == 0 or now < self._suspicious_until:
            frames = capture(sys._getframe(2))
        borrow = Borrow(conn, now, threading.current_thread(), frames)
        with self._lock:
            self._by_id[id(conn)] = borrow

    def remove(self, conn: Any) -> Borrow | None:
        with self._lock:
            return self._by_id.pop(id(conn), None)

    def watch(self, now: float) -> list[Borrow]:
        """Report leaks once each; return the borrows whose thread has ended (orphans)."""
        with self._lock:
            borrows = list(self._by_id.values())
        orphans = []
        for borrow in borrows:
            if not borrow.thread.is_alive():
                orphans.append(borrow)
            elif not borrow.reported and now - borrow.since > self.leak_seconds:
                self._report(borrow, now - borrow.since)
        return orphans

    def _report(self, borrow: Borrow, held: float) -> None:
        borrow.reported = True
        self._suspicious_until = time.monotonic() + SUSPICION_SECONDS
        taken = format_frames(borrow.frames) if borrow.frames else ""
        current = sys._current_frames().get(borrow.thread.ident or -1)
        now = format_frames(capture(current)) if current is not None else ""
        where = f"taken at:\n{taken}" if taken else "taken at: (not sampled; the next is)\n"
        if now:
            where += f"holding it now at:\n{now}"
        self._events.record(
            "leak",
            logging.WARNING,
            f"connection held for {held:.1f} s (over {self.leak_seconds:g} s) "
            f"by thread {borrow.thread.name}, {where}",
            every=True,
            held_for=round(held, 3),
            borrower=borrow.thread.name,
            stack=taken or now,
            taken_at=taken,
            holding_at=now,
        )
        # Counted only once logged, so whoever sees the count can already read the report.
        self.leaks += 1
