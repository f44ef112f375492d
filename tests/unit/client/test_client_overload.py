"""The client's retries of calls an overloaded controller shed: the delay asked for, jitter
above it, a budget, and a clear message when it gives up; other errors are not retried."""

from __future__ import annotations

from client.errors import ResourceExhausted, Unavailable
from client.overload import OverloadRetry


def shed(delay: float | None = 0.5) -> ResourceExhausted:
    return ResourceExhausted("controller c1 is overloaded", reason="OVERLOADED", retry_delay=delay)


def test_a_shed_call_waits_between_the_delay_and_twice_it_until_the_budget_is_spent() -> None:
    now = [0.0]
    draws = iter([0.0, 0.999, 0.5, 0.5])
    retry = OverloadRetry(2.0, clock=lambda: now[0], jitter=lambda: next(draws))
    assert retry.wait(shed()) == 0.5
    now[0] += 0.5
    assert abs((retry.wait(shed()) or 0) - 0.9995) < 1e-9
    now[0] += 1.0
    assert retry.wait(shed()) is None  # 1.5 + 0.75 > 2
    err = retry.gave_up(shed())
    assert "gave up after 3 attempts in 1.5 s" in str(err) and "budget being 2 s" in str(err)


def test_only_calls_shed_for_overload_are_retried() -> None:
    retry = OverloadRetry(60.0)
    assert retry.wait(ResourceExhausted("quota exceeded", reason="QUOTA_EXCEEDED", retry_delay=1)) is None
    assert retry.wait(Unavailable("down", retry_delay=1.0)) is None
    other = Unavailable("down")
    assert retry.gave_up(other) is other and str(other) == "down"


def test_a_shed_answer_without_retry_info_waits_a_second() -> None:
    retry = OverloadRetry(60.0, jitter=lambda: 0.0)
    assert retry.wait(shed(None)) == 1.0
