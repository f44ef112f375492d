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

from controller.settings import ControllerSettings
from daemon.supervision import DEFAULT, Backoff, FailurePolicy, TransientError, supervise

log = structlog.get_logger(__name__)

# A child that keeps failing at once (say while a service it needs is down) is restarted ever
# less often, from every second up to every 10 s; one that ran 10 s starts over at 1 s.
RESTART = FailurePolicy(Backoff(initial=1.0, maximum=10.0, reset_after=10.0))

# The controller's own loops (relay, listener, host monitor, heartbeats...): a handful per
# process, each retrying with one connection, so a short cap costs PostgreSQL and RabbitMQ
# nothing, and it bounds how long after they return the controller resumes. With the daemons'
# default cap of 10 s the relay resumed 3 s after a 10 s PostgreSQL outage (tests/faults), up to
# 10 s after a longer one; a new server waited for it.
LOOPS = DEFAULT.with_backoff(Backoff(initial=0.5, maximum=2.0))


class ChildExited(TransientError):
    """A child process ended on its own: the controller starts it again (see RESTART)."""


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
    `settings` (the child reads them with `ControllerSettings.from_parent()`), restarted under
    the failure policy (daemon.supervision) with RESTART. `on_started` gets each new child's
    stdin."""

    async def run_once() -> None:
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
        try:
            on_started(proc.stdin)
        except (RuntimeError, OSError) as exc:
            # Its stdin closed at birth (seen once in tests/faults after the scheduler child was
            # SIGKILLed: uvloop's "unable to perform operation on WriteUnixTransport ... the
            # handler is closed"). The child is gone, or reads end-of-file and goes: wait for
            # it and start another, as for any exit. Raised, it ended the controller.
            log.warning(f"{name}.stdin_closed", pid=proc.pid, error=str(exc) or repr(exc))
            proc.stdin.close()  # whatever state it is in: the child's cue to go
        try:
            code = await proc.wait()
        except asyncio.CancelledError:
            await _stop(proc, settings.api.grace_s)
            raise
        raise ChildExited(f"{name} (pid {proc.pid}) exited with status {code}")

    await supervise(name, run_once, RESTART)


async def _stop(proc: asyncio.subprocess.Process, grace_s: float) -> None:
    """SIGTERM, then SIGKILL if it is not gone within the controller's grace (what a child holds
    is safe either way: the relay marks rows sent only once confirmed, the scheduler claims in
    transactions)."""
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), grace_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def serve(loops: Mapping[str, Callable[[], Awaitable[None]]], on_line: Callable[[bytes], None]) -> None:
    """The child's side: run `loops` (each under daemon.supervision's policy) until the
    controller goes away (stdin closed) or stops the child (SIGTERM, SIGINT); lines from the
    controller go to `on_line`. A bug in a loop ends them all and is raised (the child exits
    with status 1 and its controller starts a new one)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watch_parent(stop, on_line)
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(supervise(name, run, LOOPS), name=name) for name, run in loops.items()]
        await stop.wait()
        for t in tasks:
            t.cancel()


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
