"""Target tracking: Kubernetes' Horizontal Pod Autoscaler, step for step, on a scaling group.

References (kubernetes/kubernetes, pkg/controller/podautoscaler; read, not copied):
- replica_calculator.go: `calcPlainMetricReplicas` and `GetResourceReplicas` (members' own
  values: tolerance band, missing metrics, not-ready members, the re-check that the rebalanced
  ratio keeps its direction), `groupPods` (which member is which), and
  `GetObjectPerPodMetricReplicas` (a group-wide value per member);
- horizontal.go: `recordInitialRecommendation`, `stabilizeRecommendationWithBehaviors` (the
  highest recommendation within the scale-down window wins; scale-up window 0, HPA's default),
  `calculateScaleUpLimitWithScalingRules` (at most max(percent of the size at the period's
  start, members) added per period; HPA's defaults 100 %, 4 pods, 15 s), and
  `convertDesiredReplicasWithBehaviorRate` (the limit applies to scale-ups only).

HPA's "current replicas" is the scale's spec (the desired size), so here `current` is the
group's desired size before its policies run (after scheduled actions and SetDesiredSize).
Several target-tracking policies combine as HPA's metrics do: the highest recommendation wins,
then it is stabilised once (with the longest window) and rate-limited (with the winner's limit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from controller.domain.scaling import metrics
from controller.domain.scaling.evaluation import MetricReading, Observation
from controller.domain.scaling.model import CPU_UTILIZATION, Policy, TargetTracking

# A product such as 0.7 * 10 may come out as 7.000000000000001; HPA's own figures are integer
# milli-values and percents, so a float just above an integer is that integer.
_EPSILON = 1e-9

# HPA's fallback for a member with no CPU figure on a scale-in: 100 % of its request
# (GetResourceReplicas: max(100, target) percent).
_FULL_CPU = 100.0


def ceil(x: float) -> int:
    return math.ceil(x - _EPSILON)


def within(ratio: float, tolerance: float) -> bool:
    """HPA's Tolerances.isWithin: no change while the ratio is within the band around 1."""
    return 1.0 - tolerance <= ratio <= 1.0 + tolerance


def usage(values: Sequence[float], cpu: bool) -> float:
    """The members' average; for CPU in whole percent, truncated, as HPA's
    GetResourceUtilizationRatio has it (int32(total * 100 / requests))."""
    average = sum(values) / len(values)
    return float(math.floor(average)) if cpu else average


def member_replicas(
    samples: Sequence[metrics.Sample], target: float, tolerance: float, current: int, cpu: bool
) -> int | None:
    """calcPlainMetricReplicas / GetResourceReplicas on the members' own values; None when no
    ready member reports one (HPA: "did not receive metrics for targeted pods")."""
    ready: list[float] = []
    unready = missing = 0
    for s in samples:  # groupPods: pending, then missing, then (CPU only) not ready
        if s.pending:
            unready += 1
        elif s.value is None:
            missing += 1
        elif cpu and not s.ready:
            unready += 1
        else:
            ready.append(s.value)
    if not ready:
        return None
    ratio = usage(ready, cpu) / target
    scale_up_with_unready = unready > 0 and ratio > 1.0
    if not scale_up_with_unready and missing == 0:
        return current if within(ratio, tolerance) else ceil(ratio * len(ready))

    filled = list(ready)
    if missing and ratio < 1.0:  # scale-in: a silent member is taken as busy
        filled += [max(_FULL_CPU, target) if cpu else target] * missing
    elif missing and ratio > 1.0:  # scale-out: a silent member is taken as idle
        filled += [0.0] * missing
    if scale_up_with_unready:  # members still starting count as idle in a scale-out
        filled += [0.0] * unready
    new_ratio = usage(filled, cpu) / target
    flipped = (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio)
    if within(new_ratio, tolerance) or flipped:
        return current
    wanted = ceil(new_ratio * len(filled))
    if (new_ratio < 1.0 and wanted > current) or (new_ratio > 1.0 and wanted < current):
        return current  # the members counted changed the direction
    return wanted


def group_replicas(total: float, members: int, target: float, tolerance: float, current: int) -> int:
    """GetObjectPerPodMetricReplicas: a group-wide value against a per-member target. With no
    member at all, the size is total / target (HPA's ratio is infinite there), so a group metric
    can grow a group from zero. Within the band HPA keeps the status replicas; here the desired
    size, which the group's members follow within one evaluation."""
    if members and within(total / (target * members), tolerance):
        return current
    return max(0, ceil(total / target))


def recommend(policy: Policy, obs: Observation, current: int) -> tuple[int | None, MetricReading]:
    """One target-tracking policy's raw recommendation (before stabilisation and rate limit)."""
    tt = policy.kind
    assert isinstance(tt, TargetTracking)
    reading = metrics.read(policy.name, tt.metric, tt.target, obs)
    total = metrics.group_value(obs, tt.metric)
    samples = metrics.samples(obs.members, tt.metric)
    if total is not None:
        return group_replicas(total, len(samples), tt.target, tt.tolerance, current), reading
    cpu = tt.metric == CPU_UTILIZATION
    return member_replicas(samples, tt.target, tt.tolerance, current, cpu), reading


def in_window(history: Sequence[tuple[float, int]], now: float, window_s: float) -> list[tuple[float, int]]:
    """The entries younger than the window (HPA: timestamp.After(now - window))."""
    return [(t, n) for t, n in history if t > now - window_s]


def stabilise(
    desired: int, current: int, recommendations: Sequence[tuple[float, int]], now: float, window_s: float
) -> int:
    """stabilizeRecommendationWithBehaviors with a scale-up window of 0: a scale-out applies at
    once; a scale-in goes no lower than the highest recommendation within the window."""
    if desired >= current:
        return desired
    highest = max((n for _, n in in_window(recommendations, now, window_s)), default=desired)
    return min(current, max(desired, highest))


def remember(
    recommendations: Sequence[tuple[float, int]], now: float, window_s: float, size: int
) -> list[tuple[float, int]]:
    """The window's recommendations with (now, size) added. An older entry no higher than a
    newer one can never be the highest again (the newer one outlives it), so it is dropped:
    what is kept strictly decreases with age, and stays a handful of entries."""
    kept = [(t, n) for t, n in in_window(recommendations, now, window_s) if n > size]
    return [*kept, (now, size)]


def scale_up_limit(
    current: int, scale_ups: Sequence[tuple[float, int]], now: float, tt: TargetTracking
) -> int:
    """calculateScaleUpLimitWithScalingRules with HPA's two default rules under selectPolicy
    Max: the size at the period's start plus `scale_up_members`, or times (1 + percent / 100),
    whichever is larger, and never below the current size."""
    added = sum(n for _, n in in_window(scale_ups, now, tt.scale_up_period_s))
    start = current - added
    by_members = start + tt.scale_up_members
    by_percent = ceil(start * (1 + tt.scale_up_percent / 100))
    return max(by_members, by_percent, current)


@dataclass(frozen=True)
class Outcome:
    """What the group's target-tracking policies recommend together."""

    desired: int | None  # None: no policy has metrics to go by
    policy: str  # the winning policy
    readings: tuple[MetricReading, ...]
    clamped: tuple[str, ...]  # what held the recommendation back
    recommendations: list[tuple[float, int]]  # the state to keep


def target_tracking(
    policies: Sequence[Policy],
    obs: Observation,
    current: int,
    recommendations: Sequence[tuple[float, int]],
    scale_ups: Sequence[tuple[float, int]],
) -> Outcome:
    tracking = [p for p in policies if isinstance(p.kind, TargetTracking)]
    window = max(
        (p.kind.scale_down_stabilization_s for p in tracking if isinstance(p.kind, TargetTracking)),
        default=0.0,
    )
    history = in_window(recommendations, obs.now, window)
    if tracking and not history:  # recordInitialRecommendation: the current size, once
        history = [(obs.now, current)]

    raw: list[tuple[int, int, Policy]] = []  # (raw, wanted after disable_scale_in, policy)
    readings: list[MetricReading] = []
    for p in tracking:
        size, reading = recommend(p, obs, current)
        readings.append(reading)
        if size is not None:
            assert isinstance(p.kind, TargetTracking)
            raw.append((size, max(size, current) if p.kind.disable_scale_in else size, p))
    if not raw:
        return Outcome(None, "", tuple(readings), (), history)

    highest = max(r for r, _, _ in raw)
    _, wanted, winner = max(raw, key=lambda r: r[1])
    clamped: list[str] = []
    if wanted > highest:
        disabling = next(p.name for r, w, p in raw if w == wanted and w > r)
        clamped.append(f"scale-in disabled by {disabling}: {wanted} (wanted {highest})")
    desired = stabilise(wanted, current, history, obs.now, window)
    if desired > wanted:
        clamped.append(f"scale-down stabilisation {window:g} s: {desired} (wanted {wanted})")
    tt = winner.kind
    assert isinstance(tt, TargetTracking)
    if desired > current:
        limit = scale_up_limit(current, scale_ups, obs.now, tt)
        if desired > limit:
            clamped.append(f"scale-up limit {limit} per {tt.scale_up_period_s:g} s (wanted {desired})")
            desired = limit
    return Outcome(
        desired, winner.name, tuple(readings), tuple(clamped), remember(history, obs.now, window, highest)
    )
