"""The failure policy (daemon.supervision): transient failures are retried with growing delays,
a loop that ran well starts over, a bug ends the process, cancellation passes through."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path

import aio_pika
import aiormq.exceptions
import asyncpg
import grpc
import pytest
from structlog.testing import capture_logs
from yarl import URL

from daemon.supervision import DEFAULT, Backoff, FailurePolicy, LoopCrashed, TransientError, supervise

SRC = str(Path(__file__).resolve().parents[3] / "src")
POLICY = FailurePolicy(Backoff(initial=1.0, maximum=8.0, reset_after=60.0))


class FakeTime:
    """A clock that moves only when a loop sleeps (or a test says the loop ran a while)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(
    failures: list[BaseException | None], time: FakeTime, ran_s: float = 0.0
) -> Callable[[], Awaitable[None]]:
    """A loop that fails with each of `failures` in turn (after running `ran_s`), then
    returns (None in the list: it returns there)."""

    async def run() -> None:
        time.now += ran_s
        failure = failures.pop(0)
        if failure is not None:
            raise failure

    return run


def rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="from the test")


@pytest.mark.parametrize(
    "failure",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        ConnectionResetError(),
        TimeoutError(),
        TransientError("a child process exited"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.DeadlockDetectedError("deadlock detected"),
        asyncpg.InterfaceError("connection is closed"),
        asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
        aiormq.exceptions.ChannelPreconditionFailed("inequivalent arg 'x-queue-type'"),
        aiormq.exceptions.ConnectionClosed(320, "CONNECTION_FORCED"),
        rpc_error(grpc.StatusCode.UNAVAILABLE),
        rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED),
        ExceptionGroup("both", [TimeoutError(), ConnectionResetError()]),
    ],
    ids=repr,
)
def test_io_failures_are_transient(failure: BaseException) -> None:
    assert DEFAULT.is_transient(failure)


@pytest.mark.parametrize(
    "failure",
    [
        KeyError("x"),
        ValueError("bad"),
        AssertionError(),
        RuntimeError("bug"),
        asyncpg.UndefinedTableError('relation "nope" does not exist'),
        asyncpg.UniqueViolationError("duplicate key"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        asyncpg.InternalClientError("got result for unknown protocol state 0"),
        rpc_error(grpc.StatusCode.INVALID_ARGUMENT),
        rpc_error(grpc.StatusCode.UNKNOWN),
        ExceptionGroup("mixed", [TimeoutError(), KeyError("x")]),
    ],
    ids=repr,
)
def test_anything_else_is_a_bug(failure: BaseException) -> None:
    assert not DEFAULT.is_transient(failure)


async def test_a_robust_connection_that_is_down_is_transient() -> None:
    connection = aio_pika.RobustConnection(URL("amqp://guest:guest@127.0.0.1:1/"))
    with pytest.raises(RuntimeError) as raised:  # never connected, as while reconnecting
        await connection.channel()
    assert DEFAULT.is_transient(raised.value)
    assert not DEFAULT.is_transient(RuntimeError("Connection was not opened"))  # not aio-pika's


def test_a_daemon_adds_its_own_transient_errors() -> None:
    class DriverError(Exception):
        pass

    unknown = rpc_error(grpc.StatusCode.UNKNOWN)
    policy = DEFAULT.with_transient(DriverError, lambda exc: exc is unknown)
    assert policy.is_transient(DriverError()) and policy.is_transient(unknown)
    assert policy.is_transient(TimeoutError())  # the defaults stay
    assert not policy.is_transient(KeyError("x"))
    assert not DEFAULT.is_transient(DriverError())  # and the default policy is unchanged


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    backoff = Backoff(initial=0.2, maximum=5.0)
    for attempt in range(12):
        step = min(5.0, 0.2 * 2**attempt)
        for _ in range(20):
            assert max(0.2, step / 2) <= backoff.delay(attempt) <= step
    assert len({backoff.delay(3) for _ in range(10)}) > 1


async def test_transient_failures_are_retried_with_growing_delays_until_success() -> None:
    time = FakeTime()
    failures: list[BaseException | None] = [ConnectionRefusedError()] * 6 + [None]
    with capture_logs() as logs:
        await supervise("db-loop", failing(failures, time), POLICY, clock=time.clock, sleep=time.sleep)
    assert failures == []
    assert len(time.sleeps) == 6
    steps = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]  # doubling from `initial`, capped at `maximum`
    for delay, step in zip(time.sleeps, steps, strict=True):
        assert step / 2 <= delay <= step
    assert time.sleeps[3] > time.sleeps[0] * 2
    retries = [e for e in logs if e["event"] == "loop.retrying"]
    assert [e["attempt"] for e in retries] == [1, 2, 3, 4, 5, 6]  # one line per failure
    assert {e["loop"] for e in retries} == {"db-loop"}
    assert all(e["log_level"] == "warning" for e in retries)
    assert retries[0]["error"].startswith("ConnectionRefusedError")
    assert [e["retry_in_s"] for e in retries] == [round(d, 2) for d in time.sleeps]


async def test_a_loop_that_ran_well_before_failing_starts_over_at_the_shortest_delay() -> None:
    time = FakeTime()
    quick: list[BaseException | None] = [TimeoutError()] * 4
    await supervise("quick", failing([*quick, None], time), POLICY, clock=time.clock, sleep=time.sleep)
    assert time.sleeps[-1] >= 4.0  # fourth failure in a row: 4-8 s

    time = FakeTime()
    # Four failures, each after an hour of service: every one is a first failure.
    await supervise(
        "steady", failing([*quick, None], time, ran_s=3600.0), POLICY, clock=time.clock, sleep=time.sleep
    )
    assert len(time.sleeps) == 4
    assert all(0.5 <= d <= 1.0 for d in time.sleeps)


async def test_a_bug_is_logged_with_its_traceback_and_raised_not_retried() -> None:
    time = FakeTime()
    bug = KeyError("missing")
    failures: list[BaseException | None] = [TimeoutError(), bug, None]
    with capture_logs() as logs, pytest.raises(LoopCrashed) as raised:
        await supervise("monitor", failing(failures, time), POLICY, clock=time.clock, sleep=time.sleep)
    assert raised.value.__cause__ is bug
    assert raised.value.loop == "monitor"
    assert failures == [None]  # not run again after the bug
    assert len(time.sleeps) == 1  # only the transient failure waited
    (crash,) = [e for e in logs if e["event"] == "loop.crashed"]
    assert crash["log_level"] == "error"
    assert crash["loop"] == "monitor"
    assert crash["exc_info"] is bug


async def test_a_bug_in_one_loop_stops_the_others_through_the_root_task_group() -> None:
    started = asyncio.Event()
    other_cancelled = asyncio.Event()

    async def healthy() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            other_cancelled.set()
            raise

    async def buggy() -> None:
        await started.wait()
        raise ZeroDivisionError("oops")

    with pytest.raises(ExceptionGroup) as raised:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(supervise("healthy", healthy))
            tg.create_task(supervise("buggy", buggy))
    assert other_cancelled.is_set()
    (crash,) = raised.value.exceptions
    assert isinstance(crash, LoopCrashed) and isinstance(crash.__cause__, ZeroDivisionError)


async def test_a_returning_loop_is_done() -> None:
    calls = []

    async def once() -> None:
        calls.append(1)

    await supervise("once", once)
    assert calls == [1]


async def test_cancellation_passes_through_while_running_and_while_waiting() -> None:
    running = asyncio.Event()

    async def forever() -> None:
        running.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(supervise("forever", forever))
    await running.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    attempts = 0

    async def refused() -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionRefusedError()

    slow = FailurePolicy(Backoff(initial=3600.0, maximum=3600.0))
    task = asyncio.create_task(supervise("refused", refused, slow))
    await asyncio.sleep(0.05)  # now waiting an hour before the second attempt
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert attempts == 1


def test_a_crashed_daemon_exits_1_with_the_traceback_logged_once() -> None:
    script = textwrap.dedent(
        """
        import asyncio
        from daemon import logs
        from daemon.supervision import exit_on_crash, supervise

        async def idle():
            await asyncio.sleep(3600)

        async def crash():
            await asyncio.sleep(0.01)
            {}["no such key"]

        async def main():
            async with asyncio.TaskGroup() as tg:
                tg.create_task(supervise("idle", idle))
                tg.create_task(supervise("crash", crash))

        logs.configure("json")
        with exit_on_crash("demo"):
            asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert done.stderr.count('"event": "loop.crashed"') == 1
    assert done.stderr.count("Traceback") == 1
    assert "KeyError" in done.stderr
    assert "demo.crashed" not in done.stderr  # LoopCrashed was logged where it happened
