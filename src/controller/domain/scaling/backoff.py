"""Members that could not be placed: a template no host can take must not be retried forever.

A member that ends in ERROR without ever reaching a host failed placement (the scheduler's
NoValidHost, or its image or flavor vanished). The autoscaler deletes such members rather than
replacing them at once, shows the scheduler's reason as the group's fault (GetScalingGroup's
status), and adds no member before a retry time that doubles with each round that finds new
failures, from BASE_S up to MAX_S. A member that reaches a host ends the backoff.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from controller.domain.model import VmState
from controller.domain.scaling.evaluation import GroupState, Member

BASE_S = 10.0
MAX_S = 600.0


def placement_failed(m: Member) -> bool:
    """In ERROR without having reached a host, and not lost: the scheduler failed it."""
    return m.vm_state is VmState.ERROR and m.host_id is None and not m.deleting and not m.lost


def blocks(state: GroupState, now: float) -> bool:
    """Whether no member may be added now."""
    return state.placement_failures > 0 and now < state.placement_retry_at


def after_round(state: GroupState, now: float, failed: Sequence[Member], placed: bool) -> GroupState:
    """The backoff after a round that found `failed` members and, if `placed`, a member on a
    host: failures double the delay; a placed member (and no failure) ends the backoff."""
    if failed:
        failures = state.placement_failures + 1
        delay = min(MAX_S, BASE_S * 2 ** (failures - 1))
        return replace(state, placement_failures=failures, placement_retry_at=now + delay)
    if placed and state.placement_failures:
        return replace(state, placement_failures=0, placement_retry_at=0.0)
    return state
