"""What readiness tells the rest of the application, as a Django signal.

Readiness only evaluates and returns its results; whoever cares (the
Prometheus gauges in `core.metrics`) connects here, so health never imports
metrics.
"""

from django.dispatch import Signal

# Sent after every evaluation, with `sender=Readiness` and `readiness=` (the result).
readiness_evaluated = Signal()
