"""One fault run: a cluster on the private services, a burst with one fault in its middle,
the time to recover, then the user's checks (`checks.judge`). Shared by tests/faults and
bench/faults.py."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import grpc

from client import AsyncClient, OvercastError
from devcluster import isolation
from devcluster.events import DurableTap
from devcluster.link_proxy import LinkProxy
from devcluster.processes import Cluster
from overcast.agent.v1 import agent_pb2, agent_pb2_grpc
from overcast.v1 import common_pb2, server_pb2

from .catalogue import FAULTS, child_running
from .checks import Observed, Verdict, judge
from .services import PrivateServices
from .workload import Burst, Mix, Tracker


@dataclass(frozen=True)
class RunSpec:
    ops: int = 500  # operations in the burst
    rate: float = 50.0  # sent per second
    fault_at: float = 0.3  # when the fault starts, as a share of the burst's sending time
    hosts: int = 3
    host_cpus: int = 64
    host_memory_gib: int = 128
    warmup: int = 30  # servers ACTIVE before the burst: the first targets of power actions
    flavor: str = "m1.tiny"
    flavor_shape: tuple[int, int, int] | None = None  # (vcpus, MiB, GiB): create `flavor` so
    mix: Mix = field(default_factory=Mix)
    settle_timeout_s: float = 120.0
    seed: int = 14


@dataclass
class FaultResult:
    fault: str
    verdict: Verdict
    fault_s: float  # how long the fault itself took (stop to answering again)
    recovery_s: float | None  # fault end → every host UP and a create acknowledged
    active_s: float | None  # fault end → that new server ACTIVE
    burst_s: float
    settle_s: float
    in_flight: int  # servers with a task in flight when it struck, calls it overlapped
    logs: dict[str, str] = field(default_factory=dict)  # process → log path

    def figures(self) -> dict[str, Any]:
        return {
            **self.verdict.figures(),
            "recovery_s": None if self.recovery_s is None else round(self.recovery_s, 2),
            "recovery_active_s": None if self.active_s is None else round(self.active_s, 2),
            "fault_s": round(self.fault_s, 2),
            "burst_s": round(self.burst_s, 2),
            "settle_s": round(self.settle_s, 2),
            "in_flight_at_fault": self.in_flight,
        }

    def report(self) -> str:
        """The findings and where the logs are: what a failed test prints."""
        lines = [f"{self.fault}: {self.figures()}", *self.verdict.findings[:40]]
        if len(self.verdict.findings) > 40:
            lines.append(f"... {len(self.verdict.findings) - 40} more")
        lines += [f"log of {name}: {path}" for name, path in self.logs.items()]
        return "\n".join(lines)


CHILD_MODULES = ("controller.processes.scheduler_process", "controller.processes.relay_process")
# Lines no process may log during a fault: a bug (logged where it happened), a crash, an
# exception nobody handled. (Drivers log tracebacks of connections they lost: not these.)
_BUG_LINES = re.compile(
    r"\b(api\.bug|\w+\.crashed)\b|Task exception was never retrieved|Exception in callback"
)


class FaultRun:
    """A cluster on `services`, in `workdir`, as `fault` needs it: its controllers (one or
    two replicas), `spec.hosts` agents (on libvirt's test driver, or on simulated hypervisors
    whose domains outlive them), reaching the controller directly or through a LinkProxy."""

    def __init__(self, services: PrivateServices, workdir: Path, spec: RunSpec, fault: str) -> None:
        self.services = services
        self.spec = spec
        self.fault_name = fault
        self.fault = FAULTS[fault]
        self.proxies: dict[str, LinkProxy] = {}  # host id → its link to the controller
        run_id = isolation.new_run_id()
        self.database = f"overcast_faults_{run_id}"
        self.cluster = Cluster(
            workdir=workdir,
            database_url=services.postgres.database_url(self.database),
            bus_prefix=f"overcast-faults-{run_id}",
            amqp_url=services.rabbit.url,
        )
        self.host_ids = [f"host-{i}" for i in range(1, spec.hosts + 1)]
        self.tap = DurableTap(services.rabbit.url, self.cluster.bus_prefix)

    def start(self) -> None:
        """Every process at once (their imports take seconds each on a busy machine; agents
        keep trying until their controller answers), then wait for them."""
        c = self.cluster
        for _ in range(self.fault.controllers):
            c.start_controller()
        for h in self.host_ids:
            if self.fault.link_proxy:
                self.proxies[h] = LinkProxy(c.endpoint).start()
                c.agent_controller[h] = self.proxies[h].address
            c.start_agent(
                h,
                cpus=self.spec.host_cpus,
                memory_gib=self.spec.host_memory_gib,
                simulation=self.fault.simulation,
            )
        for i in range(self.fault.controllers):
            c.wait_controller(i)
        c.wait_hosts_up(self.host_ids)

    @property
    def api_endpoint(self) -> str:
        """Where the run's client calls: every replica (gRPC picks the first that answers and
        moves on when it goes away, as a client behind a load balancer would)."""
        if len(self.cluster.endpoints) == 1:
            return self.cluster.endpoint
        return "ipv4:" + ",".join(self.cluster.endpoints)

    def stop(self) -> list[str]:
        """Stop the processes; returns those that did not exit cleanly."""
        try:
            return self.cluster.stop()
        finally:
            for proxy in self.proxies.values():
                proxy.close()

    async def remove(self) -> None:
        """Drop the run's database, exchanges, queues (after `stop`)."""
        with contextlib.suppress(Exception):
            await isolation.drop_database(self.database, self.services.postgres.admin_url)
        with contextlib.suppress(Exception):
            await isolation.delete_bus(self.cluster.bus_prefix, self.host_ids, self.services.rabbit.url)
        with contextlib.suppress(Exception):
            await self.tap.delete()

    async def run(self, log: Callable[[str], None] = lambda _: None) -> FaultResult:
        fault_name = self.fault_name
        spec = self.spec
        await self.tap.declare()
        async with AsyncClient(self.api_endpoint, timeout=10) as api:
            if not await api.list_images():
                await api.create_image("cirros", "qcow2")
            if spec.flavor_shape is not None:
                await api.create_flavor(spec.flavor, *spec.flavor_shape)
            tracker = Tracker(api)
            watching = asyncio.ensure_future(tracker.run())
            try:
                await asyncio.wait_for(tracker.synced.wait(), 30)
                burst = Burst(
                    api,
                    tracker,
                    count=spec.ops,
                    rate=spec.rate,
                    mix=spec.mix,
                    seed=spec.seed,
                    flavor=spec.flavor,
                )
                warm = [f"w{i:04d}" for i in range(spec.warmup)]
                await asyncio.gather(*(burst.create(w) for w in warm))
                await tracker.wait(lambda: all(_active(tracker, w) for w in warm), 60)
                delay = self._fault_delay()
                log(f"{fault_name}: {spec.ops} operations at {spec.rate:g}/s, fault after {delay:.1f} s")
                fault_s = 0.0
                in_flight = 0
                recovered: float | None = None
                active_s: float | None = None

                async def inject() -> None:
                    nonlocal fault_s, recovered, in_flight, active_s
                    await asyncio.sleep(self._fault_delay())
                    busy = sum(s.task_state != IDLE for s in tracker.servers.values())
                    log(f"{fault_name}: fault starts, {busy} servers with a task in flight")
                    started = time.monotonic()
                    await self.fault.inject(self)
                    ended = time.monotonic()
                    # Work the fault met: tasks under way, calls sent before it ended and
                    # answered (finally) after it began.
                    overlapping = sum(
                        c.sent_at <= ended and (c.answered_at or ended) >= started for c in burst.calls
                    )
                    in_flight = busy + overlapping
                    fault_s = ended - started
                    log(f"{fault_name}: fault over after {fault_s:.1f} s")
                    recovered, active_s = await self._recover(burst, tracker, ended)

                burst_started = time.monotonic()
                await asyncio.gather(burst.run(), inject())
                burst_s = time.monotonic() - burst_started
                log(f"{fault_name}: burst done in {burst_s:.1f} s, recovered in {recovered} s; settling")
                settled = time.monotonic()
                await self._settle(tracker)
                settle_s = time.monotonic() - settled
                observed = await self._observe(api)
                final = {sid: _version_of(srv) for sid, srv in observed.servers.items()}
                await tracker.wait(lambda: _watched(tracker) == final, 5.0)
                observed.watched = _watched(tracker)
            finally:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
        verdict = judge(burst.calls, observed)
        self._save_evidence(burst, tracker, observed, burst_started)
        self._add_log_findings(verdict)
        logs = {p.name: str(p.log_path) for p in [*self.cluster.controllers, *self.cluster.agents.values()]}
        return FaultResult(
            fault_name, verdict, fault_s, recovered, active_s, burst_s, settle_s, in_flight, logs
        )

    def _fault_delay(self) -> float:
        return self.spec.fault_at * self.spec.ops / self.spec.rate

    async def _recover(
        self, burst: Burst, tracker: Tracker, since: float
    ) -> tuple[float | None, float | None]:
        """Seconds from `since` until every host is UP and a create is acknowledged (the
        recovery), and until that new server is ACTIVE (which, when the burst outruns the
        system, includes the backlog ahead of it); None: not within the settle timeout. On a
        channel of its own, so the probe does not queue behind the burst in the client."""
        deadline = since + self.spec.settle_timeout_s
        probe = 0
        async with AsyncClient(self.api_endpoint, timeout=10) as api:
            while time.monotonic() < deadline:
                try:
                    hosts = await api.list_hosts()
                except OvercastError:
                    await asyncio.sleep(0.1)
                    continue
                if len(hosts) < len(self.host_ids) or any(h.state != common_pb2.HOST_STATE_UP for h in hosts):
                    await asyncio.sleep(0.1)
                    continue
                probe += 1
                call = await burst.create(f"probe{probe:03d}", retry_delay=0.1, api=api)
                if not call.acknowledged:
                    continue
                recovered = time.monotonic() - since
                active = functools.partial(_active, tracker, call.server)
                left = deadline - time.monotonic()
                if await tracker.wait(active, left):
                    return recovered, time.monotonic() - since
                return recovered, None
        return None, None

    async def _settle(self, tracker: Tracker) -> None:
        """Until no server has a task in flight and the outbox is empty (every event published)."""
        deadline = time.monotonic() + self.spec.settle_timeout_s
        await tracker.wait(
            lambda: all(s.task_state == common_pb2.TASK_STATE_UNSPECIFIED for s in tracker.servers.values()),
            self.spec.settle_timeout_s,
        )
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                conn = await asyncpg.connect(self.cluster.database_url)
                try:
                    if await conn.fetchval("SELECT count(*) FROM outbox") == 0:
                        return
                finally:
                    await conn.close()
            await asyncio.sleep(0.2)

    async def _observe(self, api: AsyncClient) -> Observed:
        servers = {s.name.rsplit("/", 1)[-1]: s for s in await api.list_servers()}
        hosts = await api.list_hosts()
        domains = {h: await _domains(self.cluster.agent_admin[h]) for h in self.host_ids}
        events = await self.tap.drain()
        processes = {p.name: p.running for p in [*self.cluster.controllers, *self.cluster.agents.values()]}
        for ctl in self.cluster.controllers:
            if ctl.running:
                for module in CHILD_MODULES:
                    name = f"{ctl.name}/{module.rsplit('.', 1)[-1]}"
                    processes[name] = child_running(ctl, module) is not None
        return Observed(api.project, servers, hosts, domains, events, processes)

    def _save_evidence(self, burst: Burst, tracker: Tracker, seen: Observed, t0: float) -> None:
        """What the run saw, beside the processes' logs: every call with every answer, the
        events, the watch's breaks (times in seconds from the burst's start)."""
        out = self.cluster.workdir
        with (out / "calls.jsonl").open("w") as f:
            for c in burst.calls:
                row = dataclasses.asdict(c)
                row["sent_at"] = round(c.sent_at - t0, 3)
                row["acked_at"] = None if c.acked_at is None else round(c.acked_at - t0, 3)
                row["answered_at"] = None if c.answered_at is None else round(c.answered_at - t0, 3)
                f.write(json.dumps(row) + "\n")
        with (out / "events.jsonl").open("w") as f:
            f.writelines(json.dumps(e) + "\n" for e in seen.events)
        breaks = [{"at": round(at - t0, 3), "why": why} for at, why in tracker.breaks]
        unsettled = [f"{c.op} {c.server} v{c.version}" for c in burst.unsettled]
        watch = {"changes": tracker.changes, "breaks": breaks, "unsettled": unsettled}
        (out / "watch.json").write_text(json.dumps(watch, indent=1))

    def _add_log_findings(self, verdict: Verdict) -> None:
        for proc in [*self.cluster.controllers, *self.cluster.agents.values()]:
            if not proc.log_path.exists():
                continue
            bad = [
                line
                for line in proc.log_path.read_text(errors="replace").splitlines()
                if _BUG_LINES.search(line)
            ]
            if bad:
                verdict.findings.append(
                    f"{proc.name} logged {len(bad)} bug/crash lines, first: {bad[0][:300]}"
                )


IDLE = common_pb2.TASK_STATE_UNSPECIFIED


def _version_of(server: server_pb2.Server) -> int:
    return int(server.etag) if server.etag.isdigit() else -1


def _watched(tracker: Tracker) -> dict[str, int]:
    return {sid: _version_of(s) for sid, s in tracker.servers.items()}


def _active(tracker: Tracker, sid: str) -> bool:
    s = tracker.idle(sid)
    return s is not None and s.vm_state == common_pb2.VM_STATE_ACTIVE


async def _domains(admin: str) -> dict[str, str]:
    async with grpc.aio.insecure_channel(admin) as ch:
        resp = await agent_pb2_grpc.AgentAdminStub(ch).ListDomains(agent_pb2.ListDomainsRequest(), timeout=10)
    return {
        d.uuid: common_pb2.PowerState.Name(d.power_state).removeprefix("POWER_STATE_") for d in resp.domains
    }
