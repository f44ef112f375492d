"""LibvirtHypervisor against the real libvirt test driver (one node file per test)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import libvirt
import pytest
from agent_testkit import wait_for

from agent.hypervisor.base import DomainChange, DomainSpec, HypervisorError, PowerState
from agent.hypervisor.domain_xml import METADATA_NAMESPACE, metadata_from_xml
from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from agent.hypervisor.testdriver import uri_for

NewUid = Callable[[], str]


def _spec(uid: str, vcpus: int = 2, memory_mib: int = 512) -> DomainSpec:
    return DomainSpec(
        instance_uid=uid,
        instance_name=f"projects/p/servers/{uid[:8]}",
        vcpus=vcpus,
        memory_mib=memory_mib,
    )


async def test_inventory_reflects_the_node_file(hypervisor: LibvirtHypervisor, node_file: Path) -> None:
    info = await hypervisor.inventory()
    assert info.vcpus == 32
    assert info.memory_mib == 64 * 1024
    assert info.arch == "x86_64"
    assert info.hypervisor_type == "test"
    assert info.uri == f"test://{node_file}"
    assert info.hostname


async def test_spawn_twice_gives_one_running_domain(hypervisor: LibvirtHypervisor, new_uid: NewUid) -> None:
    uid = new_uid()
    await hypervisor.spawn(_spec(uid, vcpus=4, memory_mib=2048))
    await hypervisor.spawn(_spec(uid, vcpus=4, memory_mib=2048))
    domains = await hypervisor.list_domains()
    assert len(domains) == 1
    (dom,) = domains
    assert (dom.uuid, dom.name) == (uid, f"oc-{uid}")
    assert dom.power_state is PowerState.RUNNING
    assert dom.persistent
    assert (dom.vcpus, dom.memory_mib) == (4, 2048)


async def test_spawn_restarts_a_stopped_domain(hypervisor: LibvirtHypervisor, new_uid: NewUid) -> None:
    uid = new_uid()
    await hypervisor.spawn(_spec(uid))
    await hypervisor.stop(uid)
    assert await hypervisor.power_state(uid) is PowerState.SHUTDOWN
    await hypervisor.spawn(_spec(uid))
    assert await hypervisor.power_state(uid) is PowerState.RUNNING


async def test_stop_start_reboot_are_idempotent(hypervisor: LibvirtHypervisor, new_uid: NewUid) -> None:
    uid = new_uid()
    await hypervisor.spawn(_spec(uid))
    await hypervisor.stop(uid)
    await hypervisor.stop(uid)
    assert await hypervisor.power_state(uid) is PowerState.SHUTDOWN
    await hypervisor.start(uid)
    await hypervisor.start(uid)
    assert await hypervisor.power_state(uid) is PowerState.RUNNING
    await hypervisor.reboot(uid)
    assert await hypervisor.power_state(uid) is PowerState.RUNNING
    await hypervisor.stop(uid)
    # Rebooting a stopped domain boots it.
    await hypervisor.reboot(uid)
    assert await hypervisor.power_state(uid) is PowerState.RUNNING


async def test_start_resumes_a_paused_domain(hypervisor: LibvirtHypervisor, new_uid: NewUid) -> None:
    uid = new_uid()
    await hypervisor.spawn(_spec(uid))
    await hypervisor._call(lambda: hypervisor._conn.lookupByUUIDString(uid).suspend())
    assert await hypervisor.power_state(uid) is PowerState.PAUSED
    await hypervisor.start(uid)
    assert await hypervisor.power_state(uid) is PowerState.RUNNING


async def test_delete_removes_the_domain_and_missing_is_ok(
    hypervisor: LibvirtHypervisor, new_uid: NewUid
) -> None:
    uid = new_uid()
    await hypervisor.spawn(_spec(uid))
    await hypervisor.delete(uid)
    assert await hypervisor.power_state(uid) is PowerState.MISSING
    assert await hypervisor.list_domains() == []
    await hypervisor.delete(uid)
    await hypervisor.delete(new_uid())


async def test_delete_of_a_stopped_domain(hypervisor: LibvirtHypervisor, new_uid: NewUid) -> None:
    uid = new_uid()
    await hypervisor.spawn(_spec(uid))
    await hypervisor.stop(uid)
    await hypervisor.delete(uid)
    assert await hypervisor.list_domains() == []


async def test_operations_on_missing_domains_fail_clearly(
    hypervisor: LibvirtHypervisor, new_uid: NewUid
) -> None:
    uid = new_uid()
    for op in (hypervisor.start, hypervisor.stop, hypervisor.reboot):
        with pytest.raises(HypervisorError, match=f"no domain for instance {uid}"):
            await op(uid)
    with pytest.raises(HypervisorError, match="invalid instance uid"):
        await hypervisor.spawn(_spec("not-a-uuid"))
    with pytest.raises(HypervisorError, match="invalid spec"):
        await hypervisor.spawn(_spec(uid, vcpus=0))


async def test_libvirt_errors_are_reported_with_their_message(
    hypervisor: LibvirtHypervisor, new_uid: NewUid
) -> None:
    uid = new_uid()
    # Another domain already holds the name oc-{uid}: libvirt itself refuses the define.
    await hypervisor._call(
        lambda: hypervisor._conn.defineXML(
            f"<domain type='test'><name>oc-{uid}</name><memory>1024</memory>"
            "<os><type>hvm</type></os></domain>"
        )
    )
    with pytest.raises(HypervisorError, match=r"^libvirt: .*already exists"):
        await hypervisor.spawn(_spec(uid))


async def test_stop_a_paused_domain(hypervisor: LibvirtHypervisor, new_uid: NewUid) -> None:
    uid = new_uid()
    await hypervisor.spawn(_spec(uid))
    await hypervisor._call(lambda: hypervisor._conn.lookupByUUIDString(uid).suspend())
    await hypervisor.stop(uid)
    assert await hypervisor.power_state(uid) is PowerState.SHUTDOWN


async def test_domains_not_created_by_overcast_are_ignored(new_uid: NewUid) -> None:
    hv = await LibvirtHypervisor.open("test:///default")
    try:
        # test:///default has a built-in running domain named "test".
        assert await hv.list_domains() == []
        builtin = await hv._call(lambda: hv._conn.lookupByName("test").UUIDString())
        with pytest.raises(HypervisorError, match="not managed by Overcast"):
            await hv.delete(builtin)
        uid = new_uid()
        await hv.spawn(_spec(uid))
        assert [d.uuid for d in await hv.list_domains()] == [uid]
    finally:
        await hv.close()


async def test_lifecycle_events_for_changes_behind_our_back(
    hypervisor: LibvirtHypervisor, new_uid: NewUid
) -> None:
    uid = new_uid()
    changes: list[DomainChange] = []

    async def collect() -> None:
        async for change in hypervisor.domain_changes():
            changes.append(change)

    collector = asyncio.create_task(collect())
    try:
        await hypervisor.spawn(_spec(uid))
        await wait_for(lambda: any(c.power_state is PowerState.RUNNING for c in changes))

        def destroy_behind_our_back() -> None:
            hypervisor._conn.lookupByUUIDString(uid).destroy()

        await hypervisor._call(destroy_behind_our_back)
        await wait_for(lambda: changes[-1].power_state is PowerState.SHUTDOWN)
        assert changes[-1] == DomainChange(uid, PowerState.SHUTDOWN, gone=False)

        await hypervisor._call(lambda: hypervisor._conn.lookupByUUIDString(uid).undefine())
        await wait_for(lambda: changes[-1].gone)
        assert changes[-1] == DomainChange(uid, PowerState.MISSING, gone=True)

        # The built-in style domains of other tools never show up.
        other = await hypervisor._call(
            lambda: hypervisor._conn.defineXML(
                "<domain type='test'><name>not-ours</name><memory>1024</memory>"
                "<os><type>hvm</type></os></domain>"
            ).UUIDString()
        )
        await asyncio.sleep(0.1)
        assert all(c.instance_uid != other for c in changes)
    finally:
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)


async def test_cannot_open_a_bad_uri() -> None:
    with pytest.raises(HypervisorError, match="cannot open"):
        await LibvirtHypervisor.open("test:///does/not/exist.xml")


async def test_closed_hypervisor_refuses_calls(node_file: Path) -> None:
    hv = await LibvirtHypervisor.open(f"test://{node_file}")
    await hv.close()
    await hv.close()
    with pytest.raises(HypervisorError, match="closed"):
        await hv.list_domains()


async def test_uses_libvirt_directly_only_through_one_connection(
    hypervisor: LibvirtHypervisor, new_uid: NewUid
) -> None:
    # Concurrent operations on different domains share the one connection safely.
    uids = [new_uid() for _ in range(20)]
    await asyncio.gather(*(hypervisor.spawn(_spec(u)) for u in uids))
    assert sorted(d.uuid for d in await hypervisor.list_domains()) == sorted(uids)
    await asyncio.gather(*(hypervisor.delete(u) for u in uids))
    assert await hypervisor.list_domains() == []
    assert isinstance(hypervisor._conn, libvirt.virConnect)


async def test_update_metadata_rewrites_what_the_domain_stores_and_keeps_its_owner(
    node_file: Path, new_uid: NewUid
) -> None:
    hv = await LibvirtHypervisor.open(uri_for(node_file), owner="host-a")
    try:
        uid = new_uid()
        spec = DomainSpec(uid, "projects/p/servers/s", 1, 256, image="images/i", metadata={"a": "1"})
        await hv.spawn(spec)
        await hv.update_metadata(uid, "projects/p/servers/s", "images/i", {"b": "<2>"})

        def stored() -> tuple[dict[str, str], str, str | None]:
            dom = hv._conn.lookupByUUIDString(uid)
            items = metadata_from_xml(dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, METADATA_NAMESPACE))
            return items, dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), hv._owner_of(dom)

        items, persistent, owner = await hv._call(stored)
        assert items == {"b": "<2>"}
        assert "&lt;2&gt;" in persistent  # the persistent definition too: it outlives a restart
        assert owner == "host-a"  # a separate element: agents sharing a libvirt still tell theirs
        await hv.update_metadata(new_uid(), "projects/p/servers/gone", "", {})  # nothing to update
        with pytest.raises(HypervisorError, match="invalid instance uid"):
            await hv.update_metadata("nope", "projects/p/servers/s", "", {})
        other = new_uid()
        await hv._call(
            lambda: hv._conn.defineXML(
                f"<domain type='test'><name>not-ours</name><uuid>{other}</uuid><memory>1024</memory>"
                "<os><type>hvm</type></os></domain>"
            )
        )
        with pytest.raises(HypervisorError, match="not managed by Overcast"):
            await hv.update_metadata(other, "projects/p/servers/s", "", {})
    finally:
        await hv.close()
