"""libvirt's event loop on asyncio, safe to drive from executor threads.

libvirtaio's implementation touches the asyncio loop directly (create_task, add_reader) from
whichever thread libvirt calls it on. The agent makes every libvirt call from an executor
thread, and libvirt updates timers/handles from there (the test driver arms its event-queue
timer on every domain change), so calls arriving off the loop thread are marshalled onto it
with call_soon_threadsafe. Handle and timer ids are still returned synchronously.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import libvirt
import libvirtaio


class ThreadSafeEventImpl(libvirtaio.virEventAsyncIOImpl):  # type: ignore[misc]
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self._loop_thread = threading.get_ident()

    def _off_loop(self) -> bool:
        return threading.get_ident() != self._loop_thread

    def _add_handle(self, fd: int, event: int, cb: Any, opaque: Any) -> int:
        if not self._off_loop():
            return int(super()._add_handle(fd, event, cb, opaque))
        callback = libvirtaio.FDCallback(self, cb, opaque, descriptor=None, event=event)

        def finish() -> None:
            callback.descriptor = self.descriptors[fd]
            self.callbacks[callback.iden] = callback
            self.descriptors[fd].add_handle(callback)
            self._pending_inc()

        self.loop.call_soon_threadsafe(finish)
        return int(callback.iden)

    def _update_handle(self, watch: int, event: int) -> None:
        if self._off_loop():
            self.loop.call_soon_threadsafe(super()._update_handle, watch, event)
        else:
            super()._update_handle(watch, event)

    def _remove_handle(self, watch: int) -> int:
        if self._off_loop():
            self.loop.call_soon_threadsafe(super()._remove_handle, watch)
            return 0
        return int(super()._remove_handle(watch))

    def _add_timeout(self, timeout: int, cb: Any, opaque: Any) -> int:
        if not self._off_loop():
            return int(super()._add_timeout(timeout, cb, opaque))
        callback = libvirtaio.TimeoutCallback(self, cb, opaque)

        def finish() -> None:
            self.callbacks[callback.iden] = callback
            callback.update(timeout=timeout)
            self._pending_inc()

        self.loop.call_soon_threadsafe(finish)
        return int(callback.iden)

    def _update_timeout(self, timer: int, timeout: int) -> None:
        if self._off_loop():
            self.loop.call_soon_threadsafe(super()._update_timeout, timer, timeout)
        else:
            super()._update_timeout(timer, timeout)

    def _remove_timeout(self, timer: int) -> int:
        if self._off_loop():
            self.loop.call_soon_threadsafe(super()._remove_timeout, timer)
            return 0
        return int(super()._remove_timeout(timer))


def ensure_event_impl(loop: asyncio.AbstractEventLoop) -> ThreadSafeEventImpl:
    """Register the event implementation for `loop` once per loop (it is process-global).

    Registering again for the same loop would orphan the timers and handles of connections
    that are already open, so the existing one is reused.
    """
    current = libvirtaio.getCurrentImpl()
    if isinstance(current, ThreadSafeEventImpl) and current.loop is loop:
        return current
    impl = ThreadSafeEventImpl(loop)
    impl.register()
    # libvirtaio.getCurrentImpl() is what other code (and our reuse check) consults.
    libvirtaio._current_impl = impl
    return impl


async def drain_event_impl(impl: ThreadSafeEventImpl, within: float = 1.0) -> None:
    """Let libvirt's free-callbacks (scheduled as tasks) run after a connection closed.

    Other connections on the same loop may keep timers forever, so this waits a bounded
    time and only for what is pending now.
    """
    step = 0.005
    # Yield first: removals made off the loop thread arrive through call_soon_threadsafe.
    await asyncio.sleep(0)
    for _ in range(max(1, int(within / step))):
        if impl._pending <= len(impl.callbacks):
            return
        await asyncio.sleep(step)


def silence_default_error_handler() -> None:
    """libvirt prints every error to stderr by default; errors are raised and logged instead."""

    def _ignore(_ctx: object, _err: object) -> None:
        return None

    libvirt.registerErrorHandler(_ignore, None)
