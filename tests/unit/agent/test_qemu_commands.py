"""The SPAWN command's boot fields: parsed from AgentCommand, ignored by test-driver hosts,
fetched through the image cache only for a domain that does not exist yet."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from agent_testkit import body

from agent.commands import execute, parse_command
from agent.hypervisor.base import PowerState
from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from agent.images import ImageCache
from agent.model import BootRequest, Command, ImageRequest, Op
from overcast.agent.v1 import agent_pb2
from tests.e2e.qemu_env import LocalImageSource

NewUid = Callable[[], str]
SHA = "ab" * 32


def test_spawn_boot_fields_are_parsed() -> None:
    raw = body(
        agent_pb2.COMMAND_OP_SPAWN,
        "u1",
        "c1",
        root_image=agent_pb2.ImageRef(
            name="images/tiny", disk_format="qcow2", size_bytes=10, checksum_sha256=SHA
        ),
        kernel=agent_pb2.ImageRef(name="images/k", disk_format="aki", size_bytes=20, checksum_sha256=SHA),
        kernel_args="quiet",
    )
    command = parse_command(raw)
    assert command.boot == BootRequest(
        root_image=ImageRequest("images/tiny", "qcow2", 10, SHA),
        kernel=ImageRequest("images/k", "aki", 20, SHA),
        ramdisk=None,
        kernel_args="quiet",
    )
    assert parse_command(body(agent_pb2.COMMAND_OP_SPAWN, "u1", "c2")).boot is None


async def test_test_driver_hosts_ignore_what_to_boot(hypervisor: LibvirtHypervisor, new_uid: NewUid) -> None:
    uid = new_uid()
    command = Command(
        "c1",
        Op.SPAWN,
        uid,
        "projects/p/servers/s",
        vcpus=1,
        memory_mib=64,
        boot=BootRequest(root_image=ImageRequest("images/queued", "qcow2", 0, "")),  # no data at all
    )
    result = await execute(hypervisor, command)
    assert result.ok, result.error
    assert result.power_state is PowerState.RUNNING


async def test_a_redelivered_spawn_downloads_nothing(
    hypervisor: LibvirtHypervisor, new_uid: NewUid, tmp_path: Path
) -> None:
    data = b"x" * 1000
    (tmp_path / "img").write_bytes(data)
    source = LocalImageSource({"images/x": tmp_path / "img"})
    cache = ImageCache(tmp_path / "state", source, max_age=60)
    uid = new_uid()
    boot = BootRequest(root_image=ImageRequest("images/x", "raw", 1000, hashlib.sha256(data).hexdigest()))
    # The domain exists already (defined by an earlier delivery of this spawn).
    assert (await execute(hypervisor, Command("c1", Op.SPAWN, uid, "n", vcpus=1, memory_mib=64))).ok
    result = await execute(
        hypervisor, Command("c2", Op.SPAWN, uid, "n", vcpus=1, memory_mib=64, boot=boot), images=cache
    )
    assert result.ok and source.requests == []
    # A new instance with a bad checksum: the spawn fails with the reason, nothing is defined.
    bad = BootRequest(root_image=ImageRequest("images/x", "raw", 1000, "0" * 64))
    other = new_uid()
    result = await execute(
        hypervisor, Command("c3", Op.SPAWN, other, "n", vcpus=1, memory_mib=64, boot=bad), images=cache
    )
    assert not result.ok and "does not match" in result.error
    assert result.power_state is PowerState.MISSING
    await cache.close()
