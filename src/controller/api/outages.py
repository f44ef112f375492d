"""Which failures of an RPC are an outage of something the controller depends on, and of what.

A call that fails because PostgreSQL, RabbitMQ or an agent went away, refused or timed out is
not the caller's fault and not a bug: it ends `UNAVAILABLE` with a `RetryInfo`, and a message
naming what is unreachable (`controller.api.errors` builds the status). Anything else that is
not a domain error is a bug and ends `INTERNAL`, logged with its traceback.

What counts as transient is the daemons' one policy (`daemon.supervision.TRANSIENT_IO`: the
same failures a supervised loop retries), so the API and the loops never disagree about a
database restart; this module only adds which dependency failed, read from the drivers the
failure came through (asyncpg is looked up by the policy, never imported here: the services
below stay free of drivers). One narrowing: an `OSError` that came through none of the
drivers and is not a connection or timeout error (a file of the image store missing, a disk
full) is not an outage of anything the caller can wait for, so it stays a bug.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

from daemon import supervision


@dataclass(frozen=True)
class Dependency:
    """Something outside the controller an RPC needs."""

    name: str  # for people: the status message says it
    reason: str  # ErrorInfo.reason: for programs
    retry_after_s: float  # RetryInfo.retry_delay: long enough for a restart to take hold


DATABASE = Dependency("the database (PostgreSQL)", "DATABASE_UNAVAILABLE", 1.0)
BROKER = Dependency("the message broker (RabbitMQ)", "BROKER_UNAVAILABLE", 1.0)
AGENT = Dependency("an agent", "AGENT_UNAVAILABLE", 1.0)
SERVICE = Dependency("a service the controller depends on", "DEPENDENCY_UNAVAILABLE", 1.0)

# The driver each dependency is reached through, by top-level package.
_DRIVERS: dict[str, Dependency] = {
    "asyncpg": DATABASE,
    "aio_pika": BROKER,
    "aiormq": BROKER,
    "pamqp": BROKER,
    "grpc": AGENT,
}

_POLICY = supervision.DEFAULT


def leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions of `exc` itself: an exception group (a TaskGroup's) flattened."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from leaves(inner)
    else:
        yield exc


def outage_of(exc: BaseException) -> Dependency | None:
    """The dependency whose outage `exc` is (one exception, not a group), or None."""
    if isinstance(exc, BaseExceptionGroup) or not _POLICY.is_transient(exc):
        return None
    found = _driver_of(exc)
    if found is not None:
        return found
    if isinstance(exc, OSError) and not isinstance(exc, ConnectionError | TimeoutError):
        return None  # the controller's own files, not a service: see the module docstring
    return SERVICE


def _driver_of(exc: BaseException) -> Dependency | None:
    """The dependency whose driver raised `exc` or let it through, looking at the exception's
    type, the frames it passed and what it was raised from."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for module in (type(current).__module__, *_frame_modules(current.__traceback__)):
            found = _DRIVERS.get(module.partition(".")[0])
            if found is not None:
                return found
        current = current.__cause__ or current.__context__
    return None


def _frame_modules(tb: TracebackType | None) -> Iterator[str]:
    while tb is not None:
        yield str(tb.tb_frame.f_globals.get("__name__", ""))
        tb = tb.tb_next
