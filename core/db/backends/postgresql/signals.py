"""What the pool tells the rest of the application, as Django signals.

The backend stays self-contained: it sends, and whoever cares (Prometheus
instrumentation in `core.metrics`) connects. Every signal is sent with
`sender=AdaptivePool` and `alias=`. Receivers run on the request's thread
(or the pool's monitor thread) and must not touch the database.
"""

from django.dispatch import Signal

# A connection was handed to a request: `wait` seconds after it asked.
connection_checked_out = Signal()
# A connection went back to the pool after being held `hold` seconds.
connection_returned = Signal()
# Something worth counting and logging once: `event` is one of "timeout",
# "rejected", "shed", "opened", "connect_failed", "lost", "leak", "resize",
# "breaker_opened", "breaker_closed", with `context` (a dict: limit, waiting,
# held_for, stack, reason, ...). The page cache listens for the breaker's two.
pool_event = Signal()
