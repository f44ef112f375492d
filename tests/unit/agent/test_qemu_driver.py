"""LibvirtHypervisor on qemu:///system with the tiny guest: real QEMU (TCG unless KVM works),
real libvirtd, real files. Each test uses its own owner id, state directory and domains."""

from __future__ import annotations

import asyncio
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import libvirt
import pytest

from agent.console import ConsoleLogs
from agent.hypervisor.base import DomainChange, DomainSpec, HypervisorError, PowerState
from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from agent.images import ImageCache
from agent.kvm_probe import choose_domain_type
from agent.model import BootRequest, ImageRequest
from tests.e2e.qemu_env import QEMU_URI, LocalImageSource, QemuEnv, qemu_env, remove_tree, traversable_tmpdir

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(300)]

BOOT_TIMEOUT_S = 60.0


@pytest.fixture
def env() -> QemuEnv:
    return qemu_env()


@pytest.fixture
def state_dir() -> AsyncIterator[Path]:
    path = traversable_tmpdir("overcast-unit-qemu-")
    yield path  # type: ignore[misc]
    remove_tree(path)


_PROBE_CACHE = "/var/tmp/overcast-test-kvm-probe.json"


@pytest.fixture
async def hv(env: QemuEnv, state_dir: Path) -> AsyncIterator[LibvirtHypervisor]:
    domain_type = await choose_domain_type("auto", within=3.0, cache=_PROBE_CACHE)
    hypervisor = await LibvirtHypervisor.open(
        QEMU_URI,
        stop_timeout=10.0,
        stop_poll_interval=0.1,
        domain_type=domain_type,
        owner=f"unit-{uuid.uuid4().hex[:8]}",
        state_dir=state_dir,
    )
    try:
        yield hypervisor
    finally:
        for domain in await hypervisor.list_domains():
            await hypervisor.delete(domain.uuid)
        await hypervisor.close()


@pytest.fixture
def cache(env: QemuEnv, state_dir: Path, hv: LibvirtHypervisor) -> ImageCache:
    source = LocalImageSource(
        {
            "images/tiny": env.root.path,
            "images/tiny-kernel": env.kernel.path,
            "images/tiny-initrd": env.initrd.path,
        }
    )
    assert hv.files is not None
    return ImageCache(state_dir, source, max_age=3600, in_use=hv.files.referenced_checksums)


def boot_request(env: QemuEnv, kernel_args: str = "") -> BootRequest:
    return BootRequest(
        root_image=ImageRequest("images/tiny", "qcow2", env.root.size, env.root.sha256),
        kernel=ImageRequest("images/tiny-kernel", "raw", env.kernel.size, env.kernel.sha256),
        ramdisk=ImageRequest("images/tiny-initrd", "raw", env.initrd.size, env.initrd.sha256),
        kernel_args=kernel_args,
    )


async def spawn(
    hv: LibvirtHypervisor,
    cache: ImageCache,
    env: QemuEnv,
    name: str,
    *,
    kernel_args: str = "",
    disk_gib: int = 1,
) -> str:
    uid = str(uuid.uuid4())
    boot = await cache.prepare(boot_request(env, kernel_args))
    try:
        await hv.spawn(
            DomainSpec(
                instance_uid=uid,
                instance_name=f"projects/unit/servers/{name}",
                vcpus=1,
                memory_mib=128,
                disk_gib=disk_gib,
                boot=boot,
            )
        )
    finally:
        cache.release(boot)
    return uid


async def wait_console(hv: LibvirtHypervisor, uid: str, needle: str, count: int = 1) -> str:
    logs = ConsoleLogs(hv, hv.files)
    deadline = asyncio.get_running_loop().time() + BOOT_TIMEOUT_S
    text = ""
    while asyncio.get_running_loop().time() < deadline:
        text = (await logs.read(uid)).text
        if text.count(needle) >= count:
            return text
        await asyncio.sleep(0.2)
    raise AssertionError(f"{needle!r} x{count} not in the console of {uid} in time:\n{text[-2000:]}")


async def wait_state(hv: LibvirtHypervisor, uid: str, want: PowerState, within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while (state := await hv.power_state(uid)) is not want:
        assert asyncio.get_running_loop().time() < deadline, f"{uid} is {state}, not {want}"
        await asyncio.sleep(0.1)


def other_connection() -> libvirt.virConnect:
    """An operator's own connection, behind the agent's back."""
    return libvirt.open(QEMU_URI)


async def test_spawn_boots_the_guest_with_overlay_console_and_its_name(
    hv: LibvirtHypervisor, cache: ImageCache, env: QemuEnv, state_dir: Path
) -> None:
    uid = await spawn(hv, cache, env, "alpha", disk_gib=1)
    assert await hv.power_state(uid) is PowerState.RUNNING
    text = await wait_console(hv, uid, "OVERCAST-BOOT name=projects/unit/servers/alpha")
    # The guest sees the flavor's disk (1 GiB overlay over the 16 MiB image).
    assert "disk=vda:1024MiB" in text

    info = await hv.inventory()
    assert info.domain_type in ("qemu", "kvm") and info.domain_type == hv.domain_type
    conn = other_connection()
    try:
        root = ET.fromstring(conn.lookupByUUIDString(uid).XMLDesc())
    finally:
        conn.close()
    assert root.get("type") == hv.domain_type
    overlay = state_dir / "instances" / uid / "disk.qcow2"
    assert root.find("devices/disk/source").get("file") == str(overlay)  # type: ignore[union-attr]
    backing = root.find("devices/disk/backingStore/source")
    assert backing is not None and backing.get("file") == str(state_dir / "images" / env.root.sha256)
    assert root.findtext("os/cmdline", "").startswith(
        "console=ttyS0 overcast.name=projects/unit/servers/alpha"
    )
    assert root.find("devices/interface") is None  # no --network: no NIC
    assert (state_dir / "instances" / uid / "images").read_text().split() == [
        env.root.sha256,
        env.kernel.sha256,
        env.initrd.sha256,
    ]


async def test_spawn_is_idempotent_by_uuid(
    hv: LibvirtHypervisor, cache: ImageCache, env: QemuEnv, state_dir: Path
) -> None:
    uid = await spawn(hv, cache, env, "twice")
    overlay = state_dir / "instances" / uid / "disk.qcow2"
    before = overlay.stat().st_mtime_ns
    # A redelivered spawn (no boot files: the command path skips fetching for an existing domain).
    await hv.spawn(
        DomainSpec(instance_uid=uid, instance_name="projects/unit/servers/twice", vcpus=1, memory_mib=128)
    )
    assert [d.uuid for d in await hv.list_domains()] == [uid]
    assert overlay.stat().st_mtime_ns == before
    # Stopped behind our back, spawn again: it runs again, same domain.
    conn = other_connection()
    try:
        conn.lookupByUUIDString(uid).destroy()
    finally:
        conn.close()
    await hv.spawn(
        DomainSpec(instance_uid=uid, instance_name="projects/unit/servers/twice", vcpus=1, memory_mib=128)
    )
    assert await hv.power_state(uid) is PowerState.RUNNING
    assert len(await hv.list_domains()) == 1


async def test_stop_by_acpi_start_delete(
    hv: LibvirtHypervisor, cache: ImageCache, env: QemuEnv, state_dir: Path
) -> None:
    uid = await spawn(hv, cache, env, "cycle")
    await wait_console(hv, uid, "OVERCAST-BOOT")

    started = asyncio.get_running_loop().time()
    await hv.stop(uid)
    # The guest handles the ACPI power button (busybox acpid): no forced destroy needed.
    assert asyncio.get_running_loop().time() - started < 10.0
    assert await hv.power_state(uid) is PowerState.SHUTDOWN
    assert "OVERCAST-ACPI-POWER" in (await ConsoleLogs(hv, hv.files).read(uid)).text

    # Start and reboot are covered end to end (tests/e2e); here only that start gets it running.
    await hv.start(uid)
    assert await hv.power_state(uid) is PowerState.RUNNING

    await hv.delete(uid)
    assert await hv.power_state(uid) is PowerState.MISSING
    assert not (state_dir / "instances" / uid).exists()
    await hv.delete(uid)  # deleting again is fine


async def test_changes_nobody_asked_for_are_reported(
    hv: LibvirtHypervisor, cache: ImageCache, env: QemuEnv
) -> None:
    changes: list[DomainChange] = []

    async def collect() -> None:
        async for change in hv.domain_changes():
            changes.append(change)

    collector = asyncio.create_task(collect())
    try:
        # The guest powers itself off two seconds after user space starts.
        uid = await spawn(hv, cache, env, "selfoff", kernel_args="overcast.poweroff=2")
        await wait_console(hv, uid, "OVERCAST-POWEROFF")
        await wait_for_change(changes, uid, PowerState.SHUTDOWN)

        changes.clear()
        conn = other_connection()
        try:
            # SHUTDOWN is reported from "shutting down" on (as Nova maps it); an operator starts
            # the domain once libvirt shows it shut off (before, create() finds it running).
            await wait_inactive(conn, uid)
            conn.lookupByUUIDString(uid).create()  # an operator starts it
            await wait_for_change(changes, uid, PowerState.RUNNING)
            changes.clear()
            conn.lookupByUUIDString(uid).destroy()  # and destroys it
            await wait_for_change(changes, uid, PowerState.SHUTDOWN)
            changes.clear()
            conn.lookupByUUIDString(uid).undefine()  # and removes it
            await wait_for_change(changes, uid, PowerState.MISSING, gone=True)
        finally:
            conn.close()
    finally:
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)


async def wait_inactive(conn: libvirt.virConnect, uid: str, within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while conn.lookupByUUIDString(uid).isActive():
        assert asyncio.get_running_loop().time() < deadline, f"{uid} still running after {within}s"
        await asyncio.sleep(0.05)


async def wait_for_change(
    changes: list[DomainChange], uid: str, state: PowerState, *, gone: bool = False, within: float = 30.0
) -> None:
    def seen() -> bool:
        return any(c.instance_uid == uid and c.power_state is state and c.gone is gone for c in changes)

    deadline = asyncio.get_running_loop().time() + within
    while not seen():
        assert asyncio.get_running_loop().time() < deadline, f"no {state} change for {uid}: {changes}"
        await asyncio.sleep(0.05)


async def test_agents_sharing_libvirt_never_see_each_others_domains(
    hv: LibvirtHypervisor, cache: ImageCache, env: QemuEnv
) -> None:
    uid = await spawn(hv, cache, env, "mine")
    other_state = traversable_tmpdir("overcast-unit-qemu-other-")
    other = await LibvirtHypervisor.open(
        QEMU_URI, domain_type="qemu", owner="someone-else", state_dir=other_state
    )
    try:
        assert uid not in {d.uuid for d in await other.list_domains()}
        with pytest.raises(HypervisorError, match="another agent"):
            await other.delete(uid)
        assert await hv.power_state(uid) is PowerState.RUNNING
    finally:
        await other.close()
        remove_tree(other_state)


async def test_console_log_tail_and_errors(hv: LibvirtHypervisor, cache: ImageCache, env: QemuEnv) -> None:
    uid = await spawn(hv, cache, env, "tail", kernel_args="overcast.tick=1")
    await wait_console(hv, uid, "OVERCAST-UPTIME", count=2)
    logs = ConsoleLogs(hv, hv.files)
    tail = await logs.read(uid, tail_lines=1)
    assert tail.text.count("\n") == 1 and tail.text.startswith("OVERCAST-UPTIME") and not tail.truncated
    small = ConsoleLogs(hv, hv.files, max_bytes=64)
    capped = await small.read(uid)
    assert capped.truncated and len(capped.text.encode()) <= 64
    assert (await logs.read(str(uuid.uuid4()))).error.startswith("no domain")
    assert "invalid instance uid" in (await logs.read("nope")).error


async def test_nothing_to_boot_is_a_clear_error(hv: LibvirtHypervisor, new_uid: Callable[[], str]) -> None:
    with pytest.raises(HypervisorError, match="nothing to boot"):
        await hv.spawn(
            DomainSpec(
                instance_uid=new_uid(), instance_name="projects/unit/servers/x", vcpus=1, memory_mib=64
            )
        )
    assert await hv.list_domains() == []
