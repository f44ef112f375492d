"""`overcast group watch`: a scaling group's metrics against their targets, its sizes and its
members with their state and load, polled every second (GetScalingGroup, then ListServers
filtered by the group: the API has no watch stream for groups, and a poll a second is two
small reads).

On a terminal (and `-o table`) it is a live view drawn by rich, redrawn in place; anywhere
else, or with `-o json`/`yaml`/`name`, it prints one JSON object per line each time what it
shows changes, as `host watch-metrics` does, so scripts can follow a group. `--until-size N`
ends the watch once the group has exactly N members, all ACTIVE and running with nothing in
flight: what automation waits on after `group set-size`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from overcast.v1 import common_pb2, server_pb2
from overcast.v1 import scaling_group_pb2 as pb

from ..names import short_id
from ..sync import Client
from .context import EXIT_ERROR, State, error
from .output import stdout_console
from .scaling_output import MEMBER_COLUMNS, METRIC_COLUMNS, member_row, metric_row


@dataclass(frozen=True)
class Snapshot:
    group: pb.ScalingGroup
    members: list[server_pb2.Server]


def fetch(client: Client, name: str, project: str) -> Snapshot:
    group = client.get_scaling_group(name, project)
    members = list(client.list_servers(project, scaling_group=group.name))
    return Snapshot(group, sorted(members, key=lambda s: s.name))


def _ready(s: server_pb2.Server) -> bool:
    return (
        s.vm_state == common_pb2.VM_STATE_ACTIVE
        and s.power_state == common_pb2.POWER_STATE_RUNNING
        and s.task_state == common_pb2.TASK_STATE_UNSPECIFIED
    )


def size_reached(snapshot: Snapshot, size: int) -> bool:
    """Exactly `size` members, every one ACTIVE, running and idle (none still being deleted)."""
    return len(snapshot.members) == size and all(_ready(s) for s in snapshot.members)


def _cpu(s: server_pb2.Server) -> float | None:
    if not s.HasField("load") or s.load.stale:
        return None
    return round(s.load.cpu_util_ewma * 100, 1)


def record(snapshot: Snapshot) -> dict[str, Any]:
    """What one JSON line says (without its time): proto3 JSON names and enum names."""
    g, status = snapshot.group, snapshot.group.status
    return {
        "name": g.name,
        "minSize": g.min_size,
        "maxSize": g.max_size,
        "desiredSize": g.desired_size,
        "currentSize": status.current_size,
        "activeSize": status.active_size,
        "metrics": [
            {
                "policy": m.policy,
                "metric": m.metric,
                "value": m.value if m.HasField("value") else None,
                "target": m.target,
                "reportingMembers": m.reporting_members,
            }
            for m in status.metrics
        ],
        "lastDecision": status.last_decision,
        "fault": status.fault,
        "members": [
            {
                "name": s.name,
                "vmState": common_pb2.VmState.Name(s.vm_state),
                "taskState": common_pb2.TaskState.Name(s.task_state),
                "powerState": common_pb2.PowerState.Name(s.power_state),
                "host": s.host,
                "cpuPercent": _cpu(s),  # EWMA, percent of its vcpus; null = no fresh metrics
            }
            for s in snapshot.members
        ],
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    table = Table(show_edge=False, header_style="bold", pad_edge=False, box=None)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table


def render(snapshot: Snapshot, at: str) -> RenderableType:
    """The live view: sizes, each policy's metric against its target, members with load."""
    g, status = snapshot.group, snapshot.group.status
    head = Text.assemble(
        (short_id(g.name), "bold"),
        f"  desired {g.desired_size}  current {status.current_size}  active {status.active_size}",
        f"  (min {g.min_size}, max {g.max_size})",
        (f"   {at}  Ctrl-C to stop", "dim"),
    )
    parts: list[RenderableType] = [head, Text("")]
    if status.metrics:
        parts += [_table(METRIC_COLUMNS, [tuple(metric_row(m)) for m in status.metrics]), Text("")]
    parts.append(Text(f"last decision: {status.last_decision or '-'}"))
    if status.fault:
        parts.append(Text(f"fault: {status.fault}", style="bold red"))
    parts.append(Text(""))
    protected = set(g.protected_members)
    members = [tuple(member_row(s, protected)) for s in snapshot.members]
    parts.append(_table(MEMBER_COLUMNS, members) if members else Text("no members", style="dim"))
    return Group(*parts)


class _Pacer:
    """Sleeps until the next tick of `interval`, and tells when `timeout` has passed."""

    def __init__(self, interval: float, timeout: float) -> None:
        self.interval = interval
        self.start = time.monotonic()
        self.deadline = self.start + timeout if timeout else None
        self.ticks = 0

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def sleep(self) -> None:
        self.ticks += 1
        time.sleep(max(0.0, self.start + self.ticks * self.interval - time.monotonic()))


class JsonLines:
    """Prints the snapshot as one JSON line when what it says changed; True when it did."""

    def __init__(self) -> None:
        self.last: dict[str, Any] | None = None

    def __call__(self, snapshot: Snapshot) -> bool:
        now = record(snapshot)
        if now == self.last:
            return False
        self.last = now
        print(json.dumps({"time": _now(), **now}), flush=True)
        return True


def _follow(
    client: Client,
    state: State,
    name: str,
    show: Callable[[Snapshot], bool],
    pacer: _Pacer,
    *,
    count: int,
    until_size: int | None,
) -> Snapshot | None:
    """Poll and show until done: None when the watch ended as asked, else the last snapshot
    (the timeout passed first)."""
    shown = 0
    while True:
        snapshot = fetch(client, name, state.project)
        shown += show(snapshot)
        if until_size is not None and size_reached(snapshot, until_size):
            return None
        if count and shown >= count:
            return None
        if pacer.expired():
            return snapshot
        pacer.sleep()


def watch(
    client: Client,
    state: State,
    name: str,
    *,
    interval: float,
    count: int,
    until_size: int | None,
    timeout: float,
) -> None:
    """Follow the group until Ctrl-C, `count` lines (or redraws), or `until_size` reached.
    With `until_size`, exits 1 when `timeout` seconds pass first."""
    pacer = _Pacer(interval, timeout if until_size is not None else 0)
    console = stdout_console()
    try:
        if not state.structured and console.is_terminal:
            with Live(console=console, auto_refresh=False) as live:

                def redraw(snapshot: Snapshot) -> bool:
                    live.update(render(snapshot, _now()), refresh=True)
                    return True

                last = _follow(client, state, name, redraw, pacer, count=count, until_size=until_size)
        else:
            last = _follow(client, state, name, JsonLines(), pacer, count=count, until_size=until_size)
    except KeyboardInterrupt:  # how a person ends a watch: not an error
        return
    if last is None:
        return
    ready = sum(_ready(s) for s in last.members)
    error(
        f"scaling group {short_id(name)} did not reach {until_size} members within {timeout:g}s "
        f"(it has {len(last.members)}, {ready} of them active)"
    )
    raise typer.Exit(EXIT_ERROR)
