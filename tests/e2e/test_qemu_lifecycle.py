"""Real guests through the whole stack: client → controller → RabbitMQ → agent → libvirt QEMU.

Under TCG a tiny guest reaches user space in about 2-4 s, so the servers of this module are
shared by its tests, in order: boot two, drive each through stop/start/reboot, watch one
power itself off, kill -9 the agent under running guests, delete everything.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from client import AsyncClient
from overcast.v1 import common_pb2, server_pb2
from tests.e2e.conftest import PROJECT, QemuCluster, remove_domains_of
from tests.integration.agents import domains

# Generous: the first test also pays for scripts/libvirtd.sh (apt-get on a fresh machine).
pytestmark = [pytest.mark.qemu, pytest.mark.integration, pytest.mark.timeout(300)]

SERVERS = ("vm-a", "vm-b")
BOOT_LINE = "OVERCAST-BOOT name=projects/{project}/servers/{name} "


def boot_line(name: str) -> str:
    return BOOT_LINE.format(project=PROJECT, name=name)


async def wait_state(api: AsyncClient, name: str, state: int, within: float = 60) -> server_pb2.Server:
    server = await api.wait_for_server(name, project=PROJECT, until={state}, timeout=within)
    assert server is not None, f"{name} is gone"
    assert server.vm_state == state, f"{name}: {common_pb2.VmState.Name(server.vm_state)} {server.fault}"
    return server


async def console(api: AsyncClient, name: str, needle: str, count: int = 1, within: float = 60) -> str:
    """The server's console through GetConsoleLog once `needle` appears `count` times."""
    deadline = time.monotonic() + within
    text = ""
    while time.monotonic() < deadline:
        text = (await api.get_console_log(name, PROJECT)).text
        if text.count(needle) >= count:
            return text
        await asyncio.sleep(0.3)
    raise AssertionError(f"{needle!r} x{count} not in {name}'s console:\n{text[-1500:]}")


async def libvirt_view(qc: QemuCluster) -> dict[str, str]:
    return await domains(qc.agent_admin)


async def uids(api: AsyncClient) -> dict[str, str]:
    return {name: (await api.get_server(name, PROJECT)).uid for name in SERVERS}


async def test_two_guests_boot_and_each_logs_its_own_name(
    qemu_cluster: QemuCluster, qapi: AsyncClient
) -> None:
    host = await qapi.get_host(f"hosts/{qemu_cluster.host_id}")
    assert host.domain_type in ("qemu", "kvm")  # TCG unless the KVM probe proved KVM works

    started = time.monotonic()
    for name in SERVERS:
        await qapi.create_server(name, flavor="m1.tiny", image="tiny", project=PROJECT)
    for name in SERVERS:
        server = await wait_state(qapi, name, common_pb2.VM_STATE_ACTIVE)
        assert server.power_state == common_pb2.POWER_STATE_RUNNING
        assert server.host == f"hosts/{qemu_cluster.host_id}"
    for name in SERVERS:
        text = await console(qapi, name, boot_line(name))
        other = next(n for n in SERVERS if n != name)
        assert boot_line(other) not in text
        assert "disk=vda:1024MiB" in text  # m1.tiny's 1 GiB overlay over the 16 MiB image
    print(f"two guests ACTIVE and booted in {time.monotonic() - started:.1f}s")

    view = await libvirt_view(qemu_cluster)
    assert view == {uid: "RUNNING" for uid in (await uids(qapi)).values()}
    tail = await qapi.get_console_log(SERVERS[0], PROJECT, tail_lines=1)
    assert tail.text.count("\n") <= 1 and tail.text.strip()


async def test_stop_start_reboot_each(qemu_cluster: QemuCluster, qapi: AsyncClient) -> None:
    servers = await uids(qapi)

    async def cycle(name: str) -> None:
        await qapi.stop_server(name, PROJECT)
        stopped = await wait_state(qapi, name, common_pb2.VM_STATE_STOPPED)
        assert stopped.power_state == common_pb2.POWER_STATE_SHUTDOWN
        assert (await libvirt_view(qemu_cluster))[servers[name]] == "SHUTDOWN"

        await qapi.start_server(name, PROJECT)
        assert (
            await wait_state(qapi, name, common_pb2.VM_STATE_ACTIVE)
        ).power_state == common_pb2.POWER_STATE_RUNNING
        await console(qapi, name, boot_line(name), count=2)

        await qapi.reboot_server(name, PROJECT)
        await wait_state(qapi, name, common_pb2.VM_STATE_ACTIVE)
        await console(qapi, name, boot_line(name), count=3)

    await asyncio.gather(*(cycle(name) for name in SERVERS))
    assert await libvirt_view(qemu_cluster) == {uid: "RUNNING" for uid in servers.values()}
    for name in SERVERS:
        server = await qapi.get_server(name, PROJECT)
        assert (server.vm_state, server.power_state) == (
            common_pb2.VM_STATE_ACTIVE,
            common_pb2.POWER_STATE_RUNNING,
        )


async def test_a_guest_powering_itself_off_is_stopped_without_polling(
    qemu_cluster: QemuCluster, qapi: AsyncClient
) -> None:
    await qapi.create_server("vm-selfoff", flavor="m1.tiny", image="tiny-selfoff", project=PROJECT)
    await wait_state(qapi, "vm-selfoff", common_pb2.VM_STATE_ACTIVE)
    await console(qapi, "vm-selfoff", "OVERCAST-POWEROFF")
    seen = time.monotonic()
    # Nobody asked: the libvirt lifecycle event reaches the controller as a domain event.
    server = await wait_state(qapi, "vm-selfoff", common_pb2.VM_STATE_STOPPED, within=15)
    assert server.power_state == common_pb2.POWER_STATE_SHUTDOWN
    print(f"power-off seen as STOPPED {time.monotonic() - seen:.2f}s after the guest's last line was read")
    await qapi.delete_server("vm-selfoff", PROJECT)
    assert await qapi.wait_for_server("vm-selfoff", project=PROJECT, timeout=30) is None


async def test_kill_9_agent_loses_and_duplicates_nothing(
    qemu_cluster: QemuCluster, qapi: AsyncClient
) -> None:
    servers = await uids(qapi)
    before = await libvirt_view(qemu_cluster)
    assert before == {uid: "RUNNING" for uid in servers.values()}
    boots = {name: (await console(qapi, name, boot_line(name))).count(boot_line(name)) for name in SERVERS}

    qemu_cluster.cluster.agents[qemu_cluster.host_id].kill()  # SIGKILL: no goodbye
    # A command that arrives while the agent is dead waits in its queue.
    await qapi.stop_server("vm-a", PROJECT)
    await asyncio.sleep(1.0)
    qemu_cluster.restart_agent()

    stopped = await wait_state(qapi, "vm-a", common_pb2.VM_STATE_STOPPED)
    assert stopped.power_state == common_pb2.POWER_STATE_SHUTDOWN
    after = await libvirt_view(qemu_cluster)
    assert after == {servers["vm-a"]: "SHUTDOWN", servers["vm-b"]: "RUNNING"}, after
    # vm-b ran on through the agent's death: no second boot, its console still grows.
    text = await console(qapi, "vm-b", boot_line("vm-b"))
    assert text.count(boot_line("vm-b")) == boots["vm-b"]
    server_b = await qapi.get_server("vm-b", PROJECT)
    assert (server_b.vm_state, server_b.power_state) == (
        common_pb2.VM_STATE_ACTIVE,
        common_pb2.POWER_STATE_RUNNING,
    )


async def test_delete_removes_domains_and_files(qemu_cluster: QemuCluster, qapi: AsyncClient) -> None:
    servers = await uids(qapi)
    for name in SERVERS:
        await qapi.delete_server(name, PROJECT)
    for name in SERVERS:
        assert await qapi.wait_for_server(name, project=PROJECT, timeout=30) is None
    assert await libvirt_view(qemu_cluster) == {}
    assert not any((qemu_cluster.state_dir / "instances" / uid).exists() for uid in servers.values())
    # The cached images stay (shared, swept when unused past their age) ...
    cached = {p.name for p in (qemu_cluster.state_dir / "images").iterdir() if p.is_file()}
    env = qemu_cluster.env
    assert {env.kernel.sha256, env.initrd.sha256, env.root.sha256} <= cached
    # ... and nothing of ours is left in libvirt.
    assert remove_domains_of(qemu_cluster.host_id) == []
