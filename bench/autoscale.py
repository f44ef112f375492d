"""Autoscaling figures (issue 13) on the fleet simulation: real controller processes, PostgreSQL
and RabbitMQ, simulated hosts (python -m devcluster.simulation) whose members report simulated
CPU (`sim.cpu`), spread over each group's serving members by a simulated load balancer
(devcluster.scaling_load.DemandBalancer: a demand of D vcpus gives each of n one-vcpu members
min(1, D / n)). Agents sample every 1 s (`--metrics-interval`); the controller runs the
autoscaler at its default period (5 s) unless `--period` says otherwise.

Two clusters, one after the other:

A. Small: `--small-hosts` hosts of 16 vcpus.
   - `reaction_s`: a group (m1.tiny members, CPU target 50%, min 2) at 2 members under a demand
     of 0.8 vcpus (40% each) sees its demand raised to 1.6 (80% each: the metric crosses its
     target and its tolerance band, 55%); the group wants ceil(2 x 80 / 50) = 4 (or 3, when it
     decides on one member's new sample while the other's still shows 40%: 3 members at 53% are
     within the band). From the raise to the members of that first scale-out serving (ACTIVE and
     running, none still building, seen on WatchServers), median and max over `--trials` trials
     (the demand is dropped back and the group shrinks between them). Beside it, the same from
     the moment the crossing is visible in the controller's own metric
     (`reaction_from_crossing_s`: the average of the members' latest CPU samples on
     WatchHostMetrics, which the autoscaler decides on, above 55%), and the parts: `crossing_s`
     (raise to crossing: load balancer, agent sample), `decision_after_crossing_s` (the
     scaling.decision event's occurred_at) and `active_after_decision_s` (the create path).
   - `direction_changes`: two groups side by side under the same noisy demand, a damped sine
     plus gaussian noise generated here with a fixed seed (`--seed`), written to both load
     balancers every second for `--trace-s` seconds: one group with a scale-down
     stabilisation window of `--window` s, one with none (window 0). A direction change is a
     change of desired size against the previous change's direction (up then down, or down
     then up). `direction_changes_demanded` counts the same on the sizes the noise-free trace
     asks for (ceil(D / 0.5) each second) and `..._noisy_trace` on the noisy trace itself;
     `flapping` = direction changes beyond what the noise-free trace demands.
B. Large: `--hosts` simulated hosts (8 vcpus each).
   - `scale_out_1000_s`: a group at `--from` ACTIVE members (no policy) is asked for `--to` with
     SetDesiredSize: from the call to every member ACTIVE (GetScalingGroup's
     status.active_size). Its parts, from the controller's `autoscaler.round` log lines (it
     logs JSON; each line when its round ends, with round_ms): `scale_out_round_after_call_s`
     (the call to the start of the round that acted on it) and
     `scale_out_active_after_round_start_s`. From the group's history:
     `scale_out_rounds` (rounds that added members: distinct times of scaling.member.added)
     and `scale_out_decisions` (scaling.decision entries).
   - `decision_cpu_ms_per_group`: `--groups` groups of one member each, idle (members at 50% of
     a 50% target: nothing to do), evaluated for `--cpu-window` seconds: the process CPU the
     rounds spent in the pure decision code per group (decision_ms / groups of each
     `autoscaler.round` line), averaged over the rounds in the window. `round_ms_p50` and
     `round_ms_max`: each round's wall time (reads, decisions, the save, members' loads);
     `autoscaler_busy_share`: the rounds' wall time over the window (not CPU: it includes
     waiting on PostgreSQL); `decision_core_share`: the decision code's CPU over the window;
     `groups_saved_per_round`; `rounds_per_period` (1 when no round is woken early);
     `members_in_window` (the members of all groups at the window's first and last round: an
     idle group gains none). Beside it the controller process's CPU (/proc) in the same window
     and in one of equal length before, with the same number of ACTIVE servers in a single group
     (`controller_cores_one_group`, `controller_cores_n_groups`): their difference per group and
     period is `decision_cpu_ms_per_group_by_difference` (everything the controller spends on a
     group, PostgreSQL's own work not included).

Progress on stderr; one JSON object of every figure, with `cores`, as the last line of stdout.
`--phases` picks a subset (reaction, flapping, scale_out, cpu).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from client import AsyncClient, OvercastError
from client.scaling import target_tracking
from devcluster import isolation
from devcluster.events import EventTap
from devcluster.processes import Cluster
from devcluster.scaling_load import DemandBalancer
from overcast.v1 import common_pb2

TARGET = 50.0  # percent: every CPU group here holds 50% of its members' vcpus
TOLERANCE = 0.1  # the controller's default band
PHASES = ("reaction", "flapping", "scale_out", "cpu")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wall_time(text: str) -> float:
    """An RFC 3339 time (proto JSON's, up to nanoseconds; or a log line's) as epoch seconds."""
    head, _, frac = text.replace("Z", "").partition(".")
    frac = "".join(ch for ch in frac if ch.isdigit())[:6]
    return datetime.fromisoformat(f"{head}.{frac or '0'}+00:00").timestamp()


def median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


# -- clusters ------------------------------------------------------------------------------------


class Bench:
    """A controller and a fleet simulation in a database and bus prefix of their own."""

    def __init__(self, label: str, args: argparse.Namespace) -> None:
        run = isolation.new_run_id()
        self.label = label
        self.db = f"overcast_bench_{run}"
        self.workdir = Path(tempfile.mkdtemp(prefix=f"overcast-bench-autoscale-{label}-"))
        self.cluster = Cluster(
            self.workdir,
            isolation.database_url(self.db),
            f"overcast-bench-{run}",
            isolation.AMQP_URL,
            metrics_interval=1.0,
            metrics_persist_interval=5.0,
            host_queue_type="transient",
        )
        self.period = args.period

    def up(self, hosts: int, shape: str) -> None:
        flags = ["--log-format", "json"]
        if self.period:
            flags += ["--autoscaler-period", str(self.period)]
        self.cluster.start_controller(*flags)
        self.cluster.wait_controller()
        t0 = time.perf_counter()
        self.cluster.start_fleet(
            hosts, "--shape", shape, "--op-delay", "0.01", "--metrics-interval", "1", host_prefix=self.label
        )
        self.cluster.wait_fleet_up(timeout=max(120.0, hosts / 10), poll=1.0)
        log(f"{self.label}: {hosts} hosts UP in {time.perf_counter() - t0:.1f}s")

    @property
    def controller_pid(self) -> int:
        popen = self.cluster.controllers[0].popen
        assert popen is not None
        return popen.pid

    @property
    def controller_log(self) -> Path:
        return self.workdir / "controller-1.log"

    def down(self, keep: bool) -> None:
        unclean = self.cluster.stop()
        if unclean:
            log(f"{self.label}: processes did not exit cleanly: {unclean}")
        isolation.cleanup([self.db], self.cluster.bus_prefix, self.cluster.fleet_hosts)
        if keep:
            log(f"{self.label}: logs kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


async def wait_for(
    what: str,
    check: Callable[[], Any],
    limit_s: float,
    poll_s: float = 0.25,
) -> Any:
    deadline = time.monotonic() + limit_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not after {limit_s:g}s")
        await asyncio.sleep(poll_s)


async def settled(api: AsyncClient, name: str, size: int, limit_s: float = 120.0) -> None:
    async def check() -> bool:
        g = await api.get_scaling_group(name)
        s = g.status
        return g.desired_size == size and s.current_size == size and s.active_size == size

    await wait_for(f"{name} at {size} ACTIVE members", check, limit_s)


def cpu_policy(window_s: float) -> Any:
    # Simulated members have no boot: their first sample is their share (the default warm-up,
    # 60 s, is for guests whose boot burns CPU).
    return target_tracking("cpu", target=TARGET, scale_down_stabilization=window_s, warmup=1)


# -- A1: reaction ---------------------------------------------------------------------------------


class CrossingWatch:
    """The members' CPU as the autoscaler reads it, each one's latest sample (WatchHostMetrics
    with instances): the first time, after `arm()`, their average is beyond the target's
    tolerance band."""

    def __init__(self, api: AsyncClient, servers: set[str], threshold: float) -> None:
        self.api = api
        self.servers = servers
        self.threshold = threshold
        self.latest: dict[str, float] = {}
        self.crossed_at: float | None = None
        self._armed = False

    def arm(self) -> None:
        self.crossed_at = None
        self._armed = True

    async def run(self, hosts: list[str]) -> None:
        async for update in self.api.watch_host_metrics(hosts, include_instances=True):
            for i in update.instances:
                if i.server in self.servers:
                    self.latest[i.server] = i.load.cpu_util
            ready = self._armed and len(self.latest) == len(self.servers)
            if ready and statistics.fmean(self.latest.values()) > self.threshold:
                self.crossed_at = time.monotonic()
                self._armed = False


@contextlib.asynccontextmanager
async def running(coro: Any) -> AsyncIterator[asyncio.Task[Any]]:
    task = asyncio.create_task(coro)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, OvercastError):
            await task


def decision_time(tap: EventTap, name: str, after_wall: float, desired_above: int) -> float | None:
    """occurred_at (wall clock) of the first scaling.decision of `name` for more than
    `desired_above` members after `after_wall`."""
    for e in tap.events:
        if e.get("eventType") != "scaling.decision" or e.get("resource") != name:
            continue
        at = wall_time(e["occurredAt"])
        if at >= after_wall and e.get("scaling", {}).get("desiredSize", 0) > desired_above:
            return at
    return None


def scaled_out(lb: DemandBalancer) -> bool:
    """More than the 2 members serve, and none is still on its way (the members the first
    scale-out decision added are all ACTIVE)."""
    return len(lb.serving()) > 2 and len(lb.serving()) == len(
        [m for m in lb.members() if m.task_state != common_pb2.TASK_STATE_DELETING]
    )


async def reaction(b: Bench, trials: int) -> dict[str, Any]:
    c = b.cluster
    parts: dict[str, list[float]] = {
        k: [] for k in ("raise", "crossing", "from_crossing", "decision", "active")
    }
    async with AsyncClient(c.endpoint, timeout=30) as api, EventTap(c.amqp_url, c.bus_prefix) as tap:
        if not await api.list_images():
            await api.create_image("cirros", "qcow2")
        g = await api.create_scaling_group(
            "react",
            flavor="m1.tiny",
            image="cirros",
            min_size=2,
            max_size=10,
            metadata={"sim.cpu": "0"},
            policies=[cpu_policy(window_s=5)],
        )
        name = g.name
        async with DemandBalancer(api, name, demand=0.8) as lb:
            for trial in range(1, trials + 1):
                await settled(api, name, 2)
                await lb.settled()
                await asyncio.sleep(4)  # the members' CPU settles at 40%
                members = {m.name for m in lb.serving()}
                hosts = sorted({m.host for m in lb.serving()})
                watch = CrossingWatch(api, members, TARGET / 100 * (1 + TOLERANCE))
                async with running(watch.run(hosts)):
                    await asyncio.sleep(1.5)  # the watch's first updates
                    watch.arm()
                    raised, raised_wall = time.monotonic(), time.time()
                    lb.set_demand(1.6)  # 80% each: ceil(2 x 80 / 50) = 4 members
                    await lb.wait_until(scaled_out, timeout=120)
                    active = time.monotonic()
                    await asyncio.sleep(0.5)
                decided = decision_time(tap, name, raised_wall - 0.5, 2)
                parts["raise"].append(active - raised)
                if watch.crossed_at is not None:
                    parts["crossing"].append(watch.crossed_at - raised)
                    parts["from_crossing"].append(active - watch.crossed_at)
                    if decided is not None:
                        parts["decision"].append(decided - raised_wall - (watch.crossed_at - raised))
                if decided is not None:
                    parts["active"].append(active - raised - (decided - raised_wall))
                log(
                    f"  trial {trial}: {len(lb.serving())} serving {active - raised:.2f}s after the raise"
                    + (f", {active - watch.crossed_at:.2f}s after the crossing" if watch.crossed_at else "")
                )
                lb.set_demand(0.8)  # back to 2 after the 5 s window
        await api.delete_scaling_group(name)
    return {
        "reaction_s": median(parts["raise"]),
        "reaction_max_s": round(max(parts["raise"]), 3),
        "reaction_from_crossing_s": median(parts["from_crossing"]),
        "crossing_s": median(parts["crossing"]),
        "decision_after_crossing_s": median(parts["decision"]),
        "active_after_decision_s": median(parts["active"]),
        "reaction_trials": trials,
    }


# -- A2: flapping ---------------------------------------------------------------------------------


def damped_sine(seconds: int, seed: int) -> tuple[list[float], list[float]]:
    """(clean, noisy) demand in vcpus, one value a second: 3 vcpus (6 members at 50%) swinging
    by 2 with a 60 s period, the swing halving every ~55 s (it settles), plus gaussian noise of
    15% of the base demand."""
    rng = random.Random(seed)
    base, swing, period, tau, noise = 3.0, 2.0, 60.0, 80.0, 0.45
    clean = [base + swing * math.exp(-t / tau) * math.sin(2 * math.pi * t / period) for t in range(seconds)]
    noisy = [max(0.0, d + rng.gauss(0.0, noise)) for d in clean]
    return clean, noisy


def direction_changes(sizes: Sequence[int]) -> int:
    changes, direction = 0, 0
    for a, b in itertools.pairwise(sizes):
        if b == a:
            continue
        step = 1 if b > a else -1
        if direction and step != direction:
            changes += 1
        direction = step
    return changes


async def flapping(b: Bench, seconds: int, window_s: float, seed: int) -> dict[str, Any]:
    c = b.cluster
    clean, noisy = damped_sine(seconds, seed)
    sizes: dict[str, list[int]] = {"stable": [], "raw": []}
    async with AsyncClient(c.endpoint, timeout=30) as api:
        if not await api.list_images():
            await api.create_image("cirros", "qcow2")
        names = {}
        for label, window in (("stable", window_s), ("raw", 0.0)):
            g = await api.create_scaling_group(
                f"trace-{label}",
                flavor="m1.tiny",
                image="cirros",
                min_size=1,
                max_size=12,
                metadata={"sim.cpu": "0"},
                policies=[cpu_policy(window)],
            )
            names[label] = g.name
        async with (
            DemandBalancer(api, names["stable"], demand=noisy[0]) as lb_stable,
            DemandBalancer(api, names["raw"], demand=noisy[0]) as lb_raw,
        ):
            for name in names.values():
                await settled(api, name, math.ceil(noisy[0] / 0.5 - 1e-9), limit_s=120)
            log(f"  trace of {seconds}s: demand {min(noisy):.1f}..{max(noisy):.1f} vcpus")
            t0 = time.monotonic()
            for t, d in enumerate(noisy):
                lb_stable.set_demand(d)
                lb_raw.set_demand(d)
                for label, name in names.items():
                    sizes[label].append((await api.get_scaling_group(name)).desired_size)
                if t % 30 == 0:
                    log(f"  t={t}s demand {d:.2f}: stable {sizes['stable'][-1]}, raw {sizes['raw'][-1]}")
                await asyncio.sleep(max(0.0, t0 + t + 1 - time.monotonic()))
        for name in names.values():
            await api.delete_scaling_group(name)
    demanded = direction_changes([math.ceil(d / 0.5 - 1e-9) for d in clean])
    stable = direction_changes(sizes["stable"])
    return {
        "direction_changes": stable,
        "direction_changes_without_stabilization": direction_changes(sizes["raw"]),
        "direction_changes_demanded": demanded,
        "direction_changes_noisy_trace": direction_changes([math.ceil(d / 0.5 - 1e-9) for d in noisy]),
        "flapping": max(0, stable - demanded),
        "final_size": sizes["stable"][-1],
        "final_size_without_stabilization": sizes["raw"][-1],
        "final_size_demanded": math.ceil(clean[-1] / 0.5 - 1e-9),
        "trace_s": seconds,
        "stabilization_window_s": window_s,
        "seed": seed,
    }


# -- B: 1,000 members, 1,000 groups --------------------------------------------------------------


async def scale_out(b: Bench, start: int, to: int) -> dict[str, Any]:
    c = b.cluster
    async with AsyncClient(c.endpoint, timeout=60) as api:
        if not await api.list_images():
            await api.create_image("cirros", "qcow2")
        g = await api.create_scaling_group(
            "big", flavor="m1.tiny", image="cirros", min_size=start, max_size=to, metadata={"sim.cpu": "0.5"}
        )
        name = g.name
        await settled(api, name, start)
        log(f"  {start} ACTIVE; asking for {to}")
        asked_wall = time.time()
        t0 = time.monotonic()
        await api.set_desired_size(name, to)
        last = -1

        async def all_active() -> bool:
            nonlocal last
            s = (await api.get_scaling_group(name)).status
            if s.active_size // 100 != last // 100:
                log(f"  {s.active_size} ACTIVE after {time.monotonic() - t0:.1f}s")
            last = s.active_size
            return s.active_size == to

        await wait_for(f"{to} ACTIVE", all_active, 600, poll_s=0.2)
        elapsed = time.monotonic() - t0
        done_wall = time.time()
        decisions, added_at = 0, Counter[float]()
        async for a in api.list_scaling_activities(name):
            at = a.time.ToDatetime(tzinfo=UTC).timestamp()
            if at < asked_wall:
                continue
            if a.kind == "scaling.decision":
                decisions += 1
            elif a.kind == "scaling.member.added":
                added_at[at] += 1
    # The round that carried it out: the first to start after the call (it logs when it ends).
    starts = [
        wall_time(r["timestamp"]) - float(r["round_ms"]) / 1000
        for r in round_lines(b.controller_log, asked_wall, done_wall + 10)
    ]
    started = min((t for t in starts if t >= asked_wall), default=None)
    figures: dict[str, Any] = {
        "scale_out_1000_s": round(elapsed, 2),
        "scale_out_decisions": decisions,  # scaling.decision entries in the history
        "scale_out_rounds": len(added_at),  # rounds that added members (their activity times)
        "scale_out_added_per_round": [n for _, n in sorted(added_at.items())],
        "scale_out_to": to,
    }
    if started is not None:
        figures["scale_out_round_after_call_s"] = round(started - asked_wall, 2)
        figures["scale_out_active_after_round_start_s"] = round(done_wall - started, 2)
    return figures


def round_lines(path: Path, t0: float, t1: float) -> list[dict[str, Any]]:
    """The controller's `autoscaler.round` lines logged between t0 and t1 (wall clock)."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if '"autoscaler.round"' not in line:
            continue
        try:
            e = json.loads(line)
            at = wall_time(e["timestamp"])
        except (ValueError, KeyError):
            continue
        if t0 <= at <= t1:
            found.append(e)
    return found


async def controller_window(b: Bench, seconds: float) -> tuple[float, float, float]:
    """(wall start, wall end, controller cores) over `seconds`."""
    pid = b.controller_pid
    w0, m0, c0 = time.time(), time.monotonic(), cpu_seconds(pid)
    await asyncio.sleep(seconds)
    w1, m1, c1 = time.time(), time.monotonic(), cpu_seconds(pid)
    return w0, w1, (c1 - c0) / (m1 - m0)


async def decision_cpu(b: Bench, groups: int, window_s: float) -> dict[str, Any]:
    c = b.cluster
    period = b.period or 5.0
    async with AsyncClient(c.endpoint, timeout=60, max_concurrency=32) as api:
        # The same ACTIVE servers first in one group (the scale-out's, idle), then in `groups`.
        log(f"  {groups} members in one group: {window_s:g}s window")
        _, _, one_group = await controller_window(b, window_s)
        await api.delete_scaling_group("big")

        async def gone() -> bool:
            return not [s async for s in api.list_servers(page_size=1000)]

        await wait_for("the scale-out's members deleted", gone, 300, poll_s=1.0)
        log(f"  creating {groups} groups of one member each")
        ids = [f"g{i:05d}" for i in range(groups)]
        await asyncio.gather(
            *(
                api.create_scaling_group(
                    gid,
                    flavor="m1.tiny",
                    image="cirros",
                    min_size=1,
                    max_size=3,
                    metadata={"sim.cpu": "0.5"},  # at the 50% target: nothing to do
                    policies=[cpu_policy(window_s=300)],
                )
                for gid in ids
            )
        )

        async def all_active() -> bool:
            listed = await api.list_scaling_groups(page_size=1000)
            return len(listed) == groups and all(g.status.active_size >= 1 for g in listed)

        await wait_for(f"{groups} groups with a member ACTIVE", all_active, 600, poll_s=2.0)
        await asyncio.sleep(2 * period)
        log(f"  {groups} idle groups: {window_s:g}s window")
        w0, w1, n_groups = await controller_window(b, window_s)
        await asyncio.sleep(1.0)
    rounds = round_lines(b.controller_log, w0, w1)
    figures: dict[str, Any] = {
        "groups": groups,
        "autoscaler_period_s": period,
        "controller_cores_one_group": round(one_group, 3),
        "controller_cores_n_groups": round(n_groups, 3),
        "decision_cpu_ms_per_group_by_difference": round(
            max(0.0, n_groups - one_group) * period * 1000 / groups, 4
        ),
        "autoscaler_rounds_in_window": len(rounds),
    }
    if rounds:
        per_group = [float(r["decision_ms"]) / max(1, int(r["groups"])) for r in rounds]
        round_ms = [float(r["round_ms"]) for r in rounds]
        figures |= {
            "groups_saved_per_round": round(statistics.fmean(int(r.get("saved", -1)) for r in rounds), 1),
            "rounds_per_period": round(len(rounds) * period / window_s, 2),
            "members_in_window": [int(rounds[0]["members"]), int(rounds[-1]["members"])],
            "decision_cpu_ms_per_group": round(statistics.fmean(per_group), 4),
            "round_ms_p50": median(round_ms),
            "round_ms_max": round(max(round_ms), 1),
            # Shares of the window: rounds' wall time, and the decision code's CPU.
            "autoscaler_busy_share": round(sum(round_ms) / (window_s * 1000), 4),
            "decision_core_share": round(sum(float(r["decision_ms"]) for r in rounds) / (window_s * 1000), 4),
        }
    else:
        log("  no autoscaler.round lines in the window: only the /proc difference is measured")
        figures["decision_cpu_ms_per_group"] = figures["decision_cpu_ms_per_group_by_difference"]
    return figures


# -- main -----------------------------------------------------------------------------------------


async def small(b: Bench, args: argparse.Namespace, phases: set[str]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    if "reaction" in phases:
        log("reaction: demand raised past the target, until the new members serve")
        figures |= await reaction(b, args.trials)
    if "flapping" in phases:
        log("flapping: a noisy damped sine, with and without stabilisation")
        figures |= await flapping(b, args.trace_s, args.window, args.seed)
    return figures


async def large(b: Bench, args: argparse.Namespace, phases: set[str]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    log(f"scale-out: {args.start} -> {args.to} members in one group")
    figures |= await scale_out(b, args.start, args.to)
    if "cpu" in phases:
        log(f"decision CPU: {args.groups} idle groups")
        figures |= await decision_cpu(b, args.groups, args.cpu_window)
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}")
    p.add_argument("--period", type=float, default=0.0, help="--autoscaler-period (0: the default, 5 s)")
    p.add_argument("--small-hosts", type=int, default=4)
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--trace-s", type=int, default=240)
    p.add_argument("--window", type=float, default=20.0, help="scale-down window of the stabilised group")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--hosts", type=int, default=1000)
    p.add_argument("--start", type=int, default=10, dest="start", help="members before the scale-out")
    p.add_argument("--to", type=int, default=1000)
    p.add_argument("--groups", type=int, default=1000)
    p.add_argument("--cpu-window", type=float, default=60.0)
    p.add_argument("--keep", action="store_true", help="keep the process logs")
    args = p.parse_args()
    phases = set(args.phases.split(","))
    if unknown := phases - set(PHASES):
        p.error(f"unknown phases: {sorted(unknown)}")
    if "cpu" in phases:
        phases.add("scale_out")  # its members are the CPU phase's baseline

    figures: dict[str, Any] = {}
    for label, needed, hosts, shape, runner in (
        ("as", {"reaction", "flapping"}, args.small_hosts, "16:32:400", small),
        ("asb", {"scale_out", "cpu"}, args.hosts, "8:16:100", large),
    ):
        if not phases & needed:
            continue
        b = Bench(label, args)
        failed = True
        try:
            b.up(hosts, shape)
            figures |= asyncio.run(runner(b, args, phases))
            failed = False
        finally:
            b.down(keep=args.keep or failed)
    print(json.dumps({**figures, "cores": os.cpu_count()}))


if __name__ == "__main__":
    main()
