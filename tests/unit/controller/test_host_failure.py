"""Host failure (controller.domain.host_failure): the rules on their own, with no service (the
mutation run uses them); the sweep on PostgreSQL: test_host_failure_sweep.py."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from scheduler_testkit import pending

from controller.domain.host_failure import (
    clear_host_down,
    evacuate,
    mark_host_down,
    wants_evacuation,
    why_not_evacuable,
)
from controller.domain.lifecycle import mark_lost
from controller.domain.model import HostFailurePolicy, Instance, PowerState, TaskState, VmState
from controller.domain.placements import Failure, PendingServer, failed
from controller.domain.scaling.records import MemberRow
from controller.services.autoscaler import _member
from controller.services.host_failure import sweep_interval

SINCE = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
NOW = datetime(2026, 1, 2, 3, 9, 5, tzinfo=UTC)


def placed(n: int = 1, **kw: object) -> Instance:
    base = replace(
        pending(n, flavor_id="f", image_id="i"),
        vm_state=VmState.ACTIVE,
        task_state=None,
        host_id="h1",
        allocated=True,
        power_state=PowerState.RUNNING,
        version=4,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


# ---- the rules --------------------------------------------------------------------------------


def test_a_server_is_marked_once_and_unmarked_with_its_power_state_back() -> None:
    marked = mark_host_down(placed(), SINCE, NOW)
    assert marked is not None
    assert marked.fault == "host h1 DOWN since 2026-01-02T03:04:05+00:00: the server's state is unknown"
    assert (marked.power_state, marked.vm_state, marked.version) == (PowerState.UNKNOWN, VmState.ACTIVE, 5)
    assert (marked.host_down_at, marked.host_down_power) == (NOW, PowerState.RUNNING)
    assert mark_host_down(marked, SINCE, NOW) is None  # once per outage
    back = clear_host_down(marked)
    assert back is not None
    assert (back.fault, back.power_state, back.host_down_at, back.host_down_power) == (
        "",
        PowerState.RUNNING,
        None,
        None,
    )
    assert clear_host_down(back) is None
    # A report since the mark wins over the remembered power state; a fault set since stays.
    reported = replace(marked, power_state=PowerState.SHUTDOWN, fault="stop failed on h1: x")
    cleared = clear_host_down(reported)
    assert cleared is not None and (cleared.power_state, cleared.fault) == (
        PowerState.SHUTDOWN,
        "stop failed on h1: x",
    )


def test_a_marked_server_found_lost_when_its_host_returns_keeps_no_mark() -> None:
    """Its host came back without its domain (a test-driver host restarted): lost, and the
    mark's remembered power state must not be restored over that."""
    marked = mark_host_down(placed(), SINCE, NOW)
    assert marked is not None
    lost = mark_lost(marked)
    assert (lost.vm_state, lost.power_state, lost.host_down_at, lost.host_down_power) == (
        VmState.ERROR,
        PowerState.UNKNOWN,
        None,
        None,
    )
    assert clear_host_down(lost) is None


def test_only_placed_idle_servers_are_evacuated() -> None:
    assert why_not_evacuable(placed()) is None
    assert why_not_evacuable(placed(vm_state=VmState.STOPPED)) is None
    assert why_not_evacuable(placed(vm_state=VmState.ERROR)) is None  # e.g. lost: rebuilt
    assert "POWERING_OFF in flight" in str(why_not_evacuable(placed(task_state=TaskState.POWERING_OFF)))
    assert why_not_evacuable(placed(host_id=None, allocated=False)) == "not placed on a host"
    assert why_not_evacuable(placed(vm_state=VmState.DELETED)) == "deleted"
    with pytest.raises(ValueError, match="in flight"):
        evacuate(placed(task_state=TaskState.REBOOTING), "x")


def test_evacuation_sends_the_server_back_to_the_scheduler_and_fences_the_old_copy() -> None:
    before = mark_host_down(placed(generation=4), SINCE, NOW)
    assert before is not None
    after, messages = evacuate(before, "its host failed")
    assert (after.vm_state, after.task_state, after.host_id, after.allocated) == (
        VmState.BUILDING,
        TaskState.SCHEDULING,
        None,
        False,
    )
    assert (after.generation, after.power_state, after.host_down_at) == (5, PowerState.UNKNOWN, None)
    assert after.fault == "evacuating from host h1: its host failed"
    assert (after.uid, after.name, after.request_id) == (before.uid, before.name, before.request_id)
    event, fence = messages
    assert (event.kind, event.message_type, event.payload["version"]) == (
        "event",
        "instance.evacuate.start",
        "6",
    )
    assert (fence.kind, fence.routing_key) == ("command", "h1")
    assert fence.payload["op"] == "COMMAND_OP_DELETE" and fence.payload["generation"] == "4"


def test_a_member_that_evacuates_is_not_also_replaced_for_its_down_host() -> None:
    row = MemberRow("p", "g", uuid.uuid4(), "g-1", NOW, VmState.ACTIVE, None, PowerState.RUNNING, "h1", "")
    down = {"h1": 100.0}
    assert _member(row, down, {}, {}, 0.0).host_down_since == 100.0
    assert _member(replace(row, evacuates=True), down, {}, {}, 0.0).host_down_since is None


def test_the_sweep_runs_a_few_times_per_grace() -> None:
    assert (sweep_interval(2), sweep_interval(12), sweep_interval(300)) == (0.5, 3.0, 5.0)


def test_an_evacuated_server_no_host_can_take_says_where_it_came_from() -> None:
    evacuated, _ = evacuate(placed(), "its host failed")
    why = Failure(PendingServer.of(evacuated), "No valid host: 2 hosts, 2 removed by enough_ram")
    assert failed(evacuated, why).fault == (
        "evacuating from host h1: its host failed; No valid host: 2 hosts, 2 removed by enough_ram"
    )
    fresh = replace(placed(2, host_id=None, allocated=False), vm_state=VmState.BUILDING)
    fresh = replace(fresh, task_state=TaskState.SCHEDULING, fault="older fault")
    assert failed(fresh, Failure(PendingServer.of(fresh), "No valid host: x")).fault == "No valid host: x"


def test_the_edges_of_the_rules() -> None:
    assert wants_evacuation(placed(host_failure_policy=HostFailurePolicy.EVACUATE)) is True
    assert wants_evacuation(placed()) is False
    assert mark_host_down(placed(vm_state=VmState.DELETED), SINCE, NOW) is None
    assert mark_host_down(placed(host_id=None), SINCE, NOW) is None
    assert why_not_evacuable(placed(allocated=False)) == "not placed on a host"
    other = replace(placed(), fault="host h1 said no", host_down_at=NOW, power_state=PowerState.UNKNOWN)
    assert clear_host_down(other).fault == "host h1 said no"  # type: ignore[union-attr]
    after, _ = evacuate(placed(task_command=None), "x")
    assert (after.task_command, after.power_state, after.host_down_power) == (None, PowerState.UNKNOWN, None)
