"""Calls the controller shed under overload are sent again.

A controller that serves as many calls as it can answers the rest `RESOURCE_EXHAUSTED` with
ErrorInfo reason `OVERLOADED` and a `RetryInfo` delay, before doing anything for them: any
such call, a create or a delete too, is safe to send again as it is. The client waits at least
the delay asked for, and up to twice it at random (so clients shed together do not come back
together), and tries again until `budget_s` has passed since the first attempt; then it raises
the last `ResourceExhausted`, its message saying it gave up and after how long. Other
RESOURCE_EXHAUSTED errors (a quota) are not retried.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import OvercastError, ResourceExhausted

OVERLOADED = "OVERLOADED"
DEFAULT_OVERLOAD_BUDGET = 60.0
_DEFAULT_DELAY_S = 1.0  # a shed answer without RetryInfo (an older controller)


def is_shed(err: OvercastError) -> bool:
    return isinstance(err, ResourceExhausted) and err.reason == OVERLOADED


@dataclass
class OverloadRetry:
    """One call's retries: `wait(err)` is the time to sleep before the next attempt, or None
    when `err` is not a shed call or the budget is spent."""

    budget_s: float
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[], float] = random.random
    attempts: int = 0
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def wait(self, err: OvercastError) -> float | None:
        self.attempts += 1
        if not is_shed(err):
            return None
        delay = err.retry_delay if err.retry_delay is not None else _DEFAULT_DELAY_S
        wait = delay * (1.0 + self.jitter())
        if self.clock() + wait - self.started > self.budget_s:
            return None
        return wait

    def gave_up(self, err: OvercastError) -> OvercastError:
        """`err` as raised when the retries end: a shed call says the client gave up."""
        if not is_shed(err):
            return err
        elapsed = self.clock() - self.started
        err.message = (
            f"{err.message} (the client gave up after {self.attempts} attempts in {elapsed:.1f} s,"
            f" its overload budget being {self.budget_s:g} s)"
        )
        err.args = (err.message,)
        return err
