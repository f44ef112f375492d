"""The fault runs' judgement (devcluster.faults.checks): a clean run passes, and each thing a
user would notice after a fault — an acknowledged request not carried out, a server twice, a
domain without a server, usage that does not add up, a missing event, a host down, a dead
process, an UNKNOWN answer — is found and said."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from devcluster.faults.checks import Observed, judge
from devcluster.faults.workload import Call
from overcast.v1 import common_pb2, host_pb2, server_pb2

ACTIVE, STOPPED, ERROR = common_pb2.VM_STATE_ACTIVE, common_pb2.VM_STATE_STOPPED, common_pb2.VM_STATE_ERROR
UP, DOWN = common_pb2.HOST_STATE_UP, common_pb2.HOST_STATE_DOWN


def server(
    sid: str, uid: str, vm: int = ACTIVE, host: str = "h1", version: int = 3, **kw: Any
) -> server_pb2.Server:
    return server_pb2.Server(
        name=f"projects/p/servers/{sid}",
        uid=uid,
        vm_state=vm,
        host=f"hosts/{host}",
        etag=str(version),
        vcpus=1,
        memory_mib=512,
        disk_gib=1,
        **kw,
    )


def ok(op: str, sid: str, at: float, version: int = 1, uid: str = "") -> Call:
    c = Call(op, sid, codes=["OK"], messages=[""], acked_at=at, version=version)
    if uid:
        c.uids = [uid]
    return c


def ev(sid: str, *kinds: str) -> list[dict[str, Any]]:
    return [{"resource": f"projects/p/servers/{sid}", "eventType": k} for k in kinds]


CREATED = ("instance.create.start", "instance.scheduled", "instance.create.end")


def clean() -> tuple[list[Call], Observed]:
    """a: created; b: created then stopped; c: created then deleted."""
    calls = [
        ok("create", "a", 1.0, uid="ua"),
        ok("create", "b", 1.1, uid="ub"),
        ok("create", "c", 1.2, uid="uc"),
        ok("stop", "b", 2.0, version=4),
        ok("delete", "c", 2.1, version=4),
        Call("start", "a", codes=["FAILED_PRECONDITION"], messages=["cannot start a in state ACTIVE"]),
    ]
    seen = Observed(
        project="p",
        servers={"a": server("a", "ua"), "b": server("b", "ub", STOPPED, version=6)},
        hosts=[
            host_pb2.Host(
                name="hosts/h1", state=UP, vcpus_used=2, memory_mib_used=1024, disk_gib_used=2, servers=2
            )
        ],
        domains={"h1": {"ua": "RUNNING", "ub": "SHUTOFF"}},
        events=[
            *ev("a", *CREATED),
            *ev("b", *CREATED, "instance.power_off.start", "instance.power_off.end"),
            *ev("c", *CREATED, "instance.delete.start", "instance.delete.end", "instance.delete.end"),
        ],
        processes={"controller-1": True, "host-1": True},
        watched={"a": 3, "b": 6},
    )
    return calls, seen


def test_a_clean_run_passes_and_counts_what_was_acknowledged() -> None:
    calls, seen = clean()
    v = judge(calls, seen)
    assert v.findings == []
    assert (v.sent, v.acknowledged, v.completed, v.lost, v.duplicated, v.phantoms) == (6, 5, 5, 0, 0, 0)
    assert v.codes == {"OK": 5, "FAILED_PRECONDITION": 1}
    assert v.acknowledged_by_op == {"create": 3, "stop": 1, "delete": 1}


def test_deleting_a_server_being_deleted_needs_no_second_set_of_events() -> None:
    calls, seen = clean()
    calls.append(ok("delete", "c", 2.2, version=5))
    assert judge(calls, seen).findings == []


def broken(change: str) -> tuple[list[Call], Observed]:
    calls, seen = clean()
    seen = copy.deepcopy(seen)
    if change == "create lost":
        del seen.servers["a"]
        del seen.domains["h1"]["ua"]
        seen.hosts[0].vcpus_used, seen.hosts[0].memory_mib_used, seen.hosts[0].disk_gib_used = 1, 512, 1
        seen.hosts[0].servers = 1
    elif change == "delete lost":
        seen.servers["c"] = server("c", "uc", version=4, task_state=common_pb2.TASK_STATE_DELETING)
    elif change == "stop stuck":
        seen.servers["b"] = server(
            "b", "ub", ACTIVE, version=4, task_state=common_pb2.TASK_STATE_POWERING_OFF
        )
        seen.domains["h1"]["ub"] = "RUNNING"
    elif change == "stop failed":
        seen.servers["b"] = server("b", "ub", ACTIVE, version=5, fault="stop failed on h1: no domain")
        seen.domains["h1"]["ub"] = "RUNNING"
    elif change == "create answered two uids":
        calls[0].uids.append("ua2")
    elif change == "domain on two hosts":
        seen.domains["h2"] = {"ua": "RUNNING"}
    elif change == "server nobody created":
        seen.servers["zz"] = server("zz", "uz", host="")
    elif change == "domain without server":
        seen.domains["h1"]["uc"] = "RUNNING"
    elif change == "server without domain":
        del seen.domains["h1"]["ub"]
    elif change == "power state contradicts":
        seen.domains["h1"]["ub"] = "RUNNING"
    elif change == "capacity":
        seen.hosts[0].vcpus_used = 3
    elif change == "event lost":
        seen.events = [e for e in seen.events if e["eventType"] != "instance.power_off.end"]
    elif change == "host down":
        seen.hosts[0].state = DOWN
    elif change == "process dead":
        seen.processes["host-1"] = False
    elif change == "watch missed a change":
        seen.watched["b"] = 5
    elif change == "unknown answer":
        calls.append(
            Call("create", "d", codes=["UNAVAILABLE", "UNKNOWN"], messages=["db away", "Unexpected X"])
        )
    return calls, seen


@pytest.mark.parametrize(
    ("change", "figure", "says"),
    [
        ("create lost", "lost", "lost: create of a acknowledged, but the server is gone"),
        (
            "delete lost",
            "lost",
            "lost: delete of c acknowledged, but it is still there (VM_STATE_ACTIVE/TASK_STATE_DELETING)",
        ),
        (
            "stop stuck",
            "lost",
            "lost: stop of b acknowledged, but it is still VM_STATE_ACTIVE/TASK_STATE_POWERING_OFF",
        ),
        (
            "stop failed",
            "failed",
            "stop of b failed: VM_STATE_ACTIVE/TASK_STATE_UNSPECIFIED, fault 'stop failed",
        ),
        ("create answered two uids", "duplicated", "duplicated: create of a answered uids ['ua', 'ua2']"),
        ("domain on two hosts", "duplicated", "duplicated: domain ua is defined on ['h1', 'h2']"),
        ("server nobody created", "duplicated", "duplicated: zz exists (uz) but nobody created it"),
        ("domain without server", "phantoms", "phantom: domain uc on ['h1'] belongs to no server"),
        (
            "server without domain",
            "phantoms",
            "phantom: b is VM_STATE_STOPPED/TASK_STATE_UNSPECIFIED on h1, which has no",
        ),
        (
            "power state contradicts",
            "phantoms",
            "phantom: b is VM_STATE_STOPPED/TASK_STATE_UNSPECIFIED but its domain",
        ),
        (
            "capacity",
            "capacity_mismatches",
            "capacity: hosts/h1 uses (vcpus, MiB, GiB, servers) (3, 1024, 2, 2)",
        ),
        ("event lost", "events_missing", "events: b has 0 instance.power_off.end|instance.power_off.error"),
        ("host down", "hosts_down", "hosts/h1 is HOST_STATE_DOWN"),
        ("process dead", "processes_down", "process host-1 is not running"),
        (
            "watch missed a change",
            "watch_stale",
            "watch: WatchServers shows b at version 5, the server is at version 6",
        ),
        ("unknown answer", "", "1 calls answered UNKNOWN, e.g. 'Unexpected X'"),
    ],
)
def test_what_a_user_would_notice_is_found(change: str, figure: str, says: str) -> None:
    v = judge(*broken(change))
    assert any(f.startswith(says) for f in v.findings), v.findings
    if figure:
        assert v.figures()[figure] == 1, v.figures()
    assert not v.ok


def test_a_server_deleted_before_it_was_placed_needs_only_its_delete_end() -> None:
    calls, seen = clean()
    seen.events = [e for e in seen.events if e["eventType"] != "instance.delete.start"]
    assert judge(calls, seen).findings == []


def test_a_delete_answered_before_the_create_it_follows_is_no_loss() -> None:
    """The burst may delete a server it saw through WatchServers while the answer to its
    create is still on the way: the delete's answer arrives first."""
    calls, seen = clean()
    create_c = next(c for c in calls if c.op == "create" and c.server == "c")
    create_c.acked_at = 9.0  # after the delete's 2.1
    v = judge(calls, seen)
    assert v.findings == [] and v.lost == 0
