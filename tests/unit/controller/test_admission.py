"""The admission gate: slots, the bounded queue, the wait judged from the calls ahead, and a
slot passed on, never lost, whatever the waiters do; and the connection budget's verdicts."""

from __future__ import annotations

import asyncio

from controller.api.admission import Gate
from controller.processes.connections import needed
from controller.settings import ControllerSettings
from controller.storage.connection_budget import ServerRoom, judge


async def test_calls_beyond_the_slots_wait_in_a_bounded_queue_then_are_refused() -> None:
    gate = Gate(limit=2, max_queued=2, max_wait_s=5.0)
    assert gate.try_enter() and gate.try_enter()
    assert not gate.try_enter()
    waiters = [asyncio.create_task(gate.enter()) for _ in range(2)]
    await asyncio.sleep(0)
    assert gate.waiting == 2
    assert await gate.enter() == "queue_full"
    gate.leave()  # the first waiter gets the slot: in_flight stays 2
    assert await waiters[0] is None and gate.in_flight == 2 and gate.waiting == 1
    gate.leave()
    assert await waiters[1] is None
    gate.leave()
    gate.leave()
    assert gate.in_flight == 0 and gate.waiting == 0


async def test_a_call_that_would_wait_too_long_is_refused_at_once() -> None:
    gate = Gate(limit=1, max_queued=100, max_wait_s=0.05)
    gate.call_s = 1.0  # calls have been taking a second
    assert gate.try_enter()
    started = asyncio.get_running_loop().time()
    assert await gate.enter() == "wait_too_long"
    assert asyncio.get_running_loop().time() - started < 0.01  # not after waiting
    gate.call_s = 0.001
    assert await gate.enter(time_left_s=0.02) == "wait_too_long"  # waited its time out
    assert gate.waiting == 0 and gate.in_flight == 1


async def test_a_waiter_cancelled_after_it_was_handed_a_slot_passes_it_on() -> None:
    gate = Gate(limit=1, max_queued=5, max_wait_s=5.0)
    assert gate.try_enter()
    first = asyncio.create_task(gate.enter())
    second = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    gate.leave()  # handed to `first`...
    first.cancel()  # ...which goes away before it runs
    assert await second is None
    assert first.cancelled()
    assert gate.in_flight == 1 and gate.waiting == 0


def test_the_smoothed_call_time_follows_the_calls() -> None:
    gate = Gate(limit=1, max_queued=0, max_wait_s=0)
    for _ in range(100):
        assert gate.try_enter()
        gate.leave(held_s=0.2)
    assert abs(gate.call_s - 0.2) < 0.01


def test_admission_defaults_follow_the_pool_and_survive_the_trip_to_a_child() -> None:
    s = ControllerSettings.load(["--database-pool-size", "8"])
    assert (s.admission.max_in_flight, s.admission.max_queued) == (4, 8)
    again = ControllerSettings.model_validate_json(s.model_dump_json())
    assert again.admission == s.admission
    assert ControllerSettings.load([]).admission.max_in_flight == 10  # half of 20


def test_the_connection_budget_refuses_what_can_never_fit_and_warns_of_what_does_not_now() -> None:
    need = needed(ControllerSettings.load(["--database-pool-size", "20"]))
    assert need["pool"] == 20 and sum(need.values()) == 20 + 1 + 4 + 1 + 4 + 4
    assert judge(need, ServerRoom(100, 3, 1)) is None
    kind, why = judge(need, ServerRoom(30, 3, 1)) or ("", "")
    assert kind == "refuse" and "--database-pool-size" in why and "max_connections 30" in why
    kind, why = judge(need, ServerRoom(100, 3, 80)) or ("", "")
    assert kind == "warn" and "79 are open already" in why
