"""Shortcuts of the scheduler workers' hot path give what the general code gives."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from scheduler_testkit import db_host

from controller.domain.lifecycle import bump
from controller.domain.model import HostState, Instance, TaskState, VmState
from controller.services.scheduling import _bumped, _capacity, host_view


def test_bumped_is_bump() -> None:
    inst = Instance(
        uuid.uuid4(), "p", "s1", "m1.small", "cirros", 1, 2048, 20, VmState.BUILDING,
        TaskState.SCHEDULING, metadata={"a": "b"}, version=4, created_at=datetime.now(UTC),
    )  # fmt: skip
    c = uuid.uuid4()
    changes = dict(host_id="h1", allocated=True, task_state=TaskState.SPAWNING, task_command=c)
    got, want = _bumped(inst, **changes), bump(inst, **changes)
    assert got == want
    assert repr(got) == repr(want)
    assert got.version == 5 and inst.version == 4 and inst.host_id is None
    assert got.name == inst.name


@pytest.mark.parametrize("state", list(HostState))
@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("age_s", [None, 1.0, 5.0])
def test_capacity_says_usable_as_host_view_does(state: HostState, enabled: bool, age_s: float | None) -> None:
    now = datetime.now(UTC)
    beat = None if age_s is None else now - timedelta(seconds=age_s)
    h = db_host("h1", state=state, enabled=enabled, last_heartbeat=beat, vcpus_used=1, memory_mib_used=512)
    v = host_view(h, now.timestamp(), 3.0)
    have = _capacity(h, now.timestamp(), 3.0)
    assert have[0] == (v.up and v.enabled)
    assert have[1:] == (
        float(v.vcpus),
        v.vcpus * v.cpu_allocation_ratio,
        v.memory_mib * v.ram_allocation_ratio,
        v.disk_gib * v.disk_allocation_ratio,
        float(v.vcpus_used),
        float(v.memory_mib_used),
        float(v.disk_gib_used),
    )
