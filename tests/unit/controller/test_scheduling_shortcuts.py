"""Shortcuts of the scheduler workers' hot path give what the general code gives."""

from datetime import UTC, datetime, timedelta

import pytest
from scheduler_testkit import db_host

from controller.domain.model import HostState
from controller.services.scheduling import _capacity, host_view


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
