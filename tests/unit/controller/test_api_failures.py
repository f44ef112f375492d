"""What a caller sees when a call fails for a reason other than its input: UNAVAILABLE with
RetryInfo, naming what is unreachable, for an outage of PostgreSQL, RabbitMQ or an agent;
INTERNAL with an error id (and one log line) for a bug; never UNKNOWN. The failures are made
for real where they can be (a closed port, a terminated backend, a pool that is full)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import asyncpg
import grpc
import pytest
from structlog.testing import capture_logs

from client import AsyncClient, Internal, NotFound, Unavailable
from controller.api import errors as api_errors
from controller.api import outages
from controller.api.errors import Ctx, OutageLog, streaming, unary
from controller.domain import errors
from devcluster import isolation
from overcast.v1 import server_pb2, server_pb2_grpc


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def failure_of(make: Callable[[], Any]) -> BaseException:
    try:
        await make()
    except Exception as exc:
        return exc
    raise AssertionError("no failure")


# --- which failures are outages, and of what ------------------------------------------------


async def test_a_database_that_is_down_is_an_outage_of_the_database() -> None:
    exc = await failure_of(lambda: asyncpg.connect(f"postgresql://postgres@127.0.0.1:{closed_port()}/x"))
    assert isinstance(exc, OSError)  # refused: no asyncpg type says "database"
    assert outages.outage_of(exc) is outages.DATABASE


async def test_a_connection_closed_under_a_transaction_is_an_outage_of_the_database() -> None:
    conn = await asyncpg.connect(isolation.PG_ADMIN_URL)
    admin = await asyncpg.connect(isolation.PG_ADMIN_URL)
    try:

        async def transaction_whose_backend_dies() -> None:
            async with conn.transaction():
                await admin.execute("SELECT pg_terminate_backend($1)", conn.get_server_pid())
                await conn.execute("SELECT 1")

        exc = await failure_of(transaction_whose_backend_dies)
    finally:
        await admin.close()
        conn.terminate()
    assert outages.outage_of(exc) is outages.DATABASE, repr(exc)


async def test_a_pool_acquire_that_times_out_is_an_outage_of_the_database() -> None:
    pool = await asyncpg.create_pool(isolation.PG_ADMIN_URL, min_size=1, max_size=1)
    assert pool is not None
    try:
        async with pool.acquire():
            exc = await failure_of(lambda: pool.acquire(timeout=0.05))
    finally:
        await pool.close()
    assert isinstance(exc, TimeoutError)
    assert outages.outage_of(exc) is outages.DATABASE


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.CannotConnectNowError("the database system is shutting down"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.InterfaceError("cannot call Transaction.__aexit__(): the underlying connection is closed"),
        # Seen in tests/faults: BEGIN on a pooled connection whose session a restart ended.
        asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_postgresql_errors_of_a_server_going_away_are_outages_of_the_database(exc: Exception) -> None:
    assert outages.outage_of(exc) is outages.DATABASE


async def test_a_broker_that_is_down_is_an_outage_of_the_broker() -> None:
    url = f"amqp://guest:guest@127.0.0.1:{closed_port()}/"
    exc = await failure_of(lambda: aio_pika.connect(url))
    assert outages.outage_of(exc) is outages.BROKER


async def test_an_agent_that_is_down_is_an_outage_of_an_agent() -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{closed_port()}") as ch:
        stub = server_pb2_grpc.ServerServiceStub(ch)
        exc = await failure_of(lambda: stub.GetServer(server_pb2.GetServerRequest(name="x"), timeout=2))
    assert outages.outage_of(exc) is outages.AGENT


@pytest.mark.parametrize(
    "exc",
    [
        KeyError("x"),
        ValueError("bad"),
        asyncpg.UniqueViolationError("duplicate key"),  # a query the storage should have mapped
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        FileNotFoundError(2, "No such file or directory"),  # the controller's own files
    ],
    ids=lambda e: type(e).__name__,
)
def test_other_failures_are_not_outages(exc: Exception) -> None:
    assert outages.outage_of(exc) is None


def test_the_log_of_an_outage_says_it_once_every_few_seconds_with_the_calls_it_failed() -> None:
    now = [100.0]
    outage_log = OutageLog(every_s=5.0, clock=lambda: now[0])
    exc = asyncpg.CannotConnectNowError("the database system is starting up")
    with capture_logs() as logs:
        logged = []
        for step in range(12):  # one call every second
            now[0] = 100.0 + step
            logged.append(outage_log.note(outages.DATABASE, "GetServer", exc))
    assert logged == [True, *[False] * 4, True, *[False] * 4, True, False]
    assert [entry["calls"] for entry in logs] == [1, 5, 5]
    assert all(entry["event"] == "api.unavailable" for entry in logs)


# --- the statuses, through a real gRPC server and the project's client ------------------------


class FailingServers(server_pb2_grpc.ServerServiceServicer):  # type: ignore[misc]
    """GetServer, DeleteServer and WatchServers fail with whatever `failures` hands out next
    (None: GetServer answers)."""

    def __init__(self) -> None:
        self.failures: list[BaseException | None] = []
        self.calls: dict[str, int] = {"GetServer": 0, "DeleteServer": 0}

    def _next(self, method: str) -> None:
        self.calls[method] += 1
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure

    @unary
    async def GetServer(self, req: server_pb2.GetServerRequest, ctx: Ctx) -> server_pb2.Server:
        self._next("GetServer")
        return server_pb2.Server(name=req.name)

    @unary
    async def DeleteServer(self, req: server_pb2.DeleteServerRequest, ctx: Ctx) -> server_pb2.Server:
        self._next("DeleteServer")
        return server_pb2.Server(name=req.name)

    @streaming
    async def WatchServers(
        self, req: server_pb2.WatchServersRequest, ctx: Ctx
    ) -> AsyncIterator[server_pb2.ServerChange]:
        yield server_pb2.ServerChange(kind=server_pb2.ServerChange.KIND_SYNCED)
        async with asyncio.TaskGroup() as tg:  # a failure inside a TaskGroup: an ExceptionGroup
            tg.create_task(self._fail())

    async def _fail(self) -> None:
        failure = self.failures.pop(0)
        assert failure is not None
        raise failure


@pytest.fixture
async def failing() -> AsyncIterator[tuple[FailingServers, str]]:
    servicer = FailingServers()
    server = grpc.aio.server()
    server_pb2_grpc.add_ServerServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


SHUTTING_DOWN = asyncpg.CannotConnectNowError("the database system is shutting down")


async def test_a_database_outage_answers_unavailable_naming_the_database_with_retry_info(
    failing: tuple[FailingServers, str],
) -> None:
    servicer, endpoint = failing
    servicer.failures = [SHUTTING_DOWN]
    async with AsyncClient(endpoint, timeout=5) as api:
        with pytest.raises(Unavailable) as raised:
            await api.delete_server("web-1")
    err = raised.value
    assert "the database (PostgreSQL) is unreachable" in err.message
    assert "CannotConnectNowError: the database system is shutting down" in err.message
    assert err.reason == "DATABASE_UNAVAILABLE" and err.domain == "overcast.dev"
    assert err.retry_delay == 1.0
    assert servicer.calls["DeleteServer"] == 1  # a write: the caller decides to retry


async def test_reads_are_retried_after_the_delay_the_controller_asks_for(
    failing: tuple[FailingServers, str],
) -> None:
    """gRPC's retry policy (client.channel) honours the pushback that goes with RetryInfo."""
    servicer, endpoint = failing
    servicer.failures = [SHUTTING_DOWN, ConnectionRefusedError(111, "Connection refused")]
    async with AsyncClient(endpoint, timeout=8) as api:
        started = time.monotonic()
        server = await api.get_server("web-1")
        took = time.monotonic() - started
    assert server.name.endswith("/servers/web-1")
    assert servicer.calls["GetServer"] == 3
    assert took >= 2 * api_errors.RETRY_AFTER_S * 0.9, took  # two pushbacks of 1 s, not 0.1 s


async def test_a_bug_answers_internal_with_an_error_id_logged_once(
    failing: tuple[FailingServers, str],
) -> None:
    servicer, endpoint = failing
    servicer.failures = [KeyError("flavor_id")]
    async with AsyncClient(endpoint, timeout=5) as api:
        with capture_logs() as logs, pytest.raises(Internal) as raised:
            await api.delete_server("web-1")
    err = raised.value
    bugs = [entry for entry in logs if entry["event"] == "api.bug"]
    assert len(bugs) == 1 and bugs[0]["method"] == "DeleteServer"
    assert err.metadata["error_id"] == bugs[0]["error_id"]
    assert f"error_id={bugs[0]['error_id']}" in err.message
    assert err.retry_delay is None


async def test_a_domain_error_keeps_its_code(failing: tuple[FailingServers, str]) -> None:
    servicer, endpoint = failing
    servicer.failures = [errors.NotFound("projects/demo/servers/web-1")]
    async with AsyncClient(endpoint, timeout=5) as api:
        with pytest.raises(NotFound, match="web-1 not found"):
            await api.delete_server("web-1")


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (ConnectionResetError(104, "Connection reset by peer"), Unavailable),
        (RuntimeError("a bug in a task"), Internal),
    ],
    ids=["outage", "bug"],
)
async def test_a_stream_failing_in_a_task_group_ends_unavailable_or_internal_never_unknown(
    failing: tuple[FailingServers, str], failure: BaseException, expected: type[Exception]
) -> None:
    servicer, endpoint = failing
    servicer.failures = [failure]
    async with AsyncClient(endpoint, timeout=5) as api:
        with pytest.raises(expected) as raised:
            async for _ in api._watch(server_pb2.WatchServersRequest(parent="projects/demo"), 5):
                pass
    assert "ExceptionGroup" not in raised.value.message
