"""The Hypervisor port over one libvirt connection.

Every libvirt call blocks, so each operation runs as one synchronous function on a dedicated
thread pool; lifecycle events arrive on the asyncio loop through the libvirtaio adapter
(libvirt_events). On QEMU the driver also owns each instance's files (root disk overlay,
console log) under the state directory (instance_files).

Several agents may share one libvirt (tests, benchmarks): each marks the domains it defines
with its owner id and neither lists, reports nor touches the others'.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import libvirt
import structlog

from agent.hypervisor.base import (
    DomainChange,
    DomainInfo,
    DomainMissing,
    DomainSpec,
    HypervisorError,
    HypervisorInfo,
    PowerState,
    is_managed_name,
)
from agent.hypervisor.domain_xml import (
    GENERATION_NAMESPACE,
    METADATA_NAMESPACE,
    METADATA_PREFIX,
    OWNER_NAMESPACE,
    build_domain_xml,
    generation_from_metadata,
    metadata_element_xml,
    owner_from_metadata,
)
from agent.hypervisor.eventloop import (
    ThreadSafeEventImpl,
    drain_event_impl,
    ensure_event_impl,
    silence_default_error_handler,
)
from agent.hypervisor.instance_files import InstanceFiles, make_dirs
from agent.hypervisor.libvirt_events import DomainEvents
from agent.hypervisor.libvirt_support import (
    KIB_PER_MIB,
    UNSUPPORTED,
    ForeignDomain,
    LibvirtError,
    Undefiner,
    canonical_uid,
    choose_virt_type,
    ensure_running,
    error_code,
    power_state_of,
    wrap_error,
)

log = structlog.get_logger("agent.hypervisor")

T = TypeVar("T")


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
        virt_type: str = "test",
        owner: str = "",
        state_dir: Path | None = None,
        network: str = "",
    ) -> None:
        self._conn = conn
        self._event_impl = event_impl
        self._executor = executor
        self._uri = uri
        self._stop_timeout = stop_timeout
        self._stop_poll_interval = stop_poll_interval
        self._loop = asyncio.get_running_loop()
        self._virt_type = virt_type
        self._owner = owner
        self._network = network
        # Only QEMU domains have files; test-driver domains boot nothing.
        self.files = InstanceFiles(state_dir) if state_dir is not None and virt_type != "test" else None
        self._calls: set[Future[Any]] = set()
        self._undefine = Undefiner()
        self._closed = False
        self._events = DomainEvents(conn, uri)
        self.connection_lost = self._events.connection_lost

    @classmethod
    async def open(
        cls,
        uri: str,
        *,
        stop_timeout: float = 5.0,
        stop_poll_interval: float = 0.2,
        workers: int = 8,
        domain_type: str = "qemu",
        owner: str = "",
        state_dir: Path | None = None,
        network: str = "",
    ) -> LibvirtHypervisor:
        """Connect. On QEMU, `domain_type` is "kvm" or "qemu" (see agent.kvm_probe) and
        instance files go under `state_dir`; `owner` marks (and limits us to) our domains."""
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
        try:
            driver = str(await loop.run_in_executor(executor, conn.getType)).lower()
            virt_type = await loop.run_in_executor(
                executor, choose_virt_type, driver, domain_type, conn.getCapabilities
            )
            if state_dir is not None and driver != "test":
                await loop.run_in_executor(executor, make_dirs, state_dir)
        except (libvirt.libvirtError, OSError) as exc:
            conn.close()
            executor.shutdown(wait=True)
            raise HypervisorError(f"cannot prepare {uri}: {exc}") from None
        hypervisor = cls(
            conn,
            executor,
            uri=uri,
            event_impl=event_impl,
            stop_timeout=stop_timeout,
            stop_poll_interval=stop_poll_interval,
            virt_type=virt_type,
            owner=owner,
            state_dir=state_dir,
            network=network,
        )
        hypervisor._events.watch()
        return hypervisor

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def domain_type(self) -> str:
        return self._virt_type

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise HypervisorError("libvirt: connection is closed")
        future = self._executor.submit(fn, *args)
        self._calls.add(future)
        future.add_done_callback(self._calls.discard)
        try:
            return await asyncio.wrap_future(future)
        except libvirt.libvirtError as exc:
            raise wrap_error(exc) from None

    # -- lookups (executor threads) -------------------------------------------------------

    def _owner_of(self, dom: libvirt.virDomain) -> str | None:
        try:
            return owner_from_metadata(dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, OWNER_NAMESPACE))
        except libvirt.libvirtError as exc:
            if error_code(exc) == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
                return None
            raise

    def _generation_of(self, dom: libvirt.virDomain) -> int:
        try:
            return generation_from_metadata(
                dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, GENERATION_NAMESPACE)
            )
        except libvirt.libvirtError as exc:
            if error_code(exc) == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
                return 0
            raise

    def _is_ours(self, dom: libvirt.virDomain) -> bool:
        if not is_managed_name(dom.name()):
            return False
        if not self._owner:
            return True
        # Domains defined before owners were recorded have none: they are ours.
        owner = self._owner_of(dom)
        return owner is None or owner == self._owner

    def _lookup(self, instance_uid: str) -> libvirt.virDomain | None:
        try:
            dom = self._conn.lookupByUUIDString(instance_uid)
        except libvirt.libvirtError as exc:
            if error_code(exc) == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise
        if is_managed_name(dom.name()) and self._is_ours(dom):
            return dom
        name, managed = dom.name(), is_managed_name(dom.name())
        # A traceback keeps its frames' locals: a domain handle in one keeps the libvirt
        # connection open until the garbage collector runs, after the event loop is gone.
        del dom
        if not managed:
            raise ForeignDomain(f"domain {name!r} has uuid {instance_uid} but is not managed by Overcast")
        raise ForeignDomain(f"domain {name!r} belongs to another agent")

    def _require(self, instance_uid: str) -> libvirt.virDomain:
        dom = self._lookup(instance_uid)
        if dom is None:
            raise DomainMissing(f"no domain for instance {instance_uid}")
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
            domain_type=self._virt_type,
        )

    async def inventory(self) -> HypervisorInfo:
        return await self._call(self._inventory_sync)

    def _list_sync(self) -> list[DomainInfo]:
        domains = []
        for dom in self._conn.listAllDomains(0):
            try:
                if not self._is_ours(dom):
                    continue
                _state, max_mem_kib, _mem_kib, vcpus, _cpu_time = dom.info()
                domains.append(
                    DomainInfo(
                        uuid=dom.UUIDString(),
                        name=dom.name(),
                        power_state=power_state_of(dom),
                        persistent=bool(dom.isPersistent()),
                        vcpus=int(vcpus),
                        memory_mib=int(max_mem_kib) // KIB_PER_MIB,
                        generation=self._generation_of(dom),
                    )
                )
            except libvirt.libvirtError as exc:
                # Deleted between the listing and the query: it is simply not there any more.
                if error_code(exc) != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
        return domains

    async def list_domains(self) -> list[DomainInfo]:
        return await self._call(self._list_sync)

    async def with_connection(self, fn: Callable[[libvirt.virConnect], T]) -> T:
        """Run `fn(conn)` on the libvirt thread pool: for collectors outside this module
        (agent.metrics reads getAllDomainStats). libvirt errors become LibvirtError."""
        return await self._call(fn, self._conn)

    def owns(self, dom: libvirt.virDomain) -> bool:
        """Whether `dom` is one of this agent's domains (on a libvirt thread, inside
        `with_connection`): other agents sharing the libvirt are not ours to report."""
        return self._is_ours(dom)

    def _power_state_sync(self, instance_uid: str) -> PowerState:
        try:
            dom = self._lookup(instance_uid)
            return PowerState.MISSING if dom is None else power_state_of(dom)
        except libvirt.libvirtError as exc:
            if error_code(exc) == libvirt.VIR_ERR_NO_DOMAIN:
                return PowerState.MISSING
            raise

    async def power_state(self, instance_uid: str) -> PowerState:
        return await self._call(self._power_state_sync, canonical_uid(instance_uid))

    def _domain_generation_sync(self, instance_uid: str) -> int:
        try:
            dom = self._lookup(instance_uid)
            return 0 if dom is None else self._generation_of(dom)
        except libvirt.libvirtError as exc:
            if error_code(exc) == libvirt.VIR_ERR_NO_DOMAIN:
                return 0
            raise

    async def generation(self, instance_uid: str) -> int:
        return await self._call(self._domain_generation_sync, canonical_uid(instance_uid))

    # -- actions ----------------------------------------------------------------------------

    def _spawn_sync(self, spec: DomainSpec) -> None:
        # Idempotent by uuid: a redelivered spawn finds its domain and only makes it run.
        dom = self._lookup(spec.instance_uid)
        if dom is None:
            files = None
            if self.files is not None:
                if spec.boot is None:
                    raise HypervisorError("nothing to boot: the spawn command names no image")
                files = self.files.prepare(spec.instance_uid, spec.boot, spec.disk_gib)
            xml = build_domain_xml(
                spec, virt_type=self._virt_type, files=files, network=self._network, owner=self._owner
            )
            try:
                dom = self._conn.defineXML(xml)
            except libvirt.libvirtError:
                if self.files is not None:
                    self.files.remove(spec.instance_uid)
                raise
        ensure_running(dom)

    async def spawn(self, spec: DomainSpec) -> None:
        uid = canonical_uid(spec.instance_uid)
        if spec.vcpus < 1 or spec.memory_mib < 1:
            raise HypervisorError(
                f"invalid spec: vcpus={spec.vcpus} memory_mib={spec.memory_mib} (both must be >= 1)"
            )
        if uid != spec.instance_uid:
            spec = dataclasses.replace(spec, instance_uid=uid)
        await self._call(self._spawn_sync, spec)

    def _start_sync(self, instance_uid: str) -> None:
        ensure_running(self._require(instance_uid))

    async def start(self, instance_uid: str) -> None:
        await self._call(self._start_sync, canonical_uid(instance_uid))

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
        uid = canonical_uid(instance_uid)
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
            ensure_running(dom)
            return
        try:
            dom.reboot(0)
        except libvirt.libvirtError as exc:
            if error_code(exc) not in UNSUPPORTED:
                raise
            dom.destroy()
            dom.create()

    async def reboot(self, instance_uid: str) -> None:
        await self._call(self._reboot_sync, canonical_uid(instance_uid))

    def _delete_sync(self, instance_uid: str) -> None:
        self._delete_domain(instance_uid)
        # After the domain, never before: QEMU may still hold the disk open until destroyed.
        if self.files is not None:
            self.files.remove(instance_uid)

    def _delete_domain(self, instance_uid: str) -> None:
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
            if error_code(exc) != libvirt.VIR_ERR_NO_DOMAIN:
                raise

    async def delete(self, instance_uid: str) -> None:
        await self._call(self._delete_sync, canonical_uid(instance_uid))

    def _update_metadata_sync(self, instance_uid: str, element_xml: str) -> None:
        dom = self._lookup(instance_uid)
        if dom is None:
            return
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if dom.isActive():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        try:
            dom.setMetadata(
                libvirt.VIR_DOMAIN_METADATA_ELEMENT, element_xml, METADATA_PREFIX, METADATA_NAMESPACE, flags
            )
        except libvirt.libvirtError as exc:
            if error_code(exc) != libvirt.VIR_ERR_NO_DOMAIN:  # deleted meanwhile: nothing to update
                raise

    async def update_metadata(
        self, instance_uid: str, instance_name: str, image: str, metadata: Mapping[str, str]
    ) -> None:
        uid = canonical_uid(instance_uid)
        element = metadata_element_xml(uid, instance_name, image, metadata)
        await self._call(self._update_metadata_sync, uid, element)

    # -- events -----------------------------------------------------------------------------

    def _change_sync(self, instance_uid: str) -> DomainChange | None:
        try:
            state = self._power_state_sync(instance_uid)
        except ForeignDomain:
            return None
        return DomainChange(instance_uid=instance_uid, power_state=state, gone=state is PowerState.MISSING)

    async def _read_change(self, instance_uid: str) -> DomainChange | None:
        return await self._call(self._change_sync, instance_uid)

    def domain_changes(self) -> AsyncIterator[DomainChange]:
        return self._events.changes(self._read_change)

    # -- shutdown ---------------------------------------------------------------------------

    async def close(self, grace: float = 10.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._events.stop()
        running = [asyncio.wrap_future(f) for f in list(self._calls) if not f.done()]
        if running:
            # Cancelled awaiters do not stop a libvirt call already in a thread; let it end.
            await asyncio.wait(running, timeout=grace)
        self._executor.shutdown(wait=True, cancel_futures=True)
        # On the loop thread: closing removes libvirtaio timers/handles, which live there.
        self._events.unwatch()
        try:
            self._conn.close()
        except libvirt.libvirtError as exc:
            log.warning("libvirt.close_failed", error=str(exc))
        await drain_event_impl(self._event_impl)
        log.info("libvirt.closed", uri=self._uri)
