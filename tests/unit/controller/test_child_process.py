"""The controller's child processes are restarted whatever happens to them, including a new
child whose stdin cannot be written at once (it used to end the controller)."""

from __future__ import annotations

import asyncio
import contextlib

from controller.processes import child_process
from controller.settings import ControllerSettings
from daemon.supervision import Backoff, FailurePolicy


async def test_a_child_whose_stdin_cannot_be_written_is_started_again_not_fatal(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(child_process, "RESTART", FailurePolicy(Backoff(initial=0.05, maximum=0.05)))
    started: list[asyncio.StreamWriter] = []

    def on_started(stdin: asyncio.StreamWriter) -> None:
        started.append(stdin)
        if len(started) == 1:
            raise RuntimeError("unable to perform operation on <WriteUnixTransport closed=True>")
        stdin.write(b"hello\n")

    # A child that exits once its stdin is closed (json.tool reads it to the end), as the
    # controller's children do: the first one when run_child closes it.
    running = asyncio.create_task(
        child_process.run_child("probe", "json.tool", ControllerSettings(), on_started=on_started)
    )
    try:
        async with asyncio.timeout(60):
            while len(started) < 2:
                await asyncio.sleep(0.05)
                assert not running.done(), running.exception()
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
