"""What the router tells the rest of the application, as Django signals.

As with the pool's signals (`core.db.backends.postgresql.signals`), the
router only sends; Prometheus instrumentation in `core.metrics` connects.
Receivers run on the request's thread and must not touch the database.
"""

from django.dispatch import Signal

# A request's reads were routed: `alias` serves them, for `reason` (a
# `router.Decision`: replica, primary, read_your_writes, fallback,
# replica_failed). Sent once per request, at its first read (the choice
# sticks), and once more when a failed replica's request runs again.
read_routed = Signal()
# A replica went out of rotation or came back: `alias`, `in_rotation`,
# `reason` (a `standing.Reason`) and `lag` (seconds, or None when unknown).
rotation_changed = Signal()
