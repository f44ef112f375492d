"""The failure policy of both daemons: what is retried and what ends the process.

The contract:
- A daemon's background work runs as named loops, each under `supervise`, all in the process's
  root TaskGroup (the controller's listener, scheduler, relay, host monitor...; the agent's
  stream to the controller, command consumer, metrics...).
- A loop that fails with a *transient* error (`FailurePolicy.is_transient`: I/O with the
  database, the broker or the controller going away, refusing or timing out for a while) is
  run again after a capped exponential backoff with jitter (`Backoff`), and the failure is
  logged once, as `loop.retrying` with the loop's name, the attempt, the delay and the error.
  A loop that had run for `Backoff.reset_after` seconds before it failed starts over at the
  shortest delay: one blip after a day of service is not the tenth failure in a row.
- Any other exception is a *bug*. It is logged once, with its traceback, as `loop.crashed`,
  and `supervise` raises `LoopCrashed` (the bug as its cause). The root TaskGroup then
  cancels the other loops, the daemon shuts down and `exit_on_crash` ends the process with
  status 1, for whatever supervises it (systemd, compose, the controller for its child
  processes) to start it again. Restarting a loop in place after a bug would run it on
  whatever state the bug left behind, forever and quietly; a fresh process starts clean.
- A loop that returns is done (it is not started again), and cancellation passes through
  untouched: it is how a daemon stops its loops.

What is transient (`TRANSIENT_IO`):
- `OSError` (among them `ConnectionError`: refused, reset, broken pipe), `TimeoutError`, and
  the daemons' own `TransientError`s;
- PostgreSQL (asyncpg): connection errors (SQLSTATE class 08), a server that is shutting down,
  crashed or still starting ("cannot connect now": 57P01, 57P02, 57P03), a cancelled statement
  (57014: a statement timeout), too many connections or other resources short (class 53),
  a serialization failure or deadlock (class 40), asyncpg's InterfaceError about a
  connection that is closed, and its InternalClientError for a pooled connection whose session
  the server ended while it was idle;
- RabbitMQ (aio-pika, aiormq): connection errors (OSErrors already), channel errors (a channel
  the broker closed, e.g. a queue declared with other arguments: an operator fixes that, the
  loop must then carry on), publishes the broker refused, and the RuntimeError aio-pika
  raises for a connection that is between two connections ("Connection was not opened");
- gRPC: a call that ended UNAVAILABLE or DEADLINE_EXCEEDED.
An exception group is transient when everything in it is. A daemon adds its own drivers'
errors to the policy it uses (`FailurePolicy.with_transient`), without this module knowing
them: the agent's stream to the controller, for one, also retries whatever status the
controller ended the stream with.

Outside the loops, two choices stand on purpose: one command's failure, a driver bug included,
costs that command (it is reported failed), not the agent; and an agent whose libvirt
connection is lost exits 1, since everything it holds refers to that connection and a new
process reconnects cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace

import aiormq.exceptions
import grpc
import structlog

log = structlog.get_logger("daemon.supervision")

Rule = Callable[[BaseException], bool]  # True: this failure is transient


class TransientError(Exception):
    """Raised by a daemon for a condition outside the process that trying again will clear
    (a child process that exited, commands the broker could not route yet)."""


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts: exponential from `initial` to `maximum` seconds, with jitter."""

    initial: float = 0.5
    maximum: float = 10.0
    reset_after: float = 30.0  # a loop that ran this long before failing starts over

    def delay(self, attempt: int) -> float:
        """The delay before attempt `attempt` + 1 (0: after the first failure)."""
        # "Equal jitter" (half fixed, half random) so a fleet of agents spreads out, never
        # below `initial` so nobody hammers a service that is still starting.
        step = min(self.maximum, self.initial * (2.0 ** min(attempt, 32)))
        return max(self.initial, step / 2 + random.uniform(0, step / 2))


def io_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError | TimeoutError | TransientError)


# SQLSTATE classes and codes of a database that is away, busy or shutting down, not of a query
# that is wrong: https://www.postgresql.org/docs/current/errcodes-appendix.html
_POSTGRES_CLASSES = ("08", "40", "53")
_POSTGRES_CODES = ("57P01", "57P02", "57P03", "57014")


def postgres_unavailable(exc: BaseException) -> bool:
    # Looked up, not imported: the agent runs without asyncpg, and an exception can only be
    # asyncpg's where asyncpg was imported.
    asyncpg = sys.modules.get("asyncpg")
    if asyncpg is None:
        return False
    if isinstance(exc, asyncpg.PostgresError):
        state = str(exc.sqlstate or "")
        return state[:2] in _POSTGRES_CLASSES or state in _POSTGRES_CODES
    # asyncpg's own "connection is closed" / "connection was closed in the middle of operation".
    if type(exc) is asyncpg.InterfaceError:
        return "closed" in str(exc)
    # A connection whose session the server ended (a restart: FATAL 57P01) while it sat idle in
    # a pool: asyncpg's protocol took the FATAL as an error to consume (state 2) and refuses the
    # next operation before it notices the socket closing (MagicStack/asyncpg#784, #1069). Seen
    # in a PostgreSQL restart under load (tests/faults); the pool then replaces the connection.
    return type(exc) is asyncpg.InternalClientError and "another operation (2) is in progress" in str(exc)


def broker_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, RuntimeError) and _raised_in(exc, "aio_pika"):
        # aio-pika's robust connection between two connections: "Connection was not opened".
        return any(word in str(exc).lower() for word in ("connection", "transport", "closed"))
    return isinstance(
        exc,
        aiormq.exceptions.AMQPConnectionError
        | aiormq.exceptions.AMQPChannelError
        | aiormq.exceptions.ChannelInvalidStateError  # a channel used after it closed
        | aiormq.exceptions.DeliveryError,
    )


def _raised_in(exc: BaseException, package: str) -> bool:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = str(tb.tb_frame.f_globals.get("__name__", "")) if tb is not None else ""
    return module == package or module.startswith(package + ".")


_GRPC_TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def grpc_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() in _GRPC_TRANSIENT


TRANSIENT_IO: tuple[Rule, ...] = (io_error, postgres_unavailable, broker_unavailable, grpc_unavailable)


def _of_type(kinds: tuple[type[BaseException], ...]) -> Rule:
    def rule(exc: BaseException) -> bool:
        return isinstance(exc, kinds)

    return rule


@dataclass(frozen=True)
class FailurePolicy:
    """Which failures a loop retries (the rest are bugs), and how long it waits between tries."""

    backoff: Backoff = field(default_factory=Backoff)
    rules: tuple[Rule, ...] = TRANSIENT_IO

    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, BaseExceptionGroup):
            return all(self.is_transient(e) for e in exc.exceptions)
        return any(rule(exc) for rule in self.rules)

    def with_transient(self, *kinds: type[BaseException] | Rule) -> FailurePolicy:
        """This policy, retrying these exception types (or failures these rules accept) too."""
        types = tuple(k for k in kinds if isinstance(k, type))
        rules = tuple(k for k in kinds if not isinstance(k, type))
        return replace(self, rules=(*self.rules, *rules, *((_of_type(types),) if types else ())))

    def with_backoff(self, backoff: Backoff) -> FailurePolicy:
        return replace(self, backoff=backoff)


DEFAULT = FailurePolicy()


class LoopCrashed(Exception):
    """A supervised loop failed with a bug (its `__cause__`), already logged with its traceback."""

    def __init__(self, loop: str, error: BaseException) -> None:
        super().__init__(f"{loop}: {describe(error)}")
        self.loop = loop


def describe(exc: BaseException) -> str:
    """One line: the exception's type and message (a gRPC status as CODE: details)."""
    if isinstance(exc, grpc.aio.AioRpcError):
        text = f"{exc.code().name}: {exc.details()}"
    else:
        text = str(exc) or repr(exc)
    notes = getattr(exc, "__notes__", ())
    return " ".join([f"{type(exc).__name__}: {text}", *(f"({note})" for note in notes)])


async def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    policy: FailurePolicy = DEFAULT,
    *,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Run the loop `run()` under `policy` (see the module's contract): return when it returns,
    run it again after a transient failure, raise LoopCrashed after any other.
    `clock` and `sleep` are the event loop's unless a test gives its own."""
    now = clock or asyncio.get_running_loop().time
    attempt = 0
    while True:
        started = now()
        try:
            await run()
            return
        except LoopCrashed:
            raise  # a loop inside this one: logged already
        except Exception as exc:
            if not policy.is_transient(exc):
                log.error("loop.crashed", loop=name, error=describe(exc), exc_info=exc)
                raise LoopCrashed(name, exc) from exc
            if now() - started >= policy.backoff.reset_after:
                attempt = 0
            delay = policy.backoff.delay(attempt)
            attempt += 1
            log.warning(
                "loop.retrying", loop=name, attempt=attempt, retry_in_s=round(delay, 2), error=describe(exc)
            )
        await sleep(delay)


def log_crashes(failure: BaseException, process: str) -> None:
    """Log what ended `process` (an exception or a group of them), each once: LoopCrashed was
    logged where it happened."""
    if isinstance(failure, BaseExceptionGroup):
        for inner in failure.exceptions:
            log_crashes(inner, process)
    elif not isinstance(failure, LoopCrashed):
        log.error(f"{process}.crashed", error=describe(failure), exc_info=failure)


@contextlib.contextmanager
def exit_on_crash(process: str) -> Iterator[None]:
    """Around a daemon's event loop: a failure that reaches it (a bug: transient ones are
    retried below) is logged once and ends the process with status 1; either way the
    process then exits quickly (`before_exit`)."""
    try:
        yield
    except Exception as failure:
        log_crashes(failure, process)
        raise SystemExit(1) from None
    finally:
        before_exit()


def before_exit() -> None:
    """Call once a daemon's event loop has returned and its process is about to exit. The
    interpreter's last collection walks every object left and runs their finalizers: the
    controller's children took 0.6-1.7 s between their last log line and their exit on these
    machines (the controller waiting for them at every shutdown), an agent up to ~3 s on a
    loaded machine; 0.14 s with everything frozen (nothing left matters: the process ends)."""
    gc.freeze()
