"""Process-wide runtime tuning shared by the controller's processes."""

from __future__ import annotations

import gc

# Garbage collection in a process holding thousands of long-lived agent streams. With CPython's
# default thresholds (700, 10, 10), objects that live a second or so (messages and samples in
# flight, timers) reach the oldest generation, and each full collection then walks every object
# of every stream: 25-40% of the controller's time at 5,000 agents. Larger young generations
# promote far less; what startup built is frozen (it is never garbage) and no longer walked.
GC_THRESHOLDS = (50_000, 20, 10)


def tune_gc() -> None:
    gc.set_threshold(*GC_THRESHOLDS)
