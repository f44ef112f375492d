"""Waiting on scaling groups as a user would: GetScalingGroup polled until a condition holds
(failing with the group's own account of itself), or checked to keep holding."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from client import AsyncClient
from overcast.v1 import scaling_group_pb2

Group = scaling_group_pb2.ScalingGroup


def describe(g: Group) -> str:
    s = g.status
    metrics = ", ".join(
        f"{m.metric}={m.value:.1f}/{m.target:g} ({m.reporting_members} reporting)"
        if m.HasField("value")
        else f"{m.metric}=?/{m.target:g}"
        for m in s.metrics
    )
    return (
        f"desired={g.desired_size} current={s.current_size} active={s.active_size}"
        f" members={len(g.members)} [{metrics}] last_decision={s.last_decision!r} fault={s.fault!r}"
    )


def settled_at(size: int) -> Callable[[Group], bool]:
    """The group wants `size` members and has exactly that many (not counting members being
    deleted, which `members` still lists), all ACTIVE."""
    return lambda g: g.desired_size == size and g.status.current_size == size and g.status.active_size == size


async def wait_group(
    api: AsyncClient,
    name: str,
    predicate: Callable[[Group], bool],
    what: str,
    timeout: float = 60.0,  # noqa: ASYNC109 - a poll with a deadline of its own
) -> Group:
    deadline = time.monotonic() + timeout
    while True:
        g = await api.get_scaling_group(name)
        if predicate(g):
            return g
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{name}: not {what} after {timeout:g}s: {describe(g)}\n{await history(api, name)}"
            )
        await asyncio.sleep(0.2)


async def holds(
    api: AsyncClient, name: str, predicate: Callable[[Group], bool], what: str, seconds: float
) -> None:
    """`predicate` holds on every read for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        g = await api.get_scaling_group(name)
        if not predicate(g):
            raise AssertionError(f"{name}: no longer {what}: {describe(g)}\n{await history(api, name)}")
        await asyncio.sleep(0.2)


async def history(api: AsyncClient, name: str, limit: int = 30) -> str:
    """The group's newest activities, oldest first, one a line (for a failure's message)."""
    lines = []
    async for a in api.list_scaling_activities(name):
        metrics = " ".join(f"{m.metric}={m.value:.1f}({m.reporting_members})" for m in a.metrics)
        lines.append(
            f"{a.time.ToDatetime():%H:%M:%S.%f} {a.kind} {a.previous_desired}->{a.desired_size}"
            f" current={a.current_size} {a.rule} {metrics} {a.member} {a.reason} {list(a.clamped)}"
        )
        if len(lines) >= limit:
            break
    return "\n".join(reversed(lines))
