"""Command parsing, execution on the real test driver, per-instance ordering, ack after report."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from agent_testkit import RecordingSink, Settlements, body, wait_for
from google.protobuf import timestamp_pb2

from agent.commands import CommandProcessor, MalformedCommand, execute, expired_age, parse_command
from agent.convert import report_to_proto
from agent.hypervisor.base import PowerState
from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from agent.model import Command, Failure, Op
from overcast.agent.v1 import agent_pb2

NewUid = Callable[[], str]


def test_parse_command_reads_canonical_json() -> None:
    raw = (
        b'{"commandId": "c1", "op": "COMMAND_OP_SPAWN", "instanceUid": "u1", "instanceName": "projects/p/'
        b'servers/s", "vcpus": 2, "memoryMib": "512", "metadata": {"k": "v"}, "future": 1}'
    )
    command = parse_command(raw)
    assert command == Command(
        command_id="c1",
        op=Op.SPAWN,
        instance_uid="u1",
        instance_name="projects/p/servers/s",
        vcpus=2,
        memory_mib=512,
        metadata={"k": "v"},
    )


@pytest.mark.parametrize(
    "raw", [b"not json", b"[]", b'{"op": "COMMAND_OP_SPAWN"}', b'{"commandId": "c", "vcpus": "x"}', b"\xff"]
)
def test_parse_command_rejects_malformed_bodies(raw: bytes) -> None:
    with pytest.raises(MalformedCommand):
        parse_command(raw)


def test_unknown_ops_become_unspecified() -> None:
    assert parse_command(b'{"commandId": "c", "op": 99}').op is Op.COMMAND_OP_UNSPECIFIED
    assert parse_command(b'{"commandId": "c", "op": "MIGRATE"}').op is Op.COMMAND_OP_UNSPECIFIED


async def test_execute_reports_power_state_and_errors(hypervisor: LibvirtHypervisor, new_uid: NewUid) -> None:
    uid = new_uid()
    spawn = Command("c1", Op.SPAWN, uid, "projects/p/servers/s", vcpus=1, memory_mib=128)
    result = await execute(hypervisor, spawn)
    assert (result.ok, result.error, result.power_state) == (True, "", PowerState.RUNNING)
    result = await execute(hypervisor, Command("c2", Op.STOP, uid))
    assert (result.ok, result.power_state) == (True, PowerState.SHUTDOWN)
    result = await execute(hypervisor, Command("c3", Op.DELETE, uid))
    assert (result.ok, result.power_state) == (True, PowerState.MISSING)
    result = await execute(hypervisor, Command("c5", Op.COMMAND_OP_UNSPECIFIED, uid))
    assert not result.ok
    assert "unsupported" in result.error
    assert result.failure is Failure.OTHER
    result = await execute(hypervisor, Command("c6", Op.DELETE, "bogus"))
    assert (result.ok, result.power_state) == (False, PowerState.MISSING)


@pytest.mark.parametrize("op", [Op.START, Op.STOP, Op.REBOOT], ids=lambda op: op.name)
async def test_a_power_command_without_a_domain_says_the_domain_is_missing(
    hypervisor: LibvirtHypervisor, new_uid: NewUid, op: Op
) -> None:
    """The controller tells this apart from other failures: the server is lost (issue 14)."""
    result = await execute(hypervisor, Command("c1", op, new_uid()))
    assert (result.ok, result.failure, result.power_state) == (
        False,
        Failure.DOMAIN_MISSING,
        PowerState.MISSING,
    )
    assert "no domain for instance" in result.error
    report = report_to_proto(result)
    assert report.failure == agent_pb2.COMMAND_FAILURE_DOMAIN_MISSING and not report.ok
    # A delete of a missing domain is what it wanted: success, no failure kind.
    deleted = report_to_proto(await execute(hypervisor, Command("c2", Op.DELETE, new_uid())))
    assert deleted.ok and deleted.failure == agent_pb2.COMMAND_FAILURE_UNSPECIFIED


async def test_processor_keeps_per_instance_order_and_acks_after_acceptance(
    hypervisor: LibvirtHypervisor, new_uid: NewUid
) -> None:
    sink = RecordingSink()
    settle = Settlements(sink.events)
    processor = CommandProcessor(hypervisor, sink)
    uids = [new_uid() for _ in range(4)]
    sequence = [
        (agent_pb2.COMMAND_OP_SPAWN, "spawn"),
        (agent_pb2.COMMAND_OP_STOP, "stop"),
        (agent_pb2.COMMAND_OP_START, "start"),
        (agent_pb2.COMMAND_OP_REBOOT, "reboot"),
        (agent_pb2.COMMAND_OP_SPAWN, "spawn-again"),
        (agent_pb2.COMMAND_OP_DELETE, "delete"),
    ]
    sink.gate.clear()  # hold acceptance: nothing may be acked yet
    for op, name in sequence:
        for uid in uids:
            cid = f"{uid}:{name}"
            assert processor.submit(body(op, uid, cid), ack=settle.ack(cid), reject=settle.reject(cid))
    await asyncio.sleep(0.2)
    assert not any(e.startswith("ack:") for e in sink.events)
    # One command per instance runs at a time, and the next one waits for its report.
    assert processor.in_flight == len(uids)
    sink.gate.set()
    await wait_for(lambda: len([e for e in sink.events if e.startswith("ack:")]) == 24)
    await processor.close(grace=1)

    for uid in uids:
        mine = [r for r in sink.results if r.instance_uid == uid]
        assert [r.command_id.split(":")[1] for r in mine] == [name for _, name in sequence]
        assert all(r.ok for r in mine), [r.error for r in mine]
        assert [r.power_state for r in mine] == [
            PowerState.RUNNING,
            PowerState.SHUTDOWN,
            PowerState.RUNNING,
            PowerState.RUNNING,
            PowerState.RUNNING,
            PowerState.MISSING,
        ]
        for _, name in sequence:
            cid = f"{uid}:{name}"
            assert sink.events.index(f"accepted:{cid}") < sink.events.index(f"ack:{cid}")
    assert await hypervisor.list_domains() == []


async def test_processor_rejects_malformed_messages_without_running_anything(
    hypervisor: LibvirtHypervisor,
) -> None:
    sink = RecordingSink()
    settle = Settlements(sink.events)
    processor = CommandProcessor(hypervisor, sink)
    assert processor.submit(b"{broken", ack=settle.ack("m"), reject=settle.reject("m"))
    await wait_for(lambda: sink.events == ["reject:m"])
    await processor.close(grace=1)
    assert sink.results == []


async def test_processor_leaves_unaccepted_commands_unacked_on_close(
    hypervisor: LibvirtHypervisor, new_uid: NewUid
) -> None:
    sink = RecordingSink()
    sink.gate.clear()  # the controller never accepts
    settle = Settlements(sink.events)
    processor = CommandProcessor(hypervisor, sink)
    uid = new_uid()
    processor.submit(
        body(agent_pb2.COMMAND_OP_SPAWN, uid, "c1"), ack=settle.ack("c1"), reject=settle.reject("c1")
    )
    processor.submit(
        body(agent_pb2.COMMAND_OP_DELETE, uid, "c2"), ack=settle.ack("c2"), reject=settle.reject("c2")
    )
    await asyncio.sleep(0.1)
    assert await processor.close(grace=0.1) == 1
    assert sink.events == []
    # The second command never started: the domain is still there.
    assert [d.uuid for d in await hypervisor.list_domains()] == [uid]
    assert not processor.submit(b"{}", ack=settle.ack("x"), reject=settle.reject("x"))


def _issued(seconds_ago: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(round((time.time() - seconds_ago) * 1e9))
    return ts


async def test_a_command_older_than_the_expiry_is_reported_expired_not_carried_out(
    hypervisor: LibvirtHypervisor, new_uid: NewUid
) -> None:
    """The agent's half of command expiry (issue 14): the controller fails the task of a
    command that waited too long for a DOWN host; the agent, back, must not act on it."""
    sink = RecordingSink()
    settle = Settlements(sink.events)
    processor = CommandProcessor(hypervisor, sink, expiry=lambda: 60.0)
    uid = new_uid()
    fresh = body(agent_pb2.COMMAND_OP_SPAWN, uid, "spawn", issued_at=_issued(5))
    stale_stop = body(agent_pb2.COMMAND_OP_STOP, uid, "stop", issued_at=_issued(61))
    stale_metadata = body(agent_pb2.COMMAND_OP_UPDATE_METADATA, uid, "meta", issued_at=_issued(3600))
    unstamped = body(agent_pb2.COMMAND_OP_REBOOT, uid, "reboot")  # from a controller before expiry
    for cid, raw in (("spawn", fresh), ("stop", stale_stop), ("meta", stale_metadata), ("reboot", unstamped)):
        processor.submit(raw, ack=settle.ack(cid), reject=settle.reject(cid))
    await wait_for(lambda: len([e for e in sink.events if e.startswith("ack:")]) == 4)
    await processor.close(grace=1)
    by_id = {r.command_id: r for r in sink.results}
    assert by_id["spawn"].ok and by_id["meta"].ok and by_id["reboot"].ok
    stop = by_id["stop"]
    assert (stop.ok, stop.failure) == (False, Failure.EXPIRED)
    assert stop.error.startswith("the command was issued 61 s ago (commands expire after 60 s)")
    # Not carried out: the domain still runs, and the report says so.
    assert stop.power_state is PowerState.RUNNING
    assert await hypervisor.power_state(uid) is PowerState.RUNNING
    assert report_to_proto(stop).failure == agent_pb2.COMMAND_FAILURE_EXPIRED
    assert sink.events.index("accepted:stop") < sink.events.index("ack:stop")  # acked once reported


def test_no_expiry_means_no_command_is_too_old() -> None:
    old = Command("c", Op.STOP, "u", issued_at=time.time() - 10**6)
    assert expired_age(old, 0, time.time()) is None
    assert expired_age(old, 600, time.time()) == pytest.approx(10**6, abs=5)
    assert parse_command(body(agent_pb2.COMMAND_OP_STOP, "u", "c", issued_at=_issued(30))).issued_at == (
        pytest.approx(time.time() - 30, abs=1)
    )
