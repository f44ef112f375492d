"""The autoscaler: the controller's singleton that keeps every scaling group at the size its
policies ask for.

It runs under advisory-lock leadership (like the host monitor): one replica evaluates, another
takes over when it dies and resumes from PostgreSQL. Each round reads every group, its members
and their metrics, asks the pure `decide` what to do, saves the decision (sizes, the
autoscaler's state: stabilisation windows, rate-limit history, cooldown clocks, scheduled
actions already applied, placement backoff; status; the `scaling.decision` history entry and
event) in one transaction, then carries it out through the normal create and delete paths (one
transaction for every member the round deletes, one per group for the members it adds), so
placement, events and capacity work as for any server. Member activities are recorded once
their members exist.

Saving before acting is what makes a failover safe: a decision saved and not carried out is
carried out by the next round (members are counted from the database, so it adds only what is
missing); none is carried out unsaved. A group changed meanwhile (UpdateScalingGroup,
SetDesiredSize) keeps the user's sizes and is left for the next round.

Rounds run every `period_s`, and at once when a group's CPU crosses its target: the autoscaler
listens to the load view, so a change is acted on within a metrics interval.

A member's CPU is the lower of its latest sample and the load view's EWMA (`member_cpu`).
The EWMA alone lags: after a scale-out the old members' share drops at once, and their EWMA
would still show the old load for several intervals, so the next round would add members for
load that has already moved (tests/integration/test_autoscaling.py: 2 -> 4 -> 6 -> 8 for a
demand needing 6). The latest sample alone is noisy: 1,000 one-member groups at 50 % +- 2 % of
a 50 % target grew by 58 members in a minute, every sample outside the band a scale-out
(bench/autoscale.py). The lower of the two goes down as fast as the sample and up as slowly as
the EWMA; a scale-in, slowed by its stabilisation window anyway, follows the sample's dips
only as far as the window lets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol
from uuid import UUID

import structlog

from controller.domain.errors import DomainError
from controller.domain.lifecycle import is_lost
from controller.domain.model import Instance
from controller.domain.scaling import backoff
from controller.domain.scaling.decide import decide
from controller.domain.scaling.evaluation import Decision, GroupState, Member, Observation
from controller.domain.scaling.members import new_member_ids
from controller.domain.scaling.model import CPU_UTILIZATION, ScalingGroup, TargetTracking
from controller.domain.scaling.records import (
    MEMBER_ADDED,
    MEMBER_REMOVED,
    MEMBER_REPLACED,
    Activity,
    GroupMetric,
    GroupOutcome,
    GroupRecord,
    GroupStatus,
    MemberRow,
    decision_activity,
    member_activity,
)
from controller.services.load_view import HostUpdate, LoadView
from controller.services.ports import AutoscalerStore

log = structlog.get_logger(__name__)

GroupKey = tuple[str, str]  # (project, group id)
EARLY_ROUND_MIN_GAP_S = 0.25  # rounds woken by metric crossings are at least this far apart
PRUNE_EVERY_ROUNDS = 60
PRUNE_AFTER_MAX_AGES = 10


class MemberServers(Protocol):
    """The create and delete paths (ServerService)."""

    async def create_members(self, group: ScalingGroup, server_ids: Sequence[str]) -> list[Instance]: ...
    async def delete_members(self, uids: Sequence[UUID]) -> None: ...


class MemberLoads(Protocol):
    """Servers' loads (MetricsService.instance_loads): each with `sample.cpu_util` and `stale`."""

    async def instance_loads(self, instances: Sequence[Any]) -> Mapping[UUID, Any]: ...


@dataclass(frozen=True)
class Round:
    """One group in one round: what was decided and what to carry out."""

    record: GroupRecord
    decision: Decision
    unplaceable: tuple[MemberRow, ...]  # members the scheduler failed: deleted, not replaced

    @property
    def key(self) -> GroupKey:
        return (self.record.group.project, self.record.group.id)


class Autoscaler:
    def __init__(
        self,
        store: AutoscalerStore,
        servers: MemberServers,
        loads: MemberLoads,
        load_view: LoadView | None = None,
        *,
        period_s: float = 5.0,
        metric_max_age_s: float = 60.0,
        activity_retention_s: float = 42 * 86400.0,
        clock: Callable[[], float] = time.time,
        randbelow: Callable[[int], int] = secrets.randbelow,
    ) -> None:
        self._store = store
        self._servers = servers
        self._loads = loads
        self._load_view = load_view
        self.period_s = period_s
        self.metric_max_age_s = metric_max_age_s
        self.activity_retention_s = activity_retention_s
        self._clock = clock
        self._randbelow = randbelow
        self._wake = asyncio.Event()
        # For the load-view listener between rounds: each member's group, each CPU-tracking
        # group's target, tolerance and desired size, and its members' latest CPU (percent).
        self._group_of: dict[str, GroupKey] = {}
        self._cpu_targets: dict[GroupKey, tuple[float, float, int]] = {}
        self._cpu: dict[GroupKey, dict[str, float]] = {}
        self.rounds = 0
        self.decision_seconds = 0.0  # CPU time in decide(), all rounds together

    # -- running ------------------------------------------------------------------------------

    def wake(self) -> None:
        """Evaluate now: a group was created or sized by hand (NOTIFY overcast_scaling)."""
        self._wake.set()

    async def run(self) -> None:
        """Rounds until cancelled (run it under leadership)."""
        if self._load_view is not None:
            self._load_view.add_listener(self._on_load)
        try:
            while True:
                started = self._clock()
                self._wake.clear()
                await self.evaluate()
                if self._wake.is_set():  # a crossing during the round
                    await asyncio.sleep(EARLY_ROUND_MIN_GAP_S)
                    continue
                remaining = self.period_s - (self._clock() - started)
                if remaining > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), remaining)
        finally:
            if self._load_view is not None:
                self._load_view.remove_listener(self._on_load)

    def _on_load(self, update: HostUpdate) -> None:
        """A host's sample arrived: wake a round when a CPU-tracking group now recommends
        another size than it has (HPA's rule without its windows: the round decides)."""
        touched: set[GroupKey] = set()
        for inst in update.instances:
            key = self._group_of.get(inst.sample.uid)
            if key is not None:
                self._cpu[key][inst.sample.uid] = member_cpu(inst)
                touched.add(key)
        for key in touched:
            target, tolerance, desired = self._cpu_targets[key]
            values = self._cpu[key].values()
            ratio = (sum(values) / len(values)) / target
            if abs(ratio - 1.0) > tolerance and math.ceil(len(values) * ratio) != desired:
                self._wake.set()
                return

    # -- one round ------------------------------------------------------------------------------

    async def evaluate(self) -> list[Round]:
        """One round over every group: decide, save, act. Returns what it decided."""
        now = self._clock()
        records = await self._store.load_all()
        self.rounds += 1
        keys = [(r.group.project, r.group.id) for r in records]
        members = await self._store.members_of(keys) if records else {}
        pushed = await self._store.fresh_metrics(self.metric_max_age_s) if records else []
        down = await self._store.hosts_down_since() if records else {}
        everyone = [m for ms in members.values() for m in ms]
        loads = await self._loads.instance_loads(everyone) if everyone else {}
        custom = _pushed_by_group(pushed)

        cpu_started = time.process_time()
        rounds: list[Round] = []
        outcomes: list[GroupOutcome] = []
        for record, key in zip(records, keys, strict=True):
            r, outcome = self._decide(record, members.get(key, []), custom.get(key, {}), down, loads, now)
            rounds.append(r)
            if outcome is not None:
                outcomes.append(outcome)
        decision_s = time.process_time() - cpu_started
        self.decision_seconds += decision_s
        self._remember(records, members, loads)

        unsaved = set(await self._store.save_decisions(outcomes)) if outcomes else set()
        if self.rounds % PRUNE_EVERY_ROUNDS == 0:  # values pushed for members long gone
            await self._store.prune_metrics(PRUNE_AFTER_MAX_AGES * self.metric_max_age_s)
            await self._store.prune_activities(self.activity_retention_s)
        # A group changed meanwhile keeps its new sizes: the next round decides on them.
        todo = [r for r in rounds if r.record.group.name not in unsaved]
        await self._act(todo, members)
        log.info(
            "autoscaler.round",
            groups=len(records),
            members=len(everyone),
            saved=len(outcomes),
            decision_ms=round(decision_s * 1000, 3),
            round_ms=round((self._clock() - now) * 1000, 1),
        )
        return todo

    def _decide(
        self,
        record: GroupRecord,
        rows: Sequence[MemberRow],
        pushed: Mapping[tuple[str, str], float],
        down: Mapping[str, float],
        loads: Mapping[UUID, Any],
        now: float,
    ) -> tuple[Round, GroupOutcome | None]:
        group = record.group
        per_member: dict[str, dict[str, float]] = {}
        group_values: dict[str, float] = {}
        for (metric, member), value in pushed.items():
            if member:
                per_member.setdefault(member, {})[metric] = value
            else:
                group_values[metric] = value
        warmup = max(
            (p.kind.warmup_s for p in group.policies if isinstance(p.kind, TargetTracking)), default=0.0
        )
        observed = [_member(m, down, loads, per_member.get(m.server_id, {}), now - warmup) for m in rows]
        unplaceable = tuple(row for row, m in zip(rows, observed, strict=True) if backoff.placement_failed(m))
        failed_ids = {m.server_id for m in unplaceable}
        obs = Observation(
            now=now,
            members=tuple(m for m in observed if m.server_id not in failed_ids),
            group_metrics=group_values,
            manual_desired=record.manual_desired,
        )
        decision, state = decide(group, record.state, obs)
        placed = any(m.host_id is not None for m in obs.members)
        state = backoff.after_round(
            replace(
                state,
                placement_failures=record.state.placement_failures,
                placement_retry_at=record.state.placement_retry_at,
                desired=decision.desired,
            ),
            now,
            [m for m in observed if m.server_id in failed_ids],
            placed,
        )
        if backoff.blocks(state, now) and (decision.add or decision.replace):
            wait = math.ceil(state.placement_retry_at - now)
            decision = replace(
                decision,
                add=0,
                replace=(),
                clamped=(*decision.clamped, f"placement failing: next try in {wait} s"),
            )
        fault = (
            unplaceable[0].fault if unplaceable else (record.status.fault if state.placement_failures else "")
        )
        status = GroupStatus(metrics=decision.metrics, last_decision=_explain(decision), fault=fault)
        r = Round(record, decision, unplaceable)
        # The size the group had before this decision: a size set by hand (SetDesiredSize writes
        # it at once, for Get to show) is a decision from the size the last round left.
        before = record.state.desired if record.state.desired is not None else group.desired_size
        sizes_changed = (
            decision.desired != before
            or record.manual_desired is not None
            or decision.min_size is not None
            or decision.max_size is not None
        )
        if not (
            sizes_changed
            or record.manual_desired is not None
            or state.to_json() != record.state.to_json()
            or status != record.status
            or decision.add
            or decision.remove
            or decision.replace
        ):
            return r, None
        outcome = GroupOutcome(
            project=group.project,
            group_id=group.id,
            version=group.version,
            desired_size=decision.desired,
            min_size=decision.min_size if decision.min_size is not None else group.min_size,
            max_size=decision.max_size if decision.max_size is not None else group.max_size,
            state=state,
            status=status,
            scaled=bool(decision.add or decision.remove or decision.replace),
            activities=(decision_activity(replace(decision, previous_desired=before)),)
            if sizes_changed
            else (),
        )
        return r, outcome

    def _remember(
        self,
        records: Sequence[GroupRecord],
        members: Mapping[GroupKey, Sequence[MemberRow]],
        loads: Mapping[UUID, Any],
    ) -> None:
        group_of: dict[str, GroupKey] = {}
        targets: dict[GroupKey, tuple[float, float, int]] = {}
        cpu: dict[GroupKey, dict[str, float]] = {}
        for r in records:
            tracking = [
                p.kind
                for p in r.group.policies
                if isinstance(p.kind, TargetTracking) and p.kind.metric == CPU_UTILIZATION
            ]
            if not tracking:
                continue
            key = (r.group.project, r.group.id)
            targets[key] = (tracking[0].target, tracking[0].tolerance, r.group.desired_size)
            cpu[key] = {}
            for m in members.get(key, []):
                uid = str(m.uid)
                group_of[uid] = key
                view = loads.get(m.uid)
                if view is not None and not view.stale:
                    cpu[key][uid] = member_cpu(view)
        self._group_of, self._cpu_targets, self._cpu = group_of, targets, cpu

    async def _act(self, rounds: Sequence[Round], members: Mapping[GroupKey, Sequence[MemberRow]]) -> None:
        """Deletes first (scale-in victims, replaced and unplaceable members, every group in
        one transaction), then creates (each group's new members in one transaction)."""
        doomed: list[UUID] = []
        notes: list[tuple[str, str, Activity]] = []
        for r in rounds:
            project, group_id = r.key
            uid_of = {m.server_id: m.uid for m in members.get(r.key, [])}
            d = r.decision
            for m in r.unplaceable:
                doomed.append(m.uid)
                notes.append(
                    (project, group_id, member_activity(MEMBER_REMOVED, d, m.server_id, reason=m.fault))
                )
            for sid in d.remove:
                doomed.append(uid_of[sid])
                notes.append((project, group_id, member_activity(MEMBER_REMOVED, d, sid, reason="scale-in")))
            doomed.extend(uid_of[rep.server_id] for rep in d.replace)
        if doomed:
            await self._servers.delete_members(doomed)
        for r in rounds:
            d = r.decision
            count = d.add + len(d.replace)
            if not count:
                continue
            project, group_id = r.key
            taken = {m.server_id for m in members.get(r.key, [])}
            ids = new_member_ids(group_id, count, taken, self._randbelow)
            try:
                await self._servers.create_members(r.record.group, ids)
            except DomainError as exc:  # its image or flavor went away, a name was taken...
                log.warning("autoscaler.create_failed", group=r.record.group.name, error=exc.message)
                continue
            for rep, new in zip(d.replace, ids, strict=False):
                notes.append(
                    (
                        project,
                        group_id,
                        member_activity(
                            MEMBER_REPLACED, d, rep.server_id, reason=rep.reason, replacement=new
                        ),
                    )
                )
            for new in ids[len(d.replace) :]:
                notes.append((project, group_id, member_activity(MEMBER_ADDED, d, new)))
        if notes:
            await self._store.record_activities(notes)


def member_cpu(view: Any) -> float:
    """A member's CPU in percent of its vcpus: the lower of its latest sample and its EWMA
    (see the module docstring)."""
    return float(min(view.sample.cpu_util, view.cpu_util_ewma)) * 100.0


def _pushed_by_group(pushed: Sequence[GroupMetric]) -> dict[GroupKey, dict[tuple[str, str], float]]:
    out: dict[GroupKey, dict[tuple[str, str], float]] = {}
    for m in pushed:
        out.setdefault((m.project, m.group_id), {})[(m.metric, m.member)] = m.value
    return out


def _member(
    m: MemberRow,
    down: Mapping[str, float],
    loads: Mapping[UUID, Any],
    custom: Mapping[str, float],
    warm_before: float,
) -> Member:
    view = loads.get(m.uid)
    return Member(
        server_id=m.server_id,
        uid=str(m.uid),
        created_at=m.created_at.timestamp(),
        vm_state=m.vm_state,
        task_state=m.task_state,
        power_state=m.power_state,
        host_id=m.host_id,
        # A member that evacuates is rebuilt elsewhere by the host-failure sweep: replacing it
        # too would leave the group one member over, and the evacuation spent.
        host_down_since=down.get(m.host_id) if m.host_id and not m.evacuates else None,
        lost=is_lost(m.vm_state, m.fault),
        cpu=member_cpu(view) if view is not None and not view.stale else None,
        custom=dict(custom),
        fault=m.fault,
        warming=m.created_at.timestamp() > warm_before,
    )


def _explain(d: Decision) -> str:
    text = f"{d.rule}: desired {d.previous_desired} -> {d.desired} with {d.current} live"
    if d.clamped:
        text += "; " + "; ".join(d.clamped)
    return text


__all__ = ["Autoscaler", "GroupState", "Round"]
