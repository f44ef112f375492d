"""Child processes of the controller (the outbox relay, the scheduler): started, restarted if
they exit, stopped with the controller, and never outliving it.

The controller holds the write end of each child's stdin. The child treats end-of-file there as
"my controller is gone" (a controller killed with SIGKILL closes it too) and exits; a child may
also read lines from it (the scheduler learns its load board's host slots that way).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence

import structlog

from controller.processes.runtime import supervised
from controller.settings import ControllerSettings

log = structlog.get_logger(__name__)

RESTART_AFTER_S = 1.0
RESTART_MAX_S = 10.0


async def run_child(
    name: str,
    module: str,
    settings: ControllerSettings,
    *,
    args: Sequence[str] = (),
    pass_fds: Sequence[int] = (),
    on_started: Callable[[asyncio.StreamWriter], None] = lambda _stdin: None,
) -> None:
    """Keep one `python -m <module> <args>` running until cancelled, handed the controller's
    `settings` (the child reads them with `ControllerSettings.from_parent()`). One that keeps
    failing at once (say while a service it needs is down) is restarted ever less often, up
    to every RESTART_MAX_S. `on_started` gets each new child's stdin."""
    delay = RESTART_AFTER_S
    while True:
        started = asyncio.get_running_loop().time()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            *args,
            stdin=asyncio.subprocess.PIPE,  # its end closing tells the child to exit
            env={**os.environ, **settings.child_environment()},
            pass_fds=pass_fds,
        )
        log.info(f"{name}.started", pid=proc.pid)
        assert proc.stdin is not None
        on_started(proc.stdin)
        try:
            code = await proc.wait()
        except asyncio.CancelledError:
            await _stop(proc)
            raise
        ran_s = asyncio.get_running_loop().time() - started
        delay = RESTART_AFTER_S if ran_s > RESTART_MAX_S else min(2 * delay, RESTART_MAX_S)
        log.warning(f"{name}.exited", pid=proc.pid, code=code, restart_in_s=delay)
        await asyncio.sleep(delay)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 10.0)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def serve(loops: Mapping[str, Callable[[], Awaitable[None]]], on_line: Callable[[bytes], None]) -> None:
    """The child's side: run `loops` (each supervised) until the controller goes away (stdin
    closed) or stops the child (SIGTERM, SIGINT); lines from the controller go to `on_line`."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watch_parent(stop, on_line)
    tasks = [asyncio.ensure_future(supervised(name, run)) for name, run in loops.items()]
    try:
        await stop.wait()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def watch_parent(stop: asyncio.Event, on_line: Callable[[bytes], None] = lambda _line: None) -> None:
    """The child's side: set `stop` when the controller's end of stdin closes, and hand each
    complete line read meanwhile to `on_line`."""
    loop = asyncio.get_running_loop()
    pending = bytearray()

    def readable() -> None:
        chunk = os.read(0, 65536)
        if not chunk:
            loop.remove_reader(0)
            stop.set()
            return
        pending.extend(chunk)
        *lines, rest = pending.split(b"\n")
        pending[:] = rest
        for line in lines:
            on_line(bytes(line))

    loop.add_reader(0, readable)
