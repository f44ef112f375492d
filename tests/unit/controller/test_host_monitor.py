"""The host monitor against the real PostgreSQL: a controller that is behind on its agents
(reading their messages late, hearing each of them less often than they send, or frozen for a
while) must not mark their hosts DOWN, while a host whose agent really went silent still goes
DOWN; most of a zone going silent at once is held with one warning instead of an event per host;
and the heartbeat interval grows with the fleet, announced to the agents on their streams.

The agents' side is played by calling HostService.heartbeat as the gateway does for every
message it reads, with the time the agent sent it (and, for the announcement, by raw gRPC
streams to the real AgentGateway)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any, cast

import asyncpg
import grpc
import pytest
from structlog.testing import capture_logs

from controller.api.agents import AgentGatewayApi
from controller.domain.host_health import HealthPolicy
from controller.domain.messages import host_event
from controller.domain.model import HostInventory, HostState
from controller.services.hosts import AllocationRatios, HostService
from controller.services.servers import ServerService
from controller.storage.catalog import PgCatalogStore
from controller.storage.hosts import PgHostStore
from controller.storage.instances import PgInstanceStore
from overcast.agent.v1 import agent_pb2, agent_pb2_grpc

INTERVAL_S = 0.25  # the heartbeat interval
DOWN_AFTER_S = 3 * INTERVAL_S  # missed heartbeats before a host is DOWN
POLICY = HealthPolicy(INTERVAL_S, DOWN_AFTER_S)
LIVE, SILENT = "live-1", "silent-1"


async def register(pool: asyncpg.Pool, hosts: Iterable[str], zone: str = "az1") -> None:
    """Hosts registered (UP), as an agent's Register does."""
    for h in hosts:
        inv = HostInventory(h, h, "x86_64", "test", "test:///default", zone, 16, 32768, 100)
        await PgHostStore(pool).register(inv, (4.0, 1.0, 1.0), lambda host: host_event(host, "host.up"))


@pytest.fixture
async def pool(pool: asyncpg.Pool) -> asyncpg.Pool:
    """The shared fresh database's pool, with two hosts registered."""
    await register(pool, (LIVE, SILENT))
    return pool


@contextlib.asynccontextmanager
async def controller(pool: asyncpg.Pool, policy: HealthPolicy = POLICY) -> AsyncIterator[HostService]:
    """A HostService with its heartbeat flush and host monitor running, as app.py runs them
    (registration is not used here, so it gets no ServerService)."""
    hosts = HostService(PgHostStore(pool), cast(ServerService, None), AllocationRatios(), policy)
    loops = [asyncio.create_task(hosts.flush_heartbeats()), asyncio.create_task(hosts.monitor())]
    try:
        yield hosts
    finally:
        for t in loops:
            t.cancel()
        await asyncio.gather(*loops, return_exceptions=True)


async def states(hosts: HostService, names: Iterable[str] = (LIVE, SILENT)) -> dict[str, HostState]:
    return {h: (await hosts.get(f"hosts/{h}")).state for h in names}


async def events(pool: asyncpg.Pool, kind: str, host: str | None = None) -> int:
    count: Any = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE routing_key = $1 AND ($2::text IS NULL OR payload->>'name' = $2)",
        kind,
        None if host is None else f"hosts/{host}",
    )
    return int(count)


async def down_events(pool: asyncpg.Pool, host: str) -> int:
    return await events(pool, "host.down", host)


async def until_down(hosts: HostService, host: str, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while (await hosts.get(f"hosts/{host}")).state is not HostState.DOWN:
        assert time.monotonic() < deadline, f"{host} never went DOWN"
        await asyncio.sleep(INTERVAL_S / 2)


async def test_hosts_whose_messages_are_read_late_stay_up_and_a_silent_one_goes_down(
    pool: asyncpg.Pool,
) -> None:
    # The controller reads at a fraction of the rate its agents send: every message it gets
    # to was sent `late` seconds ago, and each agent's next one is read only `late` later,
    # longer than DOWN_AFTER_S. The live agent is alive all along; the silent one stopped.
    late = 5 * INTERVAL_S
    assert late > DOWN_AFTER_S
    async with controller(pool) as hosts:
        for _ in range(8):
            hosts.heartbeat(LIVE, time.time() - late)
            await asyncio.sleep(late)
            assert (await states(hosts))[LIVE] is HostState.UP
        await until_down(hosts, SILENT)
        assert (await states(hosts))[LIVE] is HostState.UP
    assert await down_events(pool, LIVE) == 0
    assert await down_events(pool, SILENT) == 1


async def test_a_frozen_controller_does_not_mark_its_hosts_down_when_it_resumes(
    pool: asyncpg.Pool,
) -> None:
    async with controller(pool) as hosts:
        for _ in range(6):
            hosts.heartbeat(LIVE, time.time())
            hosts.heartbeat(SILENT, time.time())
            await asyncio.sleep(INTERVAL_S)
        assert await states(hosts) == {LIVE: HostState.UP, SILENT: HostState.UP}
        # Frozen (a long GC pause, a stalled event loop): no reads, no flushes, no monitor.
        sent = time.time()
        time.sleep(4 * DOWN_AFTER_S)  # noqa: ASYNC251  (blocking the loop is the point)
        # Resumed: the live agent's messages sent meanwhile are read now, late.
        hosts.heartbeat(LIVE, sent)
        for _ in range(4):
            await asyncio.sleep(INTERVAL_S)
            hosts.heartbeat(LIVE, time.time())
            assert (await states(hosts))[LIVE] is HostState.UP
        # The silent agent sent nothing since before the freeze: it goes DOWN all the same.
        await until_down(hosts, SILENT)
        assert (await states(hosts))[LIVE] is HostState.UP
    assert await down_events(pool, LIVE) == 0


async def test_most_messages_read_late_count_even_if_a_few_are_read_on_time(pool: asyncpg.Pool) -> None:
    async with controller(pool) as hosts:
        for _ in range(3):  # three intervals of reads: 90% of the messages 5 s old
            now = time.time()
            for n in range(100):
                hosts.heartbeat(LIVE, now - (5.0 if n % 10 else 0.0))
            await asyncio.sleep(INTERVAL_S * 1.2)
        behind = hosts.behind_s()
    assert 4.5 < behind < 7.0  # the typical lag, not the smallest one


async def test_a_controller_hearing_a_quarter_of_its_fleet_an_interval_marks_none_down(
    pool: asyncpg.Pool,
) -> None:
    """100 agents stream to this controller and send every interval; it reads a quarter of
    their streams an interval (each host heard every 1 s, past the 0.75 s window on the wall
    clock). The silent host among them, never heard, still goes DOWN, later."""
    fleet = [f"slow-{n:03d}" for n in range(100)]
    await register(pool, fleet)
    async with controller(pool, HealthPolicy(INTERVAL_S, DOWN_AFTER_S, large_zone_size=50)) as hosts:
        for h in [*fleet, SILENT]:
            hosts.connected(h)
        turn = itertools.cycle(fleet)
        started = time.monotonic()
        while (await hosts.get(f"hosts/{SILENT}")).state is HostState.UP:
            assert time.monotonic() - started < 30, "the silent host never went DOWN"
            for _ in range(25):
                hosts.heartbeat(next(turn), time.time())
            await asyncio.sleep(INTERVAL_S)
        took = time.monotonic() - started
        assert set((await states(hosts, fleet)).values()) == {HostState.UP}
    # The fixture's two hosts, never heard here; none of the fleet.
    assert await events(pool, "host.down") == 2 and await down_events(pool, SILENT) == 1
    assert took > 2 * DOWN_AFTER_S  # its window stretched to the pace the controller heard at


async def test_most_of_a_zone_going_silent_is_held_with_one_warning_and_no_events(pool: asyncpg.Pool) -> None:
    big = [f"big-{n:02d}" for n in range(20)]
    await register(pool, big, zone="az-big")
    cut_off = set(big[:12])  # 60% of az-big: its network, more likely than 12 hosts
    policy = HealthPolicy(INTERVAL_S, DOWN_AFTER_S, large_zone_size=20)
    with capture_logs() as logs:
        async with controller(pool, policy) as hosts:
            for _ in range(4 * int(DOWN_AFTER_S / INTERVAL_S)):
                for h in [*big, LIVE]:
                    if h not in cut_off:
                        hosts.heartbeat(h, time.time())
                await asyncio.sleep(INTERVAL_S)
            # SILENT (az1: two hosts, judged host by host) went DOWN; az-big was held.
            assert await states(hosts) == {LIVE: HostState.UP, SILENT: HostState.DOWN}
            assert set((await states(hosts, big)).values()) == {HostState.UP}
            # az-big comes back: nothing to announce, nobody was DOWN.
            for _ in range(2 * int(DOWN_AFTER_S / INTERVAL_S)):
                for h in [*big, LIVE]:
                    hosts.heartbeat(h, time.time())
                await asyncio.sleep(INTERVAL_S)
    assert await events(pool, "host.down") == 1 and await down_events(pool, SILENT) == 1
    assert await events(pool, "host.up") == 2 + len(big)  # their registrations only
    warnings = [e for e in logs if e["event"] == "host_monitor.zone_disrupted"]
    assert [(w["zone"], w["hosts"], w["unheard"]) for w in warnings] == [("az-big", 20, 12)]
    assert [e["zone"] for e in logs if e["event"] == "host_monitor.zone_recovered"] == ["az-big"]


async def test_the_interval_grows_with_the_fleet_and_the_agents_are_told(pool: asyncpg.Pool) -> None:
    """At most 30 heartbeats a second: 12 hosts (10 agents and the fixture's two) at 0.25 s is
    48, so the interval doubles, and every agent streaming to the controller gets a Registered
    with it."""
    agents = [f"agent-{n}" for n in range(10)]
    policy = HealthPolicy(INTERVAL_S, DOWN_AFTER_S, max_per_second=30.0)
    servers = ServerService(PgInstanceStore(pool), PgCatalogStore(pool))
    hosts = HostService(PgHostStore(pool), servers, AllocationRatios(), policy)
    assert hosts.heartbeat_interval_s == INTERVAL_S

    async def no_queue(host_id: str) -> None:
        return None

    server = grpc.aio.server()
    agent_pb2_grpc.add_AgentGatewayServicer_to_server(AgentGatewayApi(hosts, servers, "c1", no_queue), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    flush = asyncio.create_task(hosts.flush_heartbeats())
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = agent_pb2_grpc.AgentGatewayStub(channel)
            calls = [stub.Connect() for _ in agents]
            for call, h in zip(calls, agents, strict=True):
                inv = agent_pb2.HostInventory(host_id=h, vcpus=8, memory_mib=16384, availability_zone="az1")
                await call.write(agent_pb2.AgentMessage(seq=1, register=agent_pb2.Register(inventory=inv)))
            told: dict[str, list[int]] = {h: [] for h in agents}

            async def listen(call: Any, host: str) -> None:
                while 500 not in told[host]:
                    reply = await call.read()
                    assert reply is not grpc.aio.EOF
                    if reply.WhichOneof("kind") == "registered":
                        told[host].append(reply.registered.heartbeat_interval_ms)

            await asyncio.wait_for(
                asyncio.gather(*(listen(c, h) for c, h in zip(calls, agents, strict=True))), 10
            )
            for call in calls:
                call.cancel()
    finally:
        flush.cancel()
        await asyncio.gather(flush, return_exceptions=True)
        await server.stop(None)
    assert all(ms[-1] == 500 and set(ms) <= {250, 500} for ms in told.values()), told
    assert hosts.heartbeat_interval_s == 0.5 and hosts.down_after_s == 2 * DOWN_AFTER_S


class CountingStore:
    """Only what the heartbeat flush calls, with the fleet size the test says."""

    def __init__(self) -> None:
        self.hosts_up = 0

    async def heartbeat(self, host_ids: Any, at: Any, on_up: Any) -> list[Any]:
        return []

    async def count_up(self) -> int:
        return self.hosts_up


async def test_after_the_interval_shrinks_the_old_window_holds_for_as_long_again() -> None:
    store = CountingStore()
    wall = [1000.0]
    hosts = HostService(
        cast(PgHostStore, store),
        cast(ServerService, None),
        AllocationRatios(),
        HealthPolicy(0.01, 0.03, max_per_second=1000.0),
        clock=lambda: wall[0],
    )
    announced: list[float] = []
    hosts.on_interval_change(announced.append)
    flush = asyncio.create_task(hosts.flush_heartbeats())
    try:
        store.hosts_up = 50  # 5,000 a second at 0.01 s: 0.05 s
        await asyncio.sleep(0.1)
        assert announced == [0.05] and hosts.down_after_s == pytest.approx(0.15)
        store.hosts_up = 5
        while len(announced) < 2:
            await asyncio.sleep(0.01)
    finally:
        flush.cancel()
        await asyncio.gather(flush, return_exceptions=True)
    assert announced == [0.05, 0.01] and hosts.heartbeat_interval_s == 0.01
    assert hosts.down_after_s == pytest.approx(0.15)  # agents may sleep 0.05 s more at the old one
    wall[0] += 0.15
    assert hosts.down_after_s == pytest.approx(0.03)


class HeldFlushStore(PgHostStore):
    """The real store, whose heartbeat flush waits (once `hold` is cleared) until the test lets it
    commit: a flush slow to commit, as under load."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.hold = asyncio.Event()
        self.hold.set()
        self.waiting = asyncio.Event()

    async def heartbeat(self, host_ids: Any, at: Any, on_up: Any) -> list[Any]:
        if not self.hold.is_set():
            self.waiting.set()
            await self.hold.wait()
        return await super().heartbeat(host_ids, at, on_up)


def wall_clock_service(pool: asyncpg.Pool) -> tuple[HostService, HeldFlushStore, list[float]]:
    """A HostService whose flushes and sweeps the test drives, on a wall clock it sets (1 s
    interval, DOWN after 3 s; two hosts: no pace inferred)."""
    store = HeldFlushStore(pool)
    wall = [time.time()]
    hosts = HostService(
        store, cast(ServerService, None), AllocationRatios(), HealthPolicy(1.0, 3.0), clock=lambda: wall[0]
    )
    return hosts, store, wall


async def beat_for(
    hosts: HostService, wall: list[float], seconds: int, beating: Iterable[str], sweep: bool = True
) -> None:
    """`seconds` intervals: the hosts `beating` heard in each, then a flush and a sweep."""
    for _ in range(seconds):
        wall[0] += 1.0
        for h in beating:
            hosts.heartbeat(h, wall[0])
        await hosts.flush()
        if sweep:
            await hosts.sweep()


async def test_a_host_heard_since_the_last_flush_stays_up(pool: asyncpg.Pool) -> None:
    """LIVE's agent was cut off for longer than the window and is heard again just before the
    monitor's sweep, its heartbeat still in the buffer (the flush records it next interval):
    it is alive, so it is not marked DOWN, and no host.up follows. SILENT, not heard, goes DOWN."""
    hosts, _, wall = wall_clock_service(pool)
    await beat_for(hosts, wall, 4, (LIVE, SILENT))
    await beat_for(hosts, wall, 3, (), sweep=False)  # both silent for the window (3 s) now
    hosts.heartbeat(LIVE, wall[0])  # heard after the flush, before the sweep
    assert hosts.heard_unrecorded() == {LIVE}
    await hosts.sweep()
    assert await states(hosts) == {LIVE: HostState.UP, SILENT: HostState.DOWN}
    await beat_for(hosts, wall, 4, (LIVE,))
    assert await states(hosts) == {LIVE: HostState.UP, SILENT: HostState.DOWN}
    assert await down_events(pool, LIVE) == 0 and await events(pool, "host.up", LIVE) == 1  # registration
    assert await down_events(pool, SILENT) == 1


async def test_a_host_in_a_flush_not_yet_committed_stays_up(pool: asyncpg.Pool) -> None:
    """The same, with LIVE's heartbeat taken by a flush that is slow to commit when the monitor
    sweeps: the flush holds it, not the buffer."""
    hosts, store, wall = wall_clock_service(pool)
    await beat_for(hosts, wall, 4, (LIVE, SILENT))
    await beat_for(hosts, wall, 3, (), sweep=False)
    wall[0] += 1.0
    hosts.heartbeat(LIVE, wall[0])
    store.hold.clear()
    flush = asyncio.create_task(hosts.flush())
    await asyncio.wait_for(store.waiting.wait(), 5)
    assert hosts.heard_unrecorded() == {LIVE}
    await hosts.sweep()
    assert await states(hosts) == {LIVE: HostState.UP, SILENT: HostState.DOWN}
    store.hold.set()
    await flush
    assert hosts.heard_unrecorded() == set()
    assert await down_events(pool, LIVE) == 0 and await events(pool, "host.up", LIVE) == 1


async def test_heartbeats_of_a_failed_flush_are_recorded_by_the_next(pool: asyncpg.Pool) -> None:
    hosts, _, wall = wall_clock_service(pool)
    await beat_for(hosts, wall, 2, (LIVE, SILENT))
    await pool.execute("ALTER TABLE host_status RENAME TO host_status_away")
    try:
        wall[0] += 1.0
        hosts.heartbeat(LIVE, wall[0])
        with pytest.raises(asyncpg.UndefinedTableError):
            await hosts.flush()
        assert hosts.heard_unrecorded() == {LIVE}
    finally:
        await pool.execute("ALTER TABLE host_status_away RENAME TO host_status")
    await hosts.flush()
    assert hosts.heard_unrecorded() == set()
    recorded = await pool.fetchval(
        "SELECT extract(epoch FROM last_heartbeat) FROM host_status WHERE id = $1", LIVE
    )
    assert float(recorded) == pytest.approx(wall[0], abs=1e-3)
