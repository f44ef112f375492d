"""Lifecycle events of one libvirt connection, as a stream of up-to-date domain changes.

libvirt calls back (through libvirtaio, on the asyncio loop or from an executor thread) for
everything that happens to a domain, whoever caused it: a guest powering itself off, an
operator's `virsh destroy` or `virsh start`, QEMU crashing. The callbacks only mark the
domain dirty; its state is read afterwards, so a burst of events for one domain collapses
into one change that is current when it is sent (level, not edge).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import libvirt
import structlog

from agent.hypervisor.base import DomainChange, HypervisorError, is_managed_name

log = structlog.get_logger("agent.hypervisor")

ReadChange = Callable[[str], Awaitable[DomainChange | None]]


class DomainEvents:
    def __init__(self, conn: libvirt.virConnect, uri: str) -> None:
        self._conn = conn
        self._uri = uri
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._dirty: dict[str, None] = {}  # ordered set of uids with unreported changes
        self._wakeup = asyncio.Event()
        self._callback_id: int | None = None
        self._closed = False
        self.connection_lost = asyncio.Event()

    def watch(self) -> None:
        """Register the callbacks (on the loop thread, right after the connection opened)."""
        self._callback_id = self._conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle, None
        )
        # Drivers without a remote connection cannot lose it and may refuse the callback.
        with contextlib.suppress(libvirt.libvirtError):
            self._conn.registerCloseCallback(self._on_close, None)

    def _on_loop(self, fn: Callable[[], None]) -> None:
        if threading.get_ident() == self._loop_thread:
            fn()
        else:
            self._loop.call_soon_threadsafe(fn)

    def _on_lifecycle(
        self, _conn: libvirt.virConnect, dom: libvirt.virDomain, event: int, detail: int, _o: Any
    ) -> None:
        # name() and UUIDString() are cached on the handle: no call into the driver here.
        if not is_managed_name(dom.name()):
            return
        uid = dom.UUIDString()

        def mark() -> None:
            self._dirty[uid] = None
            self._wakeup.set()

        self._on_loop(mark)

    def _on_close(self, _conn: libvirt.virConnect, reason: int, _opaque: Any) -> None:
        log.error("libvirt.connection_lost", uri=self._uri, reason=reason)
        self._on_loop(self.connection_lost.set)

    async def changes(self, read: ReadChange) -> AsyncIterator[DomainChange]:
        """Changes until close(); `read(uid)` gives the current state, or None to skip the
        domain (one that belongs to another agent on the same libvirt)."""
        while not self._closed:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._dirty and not self._closed:
                uid = next(iter(self._dirty))
                del self._dirty[uid]
                try:
                    change = await read(uid)
                except HypervisorError as exc:
                    log.warning("domain_event.state_unavailable", instance_uid=uid, error=str(exc))
                    continue
                if change is not None:
                    yield change

    def stop(self) -> None:
        """Wake and end the changes() iterator."""
        self._closed = True
        self._wakeup.set()

    def unwatch(self) -> None:
        """Deregister (on the loop thread: this removes libvirtaio handles that live there)."""
        if self._callback_id is not None:
            try:
                self._conn.domainEventDeregisterAny(self._callback_id)
            except libvirt.libvirtError as exc:
                log.warning("libvirt.deregister_failed", error=str(exc))
            self._callback_id = None
        with contextlib.suppress(libvirt.libvirtError):
            self._conn.unregisterCloseCallback()
