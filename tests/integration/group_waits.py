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
        assert time.monotonic() < deadline, f"{name}: not {what} after {timeout:g}s: {describe(g)}"
        await asyncio.sleep(0.2)


async def holds(
    api: AsyncClient, name: str, predicate: Callable[[Group], bool], what: str, seconds: float
) -> None:
    """`predicate` holds on every read for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        g = await api.get_scaling_group(name)
        assert predicate(g), f"{name}: no longer {what}: {describe(g)}"
        await asyncio.sleep(0.2)
