"""Fencing on the real libvirt test driver: a spawn records its placement generation in the
domain's metadata; a command older than the domain is refused; a newer spawn replaces a stale
domain; the generation is what the agent reports at registration."""

from __future__ import annotations

from collections.abc import Callable

from agent.commands import execute, parse_command
from agent.convert import domain_status_to_proto
from agent.hypervisor.base import PowerState
from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from agent.model import Command, Failure, Op

NewUid = Callable[[], str]


def spawn(uid: str, generation: int, command_id: str = "s") -> Command:
    return Command(
        command_id, Op.SPAWN, uid, "projects/p/servers/s", vcpus=1, memory_mib=128, generation=generation
    )


def test_the_generation_is_parsed_from_the_command() -> None:
    raw = b'{"commandId": "c", "op": "COMMAND_OP_DELETE", "instanceUid": "u", "generation": "3"}'
    assert parse_command(raw).generation == 3
    assert parse_command(b'{"commandId": "c", "op": "COMMAND_OP_DELETE"}').generation == 0


async def test_a_spawn_records_its_generation_and_registration_reports_it(
    hypervisor: LibvirtHypervisor, new_uid: NewUid
) -> None:
    uid = new_uid()
    assert await hypervisor.generation(uid) == 0  # no domain
    assert (await execute(hypervisor, spawn(uid, 2))).ok
    assert await hypervisor.generation(uid) == 2
    (listed,) = [d for d in await hypervisor.list_domains() if d.uuid == uid]
    assert listed.generation == 2
    assert domain_status_to_proto(listed).generation == 2
    await hypervisor.delete(uid)


async def test_a_command_older_than_the_domain_is_refused(
    hypervisor: LibvirtHypervisor, new_uid: NewUid
) -> None:
    uid = new_uid()
    assert (await execute(hypervisor, spawn(uid, 3))).ok
    await hypervisor.stop(uid)
    for op in (Op.START, Op.REBOOT, Op.DELETE, Op.SPAWN):
        result = await execute(
            hypervisor, Command(f"old-{op.name}", op, uid, vcpus=1, memory_mib=128, generation=2)
        )
        assert (result.ok, result.failure) == (False, Failure.OTHER), op
        assert "stale command: generation 2 is older than the domain's 3" in result.error
        assert result.power_state is PowerState.SHUTDOWN  # untouched: never started
    # The current generation, and a command that carries none (an older controller), are carried out.
    assert (await execute(hypervisor, Command("start", Op.START, uid, generation=3))).ok
    assert (await execute(hypervisor, Command("stop", Op.STOP, uid))).ok
    assert (await execute(hypervisor, Command("delete", Op.DELETE, uid, generation=3))).ok
    assert await hypervisor.power_state(uid) is PowerState.MISSING


async def test_a_newer_spawn_replaces_a_stale_domain(hypervisor: LibvirtHypervisor, new_uid: NewUid) -> None:
    """The server was evacuated and placed back on this host, whose old copy is still here."""
    uid = new_uid()
    assert (await execute(hypervisor, spawn(uid, 1))).ok
    await hypervisor.stop(uid)
    result = await execute(hypervisor, spawn(uid, 3, "again"))
    assert (result.ok, result.power_state) == (True, PowerState.RUNNING)
    assert await hypervisor.generation(uid) == 3
    # The delete queued for the old copy arrives late: refused, the new one stays.
    late = await execute(hypervisor, Command("fence", Op.DELETE, uid, generation=1))
    assert not late.ok and "stale command" in late.error
    assert await hypervisor.power_state(uid) is PowerState.RUNNING
    await hypervisor.delete(uid)
