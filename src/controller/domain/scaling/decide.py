"""One evaluation of a scaling group: `decide(group, state, observation)`, pure, its clock the
observation's `now`. It returns the Decision (explained) and the GroupState to keep.

In order:
1. scheduled actions that fired since the last evaluation (schedule.py), in the order they
   fired: they may set min_size, max_size and the desired size;
2. a SetDesiredSize since the last evaluation (observation.manual_desired);
3. the policies, from the desired size so set (HPA's "current replicas"): target tracking
   (hpa.py) and step and simple policies (steps.py); the largest recommendation wins, as in
   AWS (a scale-in needs every policy to agree); with no recommendation the size stays;
4. the size clamped to [min_size, max_size];
5. members: unhealthy ones replaced, and members added or removed (members.py) so that the
   live members not being deleted number the desired size.

A desired size set by a scheduled action or by hand counts as a recommendation in the
target-tracking scale-down window, as HPA's recordInitialRecommendation does for the size it
starts from: the policies do not undo it before the window has passed.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.domain.scaling import hpa, members, schedule, steps
from controller.domain.scaling.evaluation import Decision, GroupState, MetricReading, Observation
from controller.domain.scaling.model import Policy, ScalingGroup, SimpleScaling, StepScaling, TargetTracking


def _clamp(size: int, low: int, high: int, clamped: list[str]) -> int:
    if size < low:
        clamped.append(f"min_size {low} (wanted {size})")
        return low
    if size > high:
        clamped.append(f"max_size {high} (wanted {size})")
        return high
    return size


def _tracking(policies: Sequence[Policy]) -> list[TargetTracking]:
    return [p.kind for p in policies if isinstance(p.kind, TargetTracking)]


def decide(group: ScalingGroup, state: GroupState, obs: Observation) -> tuple[Decision, GroupState]:
    now = obs.now
    live = members.live(obs.members)
    current = len(live)
    low, high, desired = group.min_size, group.max_size, group.desired_size
    source = ""  # what set the desired size: "scheduled/{action}", "manual" or a policy's rule
    pinned = False  # set by a scheduled action or by hand in this evaluation
    clamped: list[str] = []

    # 1. Scheduled actions.
    last_fired = dict(state.last_fired)
    created = group.created_at.timestamp() if group.created_at else now
    since = state.evaluated_at if state.evaluated_at is not None else created
    for fired in schedule.due(group.scheduled_actions, state.last_fired, since, now):
        action = fired.action
        last_fired[action.name] = fired.at
        source = f"scheduled/{action.name}"
        low = low if action.min_size is None else action.min_size
        high = high if action.max_size is None else action.max_size
        if action.desired_size is not None:
            desired, pinned = action.desired_size, True
        if low > high and action.min_size is not None:
            clamped.append(f"max_size {low} (raised to {source}'s min_size)")
            high = low
        elif low > high:
            clamped.append(f"min_size {high} (lowered to {source}'s max_size)")
            low = high

    # 2. SetDesiredSize.
    if obs.manual_desired is not None:
        desired, source, pinned = obs.manual_desired, "manual", True
    base = _clamp(desired, low, high, clamped)

    # 3. Policies.
    history = [*state.recommendations, (now, base)] if pinned else state.recommendations
    tracked = hpa.target_tracking(group.policies, obs, base, history, state.scale_ups)
    clamped += tracked.clamped
    readings: dict[str, MetricReading] = {r.policy: r for r in tracked.readings}
    candidates: list[tuple[int, str]] = []
    for policy in group.policies:
        if isinstance(policy.kind, TargetTracking):
            if policy.name == tracked.policy and tracked.desired is not None:
                candidates.append((tracked.desired, f"target_tracking/{policy.name}"))
            continue
        outcome = steps.evaluate(policy, obs, base, state.cooldown_until)
        readings[policy.name] = outcome.reading
        if outcome.desired is not None:
            candidates.append((outcome.desired, outcome.rule))
        if outcome.held:
            clamped.append(outcome.held)
    wanted, rule = max(candidates, key=lambda c: c[0], default=(base, ""))
    if wanted != base:
        source = rule

    # 4. Bounds.
    final = _clamp(wanted, low, high, clamped) if wanted != base else base

    new_state = GroupState(
        recommendations=tracked.recommendations,
        scale_ups=_scale_ups(group, state, now, base, final, source),
        cooldown_until=_cooldowns(group, state, now, base, final, source),
        last_fired={a.name: last_fired[a.name] for a in group.scheduled_actions if a.name in last_fired},
        evaluated_at=now,
    )

    # 5. Members.
    replace = members.replacements(live, now, group.health_grace_s)
    remove: tuple[str, ...] = ()
    if final < current:
        unhealthy = {r.server_id for r in replace}
        remove = members.victims(live, current - final, group.scale_in_rule, group.protected, unhealthy)
        if len(remove) < current - final:
            clamped.append(f"protected members: removing {len(remove)} (wanted {current - final})")
    replace = tuple(r for r in replace if r.server_id not in remove)

    if not source and final != group.desired_size:
        source = "min_size" if final == low else "max_size"
    decision = Decision(
        current=current,
        previous_desired=group.desired_size,
        desired=final,
        rule=source or "none",
        metrics=tuple(readings[p.name] for p in group.policies if p.name in readings),
        clamped=tuple(clamped),
        add=max(0, final - current),
        remove=remove,
        replace=replace,
        min_size=low if low != group.min_size else None,
        max_size=high if high != group.max_size else None,
    )
    return decision, new_state


def _scale_ups(
    group: ScalingGroup, state: GroupState, now: float, base: int, final: int, source: str
) -> list[tuple[float, int]]:
    """The members the policies added within the longest scale-up period (the rate limit's
    memory, HPA's scaleUpEvents), with this evaluation's."""
    period = max((tt.scale_up_period_s for tt in _tracking(group.policies)), default=0.0)
    kept = hpa.in_window(state.scale_ups, now, period)
    if final > base and _is_policy(source) and period > 0:
        kept.append((now, final - base))
    return kept


def _cooldowns(
    group: ScalingGroup, state: GroupState, now: float, base: int, final: int, source: str
) -> dict[str, float]:
    """Cooldowns still running, with the one a step or simple policy starts by changing the size."""
    kept = {name: until for name, until in state.cooldown_until.items() if until > now}
    for policy in group.policies:
        if (
            isinstance(policy.kind, StepScaling | SimpleScaling)
            and source == steps.rule_of(policy)
            and final != base
        ):
            kept[policy.name] = now + policy.kind.cooldown_s
    names = {p.name for p in group.policies}
    return {name: until for name, until in kept.items() if name in names}


def _is_policy(source: str) -> bool:
    return source.startswith(("target_tracking/", "step/", "simple/"))
