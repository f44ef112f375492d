from __future__ import annotations

import asyncio

from agent.sequencer import KeyedSequencer


async def test_jobs_run_in_order_per_key_and_concurrently_across_keys() -> None:
    sequencer = KeyedSequencer()
    log: list[tuple[str, int, str]] = []
    running: set[str] = set()
    max_parallel = 0

    def job(key: str, n: int, delay: float):  # type: ignore[no-untyped-def]
        async def run() -> None:
            nonlocal max_parallel
            assert key not in running, "two jobs of one key overlapped"
            running.add(key)
            max_parallel = max(max_parallel, len(running))
            log.append((key, n, "start"))
            await asyncio.sleep(delay)
            log.append((key, n, "end"))
            running.discard(key)

        return run

    # Later jobs of a key are faster: only strict sequencing keeps them in order.
    for n in range(5):
        for key in ("a", "b", "c"):
            assert sequencer.submit(key, job(key, n, 0.02 * (5 - n) / 5))
    await sequencer.wait_idle()
    for key in ("a", "b", "c"):
        assert [n for k, n, ev in log if k == key and ev == "end"] == list(range(5))
    assert max_parallel == 3


async def test_a_failing_job_does_not_stop_its_key() -> None:
    sequencer = KeyedSequencer()
    done: list[int] = []

    async def boom() -> None:
        raise RuntimeError("boom")

    async def ok() -> None:
        done.append(1)

    sequencer.submit("k", boom)
    sequencer.submit("k", ok)
    await sequencer.wait_idle()
    assert done == [1]


async def test_close_starts_nothing_new_and_cancels_after_grace() -> None:
    sequencer = KeyedSequencer()
    started: list[str] = []
    release = asyncio.Event()

    async def slow() -> None:
        started.append("slow")
        await asyncio.Event().wait()

    async def quick() -> None:
        started.append("quick")
        await release.wait()

    async def never() -> None:
        started.append("never")

    sequencer.submit("a", slow)
    sequencer.submit("a", never)
    sequencer.submit("b", quick)
    await asyncio.sleep(0)
    release.set()
    cut_short = await sequencer.close(grace=0.1)
    assert cut_short == 1
    assert sorted(started) == ["quick", "slow"]
    assert not sequencer.submit("c", never)
    assert sequencer.active_keys == 0
