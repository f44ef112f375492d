"""What a user checks after a fault, judged from what the run saw (`Observed`) and every call
it made (`workload.Call`): pure, so the judgement itself is unit-tested.

- every acknowledged call was carried out: a create's server exists, idle, ACTIVE or STOPPED
  (or was deleted by a later acknowledged delete); a delete's server is gone; a power action
  ended (a later action on the server was accepted, which the API allows only once it ended,
  or the server is idle in the state the action leads to, at a newer version). Not carried out
  is `lost`; ended in ERROR or with a fault is `failed`;
- nothing exists twice: no domain on two hosts, a create retried with its request id answers
  one uid, no server nobody created (`duplicated`);
- the database and the hypervisors agree: no domain without a server, no idle placed server
  without its domain, no power state that contradicts the server's (`phantoms`);
- each host's usage is the sum of the servers placed on it (`capacity_mismatches`);
- every state change of an acknowledged call has its event on the bound queue (duplicates
  allowed, losses not: `events_missing`);
- a watcher (WatchServers, re-opened whenever it breaks) ends up seeing every server's last
  change (`watch_stale`);
- every host is UP, every process runs, and no call was answered UNKNOWN or INTERNAL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from overcast.v1 import common_pb2, host_pb2, server_pb2

from .workload import END_STATE, POWER_OPS, Call

IDLE = common_pb2.TASK_STATE_UNSPECIFIED
ACTIVE, STOPPED, ERROR = common_pb2.VM_STATE_ACTIVE, common_pb2.VM_STATE_STOPPED, common_pb2.VM_STATE_ERROR
BAD_CODES = ("UNKNOWN", "INTERNAL")
_EVENT = {"stop": "instance.power_off", "start": "instance.power_on", "reboot": "instance.reboot"}


@dataclass
class Observed:
    """The system once it settled, as a user can read it."""

    project: str
    servers: dict[str, server_pb2.Server]  # ListServers, by server id
    hosts: list[host_pb2.Host]  # ListHosts
    domains: dict[str, dict[str, str]]  # host id → domain uuid → power state (RUNNING, SHUTOFF…)
    events: list[dict[str, Any]]  # everything the bound queue received
    processes: dict[str, bool]  # process name → still running
    # What WatchServers showed in the end (server id → version), once it had time to catch up.
    watched: dict[str, int] = field(default_factory=dict)


@dataclass
class Verdict:
    sent: int = 0
    acknowledged: int = 0
    completed: int = 0
    failed: int = 0
    superseded: int = 0  # followed by a delete that was lost itself (counted there)
    lost: int = 0
    duplicated: int = 0
    phantoms: int = 0
    capacity_mismatches: int = 0
    events_missing: int = 0
    hosts_down: int = 0
    processes_down: int = 0
    watch_stale: int = 0  # servers whose last change WatchServers never delivered
    codes: dict[str, int] = field(default_factory=dict)
    acknowledged_by_op: dict[str, int] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)  # one line each, for a person

    @property
    def bad_codes(self) -> int:
        return sum(self.codes.get(c, 0) for c in BAD_CODES)

    @property
    def ok(self) -> bool:
        return not self.findings

    def figures(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "completed": self.completed,
            "failed": self.failed,
            "superseded": self.superseded,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "phantoms": self.phantoms,
            "capacity_mismatches": self.capacity_mismatches,
            "events_missing": self.events_missing,
            "hosts_down": self.hosts_down,
            "processes_down": self.processes_down,
            "watch_stale": self.watch_stale,
            "codes": dict(sorted(self.codes.items())),
            "acknowledged_by_op": dict(sorted(self.acknowledged_by_op.items())),
        }


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _idle_in(server: server_pb2.Server | None, states: Iterable[int]) -> bool:
    return server is not None and server.task_state == IDLE and server.vm_state in states and not server.fault


def _version(server: server_pb2.Server) -> int:
    return int(server.etag) if server.etag.isdigit() else -1


def judge(calls: list[Call], seen: Observed) -> Verdict:
    v = Verdict(sent=len(calls))
    v.codes = dict(Counter(code for c in calls for code in c.codes))
    v.acknowledged_by_op = dict(Counter(c.op for c in calls if c.acknowledged))
    expected: Counter[tuple[str, str]] = Counter()  # (server id, event type or "a|b") → at least
    by_server: dict[str, list[Call]] = {}
    for c in calls:
        by_server.setdefault(c.server, []).append(c)

    for sid, ops in sorted(by_server.items()):
        final = seen.servers.get(sid)
        # In the order the server saw them (its version in each answer): answers of calls in
        # flight together may come back in another order (a delete of a server whose create
        # answer was still on its way).
        acked = sorted((c for c in ops if c.acknowledged), key=lambda c: (c.version, c.acked_at or 0.0))
        for i, c in enumerate(acked):
            v.acknowledged += 1
            later = acked[i + 1 :]
            # A delete ends the server's life whichever answer came first.
            deleted_later = c.op != "delete" and any(x.op == "delete" for x in acked)
            outcome = _carried_out(c, final, deleted_later, later)
            if outcome == "completed":
                v.completed += 1
                if not (c.op == "delete" and any(x.op == "delete" for x in acked[:i])):
                    # Deleting a server being deleted changes nothing (and says so with OK).
                    expected.update(_events_of(c, final, deleted_later))
            elif outcome == "superseded":
                v.superseded += 1
            elif outcome.startswith("failed"):
                v.failed += 1
                v.findings.append(f"{c.op} of {sid} {outcome}")
            else:
                v.lost += 1
                v.findings.append(f"lost: {c.op} of {sid} acknowledged, {outcome}")
            if c.op == "create" and len(set(c.uids)) > 1:
                v.duplicated += 1
                v.findings.append(f"duplicated: create of {sid} answered uids {sorted(set(c.uids))}")

    for sid in sorted(set(seen.servers) - set(by_server)):
        v.duplicated += 1
        v.findings.append(f"duplicated: {sid} exists ({seen.servers[sid].uid}) but nobody created it")

    _compare_hypervisors(v, seen)
    _compare_capacity(v, seen)
    _compare_events(v, seen, expected)
    for sid, s in sorted(seen.servers.items()):
        shown = seen.watched.get(sid)
        if shown is None or shown < _version(s):
            v.watch_stale += 1
            shows = "nothing" if shown is None else f"version {shown}"
            v.findings.append(
                f"watch: WatchServers shows {sid} at {shows}, the server is at version {_version(s)}"
            )
    for h in seen.hosts:
        if h.state != common_pb2.HOST_STATE_UP:
            v.hosts_down += 1
            v.findings.append(f"{h.name} is {common_pb2.HostState.Name(h.state)}")
    for name, running in sorted(seen.processes.items()):
        if not running:
            v.processes_down += 1
            v.findings.append(f"process {name} is not running")
    for code in BAD_CODES:
        if v.codes.get(code):
            example = next(m for c in calls for k, m in zip(c.codes, c.messages, strict=True) if k == code)
            v.findings.append(f"{v.codes[code]} calls answered {code}, e.g. {example!r}")
    return v


def _carried_out(c: Call, final: server_pb2.Server | None, deleted_later: bool, later: list[Call]) -> str:
    """ "completed", "failed: why" or what is wrong (lost)."""
    if c.op == "delete":
        return "completed" if final is None else f"but it is still there ({_state(final)})"
    if deleted_later:
        # Judged by the delete that came after: its loss is the one to report.
        return "completed" if final is None else "superseded"
    if final is None:
        return "but the server is gone though nobody deleted it"
    if c.op == "create" and c.uids and final.uid != c.uids[0]:
        return f"as uid {c.uids[0]}, but the server now has uid {final.uid}"
    if any(x.op in POWER_OPS for x in later):
        return "completed"  # a later action was accepted, which the API allows once this one ended
    if c.op == "create" and _idle_in(final, (ACTIVE, STOPPED)):
        return "completed"
    if c.op != "create" and _idle_in(final, (END_STATE[c.op],)) and _version(final) > c.version:
        return "completed"
    if final.task_state == IDLE and (final.vm_state == ERROR or final.fault):
        return f"failed: {_state(final)}"
    if final.task_state == IDLE and _version(final) > c.version:
        return f"failed: it ended {_state(final)}"
    return f"but it is still {_state(final)}"


def _state(s: server_pb2.Server) -> str:
    text = f"{common_pb2.VmState.Name(s.vm_state)}/{common_pb2.TaskState.Name(s.task_state)}"
    return f"{text}, fault {s.fault!r}" if s.fault else text


def _events_of(c: Call, final: server_pb2.Server | None, deleted_later: bool) -> list[tuple[str, str]]:
    sid = c.server
    if c.op == "create":
        built = [(sid, "instance.scheduled"), (sid, "instance.create.end")] if final is not None else []
        return [(sid, "instance.create.start"), *built]
    if c.op == "delete":
        # A server never placed is deleted at once, with instance.delete.end alone.
        return [(sid, "instance.delete.end")]
    prefix = _EVENT[c.op]
    if deleted_later:
        return [(sid, f"{prefix}.start")]
    return [(sid, f"{prefix}.start"), (sid, f"{prefix}.end|{prefix}.error")]


def _compare_hypervisors(v: Verdict, seen: Observed) -> None:
    where: dict[str, list[str]] = {}
    for host, domains in sorted(seen.domains.items()):
        for uid in domains:
            where.setdefault(uid, []).append(host)
    servers = {s.uid: s for s in seen.servers.values()}
    for uid, hosts in sorted(where.items()):
        if len(hosts) > 1:
            v.duplicated += 1
            v.findings.append(f"duplicated: domain {uid} is defined on {hosts}")
        if uid not in servers:
            v.phantoms += 1
            v.findings.append(f"phantom: domain {uid} on {hosts} belongs to no server")
    for sid, s in sorted(seen.servers.items()):
        host = _short(s.host)
        if not host or s.task_state != IDLE or s.vm_state not in (ACTIVE, STOPPED):
            continue
        power = seen.domains.get(host, {}).get(s.uid)
        if power is None:
            v.phantoms += 1
            v.findings.append(f"phantom: {sid} is {_state(s)} on {host}, which has no domain for it")
        elif (s.vm_state == ACTIVE) != (power == "RUNNING"):
            v.phantoms += 1
            v.findings.append(f"phantom: {sid} is {_state(s)} but its domain on {host} is {power}")


def _compare_capacity(v: Verdict, seen: Observed) -> None:
    placed: dict[str, list[server_pb2.Server]] = {}
    for s in seen.servers.values():
        if s.host:
            placed.setdefault(_short(s.host), []).append(s)
    for h in seen.hosts:
        on = placed.get(_short(h.name), [])
        want = (
            sum(s.vcpus for s in on),
            sum(s.memory_mib for s in on),
            sum(s.disk_gib for s in on),
            len(on),
        )
        used = (h.vcpus_used, h.memory_mib_used, h.disk_gib_used, h.servers)
        if used != want:
            v.capacity_mismatches += 1
            v.findings.append(
                f"capacity: {h.name} uses (vcpus, MiB, GiB, servers) {used}, its servers add up to {want}"
            )


def _compare_events(v: Verdict, seen: Observed, expected: Counter[tuple[str, str]]) -> None:
    got: Counter[tuple[str, str]] = Counter()
    for e in seen.events:
        resource, kind = str(e.get("resource", "")), str(e.get("eventType", ""))
        if resource.startswith(f"projects/{seen.project}/servers/"):
            got[(_short(resource), kind)] += 1
    for (sid, kinds), want in sorted(expected.items()):
        have = sum(got[(sid, k)] for k in kinds.split("|"))
        if have < want:
            v.events_missing += want - have
            v.findings.append(f"events: {sid} has {have} {kinds} on the queue, {want} state changes need one")
