"""The Hypervisor port over one libvirt connection.

Every libvirt call blocks, so each operation runs as one synchronous function on a dedicated
thread pool; lifecycle events arrive on the asyncio loop through the libvirtaio adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import libvirt
import structlog

from agent.hypervisor.base import (
    DomainChange,
    DomainInfo,
    DomainSpec,
    HypervisorError,
    HypervisorInfo,
    PowerState,
    is_managed_name,
)
from agent.hypervisor.domain_xml import build_domain_xml
from agent.hypervisor.eventloop import (
    ThreadSafeEventImpl,
    drain_event_impl,
    ensure_event_impl,
    silence_default_error_handler,
)

log = structlog.get_logger("agent.hypervisor")

T = TypeVar("T")

# As Nova maps them: a domain in the middle of shutting down already counts as SHUTDOWN.
_POWER_STATES: dict[int, PowerState] = {
    libvirt.VIR_DOMAIN_NOSTATE: PowerState.NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: PowerState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: PowerState.SHUTDOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: PowerState.SHUTDOWN,
    libvirt.VIR_DOMAIN_CRASHED: PowerState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PowerState.SUSPENDED,
}

# Drivers differ in which undefine flags they accept (the test driver rejects NVRAM), so
# try the most thorough set first and fall back.
_UNDEFINE_FLAG_SETS: tuple[int, ...] = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM,
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
    0,
)
_UNSUPPORTED = {
    libvirt.VIR_ERR_INVALID_ARG,
    libvirt.VIR_ERR_NO_SUPPORT,
    libvirt.VIR_ERR_OPERATION_UNSUPPORTED,
    libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED,
}
_KIB_PER_MIB = 1024


class LibvirtError(HypervisorError):
    def __init__(self, error: libvirt.libvirtError, context: str = "") -> None:
        self.code: int = error.get_error_code() or 0
        message = error.get_error_message() or str(error)
        super().__init__(f"libvirt: {context}{message}")


def _code(error: libvirt.libvirtError) -> int:
    return int(error.get_error_code() or 0)


def _power_state(dom: libvirt.virDomain) -> PowerState:
    state, _reason = dom.state()
    return _POWER_STATES.get(state, PowerState.NOSTATE)


def _canonical_uid(instance_uid: str) -> str:
    try:
        return str(uuid.UUID(instance_uid))
    except ValueError:
        raise HypervisorError(f"invalid instance uid {instance_uid!r}") from None


def _virt_type(hypervisor_type: str) -> str:
    # QEMU runs TCG unless KVM is proven to work (see DESIGN.md); the test driver wants "test".
    return "test" if hypervisor_type == "test" else "qemu"


class LibvirtHypervisor:
    def __init__(
        self,
        conn: libvirt.virConnect,
        executor: ThreadPoolExecutor,
        *,
        uri: str,
        event_impl: ThreadSafeEventImpl,
        stop_timeout: float,
        stop_poll_interval: float = 0.2,
    ) -> None:
        self._conn = conn
        self._event_impl = event_impl
        self._executor = executor
        self._uri = uri
        self._stop_timeout = stop_timeout
        self._stop_poll_interval = stop_poll_interval
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._virt_type = _virt_type(conn.getType().lower())
        self._calls: set[Future[Any]] = set()
        self._undefine_flags: int | None = None
        self._dirty: dict[str, None] = {}  # ordered set of uids with unreported changes
        self._dirty_event = asyncio.Event()
        self._closed = False
        self._event_callback_id: int | None = None
        self.connection_lost = asyncio.Event()

    @classmethod
    async def open(
        cls,
        uri: str,
        *,
        stop_timeout: float = 5.0,
        stop_poll_interval: float = 0.2,
        workers: int = 8,
    ) -> LibvirtHypervisor:
        loop = asyncio.get_running_loop()
        silence_default_error_handler()
        # Must precede open(): libvirt binds a connection's event plumbing to the impl
        # registered at that time.
        event_impl = ensure_event_impl(loop)
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="libvirt")
        try:
            conn = await loop.run_in_executor(executor, libvirt.open, uri)
            if conn is None:
                raise HypervisorError(f"libvirt: cannot open {uri}")
        except libvirt.libvirtError as exc:
            executor.shutdown(wait=True)
            raise LibvirtError(exc, f"cannot open {uri}: ") from None
        except BaseException:
            executor.shutdown(wait=True)
            raise
        hypervisor = cls(
            conn,
            executor,
            uri=uri,
            event_impl=event_impl,
            stop_timeout=stop_timeout,
            stop_poll_interval=stop_poll_interval,
        )
        hypervisor._watch_connection()
        return hypervisor

    @property
    def uri(self) -> str:
        return self._uri

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise HypervisorError("libvirt: connection is closed")
        future = self._executor.submit(fn, *args)
        self._calls.add(future)
        future.add_done_callback(self._calls.discard)
        try:
            return await asyncio.wrap_future(future)
        except libvirt.libvirtError as exc:
            raise LibvirtError(exc) from None

    # -- lookups (executor threads) -------------------------------------------------------

    def _lookup(self, instance_uid: str) -> libvirt.virDomain | None:
        try:
            dom = self._conn.lookupByUUIDString(instance_uid)
        except libvirt.libvirtError as exc:
            if _code(exc) == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise
        if not is_managed_name(dom.name()):
            raise HypervisorError(
                f"domain {dom.name()!r} has uuid {instance_uid} but is not managed by Overcast"
            )
        return dom

    def _require(self, instance_uid: str) -> libvirt.virDomain:
        dom = self._lookup(instance_uid)
        if dom is None:
            raise HypervisorError(f"no domain for instance {instance_uid}")
        return dom

    # -- inventory --------------------------------------------------------------------------

    def _inventory_sync(self) -> HypervisorInfo:
        arch, memory_mib, cpus, *_ = self._conn.getInfo()
        return HypervisorInfo(
            hostname=self._conn.getHostname(),
            arch=str(arch),
            hypervisor_type=self._conn.getType().lower(),
            uri=self._uri,
            vcpus=int(cpus),
            memory_mib=int(memory_mib),
        )

    async def inventory(self) -> HypervisorInfo:
        return await self._call(self._inventory_sync)

    def _list_sync(self) -> list[DomainInfo]:
        domains = []
        for dom in self._conn.listAllDomains(0):
            if not is_managed_name(dom.name()):
                continue
            try:
                _state, max_mem_kib, _mem_kib, vcpus, _cpu_time = dom.info()
                domains.append(
                    DomainInfo(
                        uuid=dom.UUIDString(),
                        name=dom.name(),
                        power_state=_power_state(dom),
                        persistent=bool(dom.isPersistent()),
                        vcpus=int(vcpus),
                        memory_mib=int(max_mem_kib) // _KIB_PER_MIB,
                    )
                )
            except libvirt.libvirtError as exc:
                # Deleted between the listing and the query: it is simply not there any more.
                if _code(exc) != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
        return domains

    async def list_domains(self) -> list[DomainInfo]:
        return await self._call(self._list_sync)

    def _power_state_sync(self, instance_uid: str) -> PowerState:
        try:
            dom = self._lookup(instance_uid)
            return PowerState.MISSING if dom is None else _power_state(dom)
        except libvirt.libvirtError as exc:
            if _code(exc) == libvirt.VIR_ERR_NO_DOMAIN:
                return PowerState.MISSING
            raise

    async def power_state(self, instance_uid: str) -> PowerState:
        return await self._call(self._power_state_sync, _canonical_uid(instance_uid))

    # -- actions ----------------------------------------------------------------------------

    def _ensure_running(self, dom: libvirt.virDomain) -> None:
        state, _reason = dom.state()
        if state == libvirt.VIR_DOMAIN_PAUSED:
            dom.resume()
        elif state == libvirt.VIR_DOMAIN_PMSUSPENDED:
            dom.pMWakeup(0)
        elif state == libvirt.VIR_DOMAIN_CRASHED:
            dom.destroy()
            dom.create()
        elif not dom.isActive():
            try:
                dom.create()
            except libvirt.libvirtError:
                # Started concurrently (e.g. by an operator): the goal is met.
                if not dom.isActive():
                    raise

    def _spawn_sync(self, spec: DomainSpec) -> None:
        dom = self._lookup(spec.instance_uid)
        if dom is None:
            dom = self._conn.defineXML(build_domain_xml(spec, virt_type=self._virt_type))
        self._ensure_running(dom)

    async def spawn(self, spec: DomainSpec) -> None:
        uid = _canonical_uid(spec.instance_uid)
        if spec.vcpus < 1 or spec.memory_mib < 1:
            raise HypervisorError(
                f"invalid spec: vcpus={spec.vcpus} memory_mib={spec.memory_mib} (both must be >= 1)"
            )
        if uid != spec.instance_uid:
            spec = DomainSpec(
                instance_uid=uid,
                instance_name=spec.instance_name,
                vcpus=spec.vcpus,
                memory_mib=spec.memory_mib,
                disk_gib=spec.disk_gib,
                image=spec.image,
                metadata=spec.metadata,
            )
        await self._call(self._spawn_sync, spec)

    def _start_sync(self, instance_uid: str) -> None:
        self._ensure_running(self._require(instance_uid))

    async def start(self, instance_uid: str) -> None:
        await self._call(self._start_sync, _canonical_uid(instance_uid))

    def _request_shutdown_sync(self, instance_uid: str) -> bool:
        """Ask the guest to power off; True while the domain is still active."""
        dom = self._require(instance_uid)
        if not dom.isActive():
            return False
        try:
            dom.shutdown()
        except libvirt.libvirtError:
            if dom.isActive():
                raise
        return bool(dom.isActive())

    def _is_active_sync(self, instance_uid: str) -> bool:
        dom = self._lookup(instance_uid)
        return dom is not None and bool(dom.isActive())

    def _destroy_sync(self, instance_uid: str) -> None:
        dom = self._lookup(instance_uid)
        if dom is None:
            return
        try:
            dom.destroy()
        except libvirt.libvirtError:
            if dom.isActive():
                raise

    async def stop(self, instance_uid: str) -> None:
        uid = _canonical_uid(instance_uid)
        active = await self._call(self._request_shutdown_sync, uid)
        deadline = self._loop.time() + self._stop_timeout
        while active and self._loop.time() < deadline:
            await asyncio.sleep(self._stop_poll_interval)
            active = await self._call(self._is_active_sync, uid)
        if active:
            log.info("stop.forced", instance_uid=uid, timeout_s=self._stop_timeout)
            await self._call(self._destroy_sync, uid)

    def _reboot_sync(self, instance_uid: str) -> None:
        dom = self._require(instance_uid)
        if not dom.isActive():
            self._ensure_running(dom)
            return
        try:
            dom.reboot(0)
        except libvirt.libvirtError as exc:
            if _code(exc) not in _UNSUPPORTED:
                raise
            dom.destroy()
            dom.create()

    async def reboot(self, instance_uid: str) -> None:
        await self._call(self._reboot_sync, _canonical_uid(instance_uid))

    def _undefine(self, dom: libvirt.virDomain) -> None:
        flag_sets = _UNDEFINE_FLAG_SETS if self._undefine_flags is None else (self._undefine_flags,)
        for flags in flag_sets:
            try:
                dom.undefineFlags(flags)
            except libvirt.libvirtError as exc:
                if _code(exc) in _UNSUPPORTED and flags != 0:
                    continue
                raise
            self._undefine_flags = flags
            return

    def _delete_sync(self, instance_uid: str) -> None:
        try:
            dom = self._lookup(instance_uid)
            if dom is None:
                return
            if dom.isActive():
                try:
                    dom.destroy()
                except libvirt.libvirtError:
                    if dom.isActive():
                        raise
            if dom.isPersistent():
                self._undefine(dom)
        except libvirt.libvirtError as exc:
            # Gone while we were deleting it: that is what we wanted.
            if _code(exc) != libvirt.VIR_ERR_NO_DOMAIN:
                raise

    async def delete(self, instance_uid: str) -> None:
        await self._call(self._delete_sync, _canonical_uid(instance_uid))

    # -- events -----------------------------------------------------------------------------

    def _watch_connection(self) -> None:
        self._event_callback_id = self._conn.domainEventRegisterAny(
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
            self._dirty_event.set()

        self._on_loop(mark)

    def _on_close(self, _conn: libvirt.virConnect, reason: int, _opaque: Any) -> None:
        log.error("libvirt.connection_lost", uri=self._uri, reason=reason)
        self._on_loop(self.connection_lost.set)

    def _change_sync(self, instance_uid: str) -> DomainChange:
        state = self._power_state_sync(instance_uid)
        return DomainChange(instance_uid=instance_uid, power_state=state, gone=state is PowerState.MISSING)

    async def domain_changes(self) -> AsyncIterator[DomainChange]:
        # Events only say "something changed"; the state is read afterwards, so a burst of
        # events for one domain collapses into one up-to-date change.
        while not self._closed:
            await self._dirty_event.wait()
            self._dirty_event.clear()
            while self._dirty and not self._closed:
                uid = next(iter(self._dirty))
                del self._dirty[uid]
                try:
                    change = await self._call(self._change_sync, uid)
                except HypervisorError as exc:
                    log.warning("domain_event.state_unavailable", instance_uid=uid, error=str(exc))
                    continue
                yield change

    # -- shutdown ---------------------------------------------------------------------------

    async def close(self, grace: float = 10.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._dirty_event.set()
        running = [asyncio.wrap_future(f) for f in list(self._calls) if not f.done()]
        if running:
            # Cancelled awaiters do not stop a libvirt call already in a thread; let it end.
            await asyncio.wait(running, timeout=grace)
        self._executor.shutdown(wait=True, cancel_futures=True)
        # On the loop thread: closing removes libvirtaio timers/handles, which live there.
        if self._event_callback_id is not None:
            try:
                self._conn.domainEventDeregisterAny(self._event_callback_id)
            except libvirt.libvirtError as exc:
                log.warning("libvirt.deregister_failed", error=str(exc))
        with contextlib.suppress(libvirt.libvirtError):
            self._conn.unregisterCloseCallback()
        try:
            self._conn.close()
        except libvirt.libvirtError as exc:
            log.warning("libvirt.close_failed", error=str(exc))
        await drain_event_impl(self._event_impl)
        log.info("libvirt.closed", uri=self._uri)
