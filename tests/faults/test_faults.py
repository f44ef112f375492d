"""Nothing acknowledged is lost or done twice, nothing is left half-done, when RabbitMQ stops
and starts, PostgreSQL restarts or is down for 10 s, the leading controller replica is
SIGKILLed, an agent is paused 20 s or SIGKILLed and restarted, every agent's link to the
controller is cut for 10 s, or the controller's relay or scheduler child process is SIGKILLed, in the
middle of a burst of 500 mixed operations (creates with request ids, deletes, starts, stops, reboots) at 50 a
second; and no call is answered UNKNOWN or INTERNAL. What is checked, and how, is
devcluster.faults.checks; the services faulted are the run's own (conftest.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devcluster.faults.run import FAULTS, FaultRun, RunSpec
from devcluster.faults.services import PrivateServices

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_nothing_acknowledged_is_lost_or_done_twice_when(
    fault: str, services: PrivateServices, tmp_path: Path
) -> None:
    run = FaultRun(services, tmp_path, RunSpec(ops=500, rate=50.0), fault)
    try:
        await asyncio.to_thread(run.start)
        result = await run.run()
    finally:
        unclean = await asyncio.to_thread(run.stop)
        await run.remove()
    v = result.verdict
    assert v.ok, result.report()
    assert not unclean, unclean
    # The run did what it claims: the fault struck with work in flight, every kind of
    # operation was acknowledged, and the cluster came back.
    assert result.in_flight > 0, result.report()
    assert v.sent >= 500 and v.acknowledged >= 500, result.report()
    assert set(v.acknowledged_by_op) == {"create", "delete", "start", "stop", "reboot"}, result.report()
    assert result.recovery_s is not None, result.report()
    if fault.startswith("postgres"):
        assert v.codes.get("UNAVAILABLE", 0) > 0, result.report()  # calls felt the outage
