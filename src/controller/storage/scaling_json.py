"""A scaling group's configuration as the JSON of its jsonb columns (template, policies,
scheduled_actions), and back. Enums are stored by their domain values (NEWEST_FIRST,
ANTI_AFFINITY), as every other table stores them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from controller.domain.scaling.model import (
    DEFAULT_WARMUP_S,
    AdjustmentType,
    Comparison,
    Policy,
    ScheduledAction,
    ServerTemplate,
    SimpleScaling,
    Step,
    StepScaling,
    TargetTracking,
)
from controller.domain.server_groups import GroupPolicy


def template_json(t: ServerTemplate) -> dict[str, Any]:
    return {
        "flavor_id": t.flavor_id,
        "image_id": t.image_id,
        "metadata": dict(t.metadata),
        "availability_zone": t.availability_zone,
        "placement_policy": t.placement_policy.value if t.placement_policy else None,
    }


def template(d: Mapping[str, Any]) -> ServerTemplate:
    policy = d.get("placement_policy")
    return ServerTemplate(
        flavor_id=d["flavor_id"],
        image_id=d["image_id"],
        metadata=dict(d.get("metadata", {})),
        availability_zone=d.get("availability_zone", ""),
        placement_policy=GroupPolicy(policy) if policy else None,
    )


def policies_json(policies: Sequence[Policy]) -> list[dict[str, Any]]:
    return [_policy_json(p) for p in policies]


def _policy_json(p: Policy) -> dict[str, Any]:
    k = p.kind
    if isinstance(k, TargetTracking):
        return {
            "name": p.name,
            "target_tracking": {
                "metric": k.metric,
                "target": k.target,
                "tolerance": k.tolerance,
                "scale_down_stabilization_s": k.scale_down_stabilization_s,
                "scale_up_percent": k.scale_up_percent,
                "scale_up_members": k.scale_up_members,
                "scale_up_period_s": k.scale_up_period_s,
                "disable_scale_in": k.disable_scale_in,
                "warmup_s": k.warmup_s,
            },
        }
    if isinstance(k, StepScaling):
        return {
            "name": p.name,
            "step": {
                "metric": k.metric,
                "comparison": k.comparison.value,
                "threshold": k.threshold,
                "adjustment_type": k.adjustment_type.value,
                "steps": [{"lower": s.lower, "upper": s.upper, "adjustment": s.adjustment} for s in k.steps],
                "cooldown_s": k.cooldown_s,
            },
        }
    return {
        "name": p.name,
        "simple": {
            "metric": k.metric,
            "comparison": k.comparison.value,
            "threshold": k.threshold,
            "adjustment_type": k.adjustment_type.value,
            "adjustment": k.adjustment,
            "cooldown_s": k.cooldown_s,
        },
    }


def policies(items: Sequence[Mapping[str, Any]]) -> tuple[Policy, ...]:
    return tuple(_policy(d) for d in items)


def _policy(d: Mapping[str, Any]) -> Policy:
    if "target_tracking" in d:
        t = d["target_tracking"]
        return Policy(
            d["name"],
            TargetTracking(
                metric=t["metric"],
                target=float(t["target"]),
                tolerance=float(t["tolerance"]),
                scale_down_stabilization_s=float(t["scale_down_stabilization_s"]),
                scale_up_percent=int(t["scale_up_percent"]),
                scale_up_members=int(t["scale_up_members"]),
                scale_up_period_s=float(t["scale_up_period_s"]),
                disable_scale_in=bool(t["disable_scale_in"]),
                warmup_s=float(t.get("warmup_s", DEFAULT_WARMUP_S)),
            ),
        )
    if "step" in d:
        s = d["step"]
        return Policy(
            d["name"],
            StepScaling(
                metric=s["metric"],
                comparison=Comparison(s["comparison"]),
                threshold=float(s["threshold"]),
                steps=tuple(
                    Step(
                        lower=_optional_float(x["lower"]),
                        upper=_optional_float(x["upper"]),
                        adjustment=int(x["adjustment"]),
                    )
                    for x in s["steps"]
                ),
                adjustment_type=AdjustmentType(s["adjustment_type"]),
                cooldown_s=float(s["cooldown_s"]),
            ),
        )
    p = d["simple"]
    return Policy(
        d["name"],
        SimpleScaling(
            metric=p["metric"],
            comparison=Comparison(p["comparison"]),
            threshold=float(p["threshold"]),
            adjustment=int(p["adjustment"]),
            adjustment_type=AdjustmentType(p["adjustment_type"]),
            cooldown_s=float(p["cooldown_s"]),
        ),
    )


def _optional_float(v: Any) -> float | None:
    return float(v) if v is not None else None


def _optional_int(v: Any) -> int | None:
    return int(v) if v is not None else None


def scheduled_actions_json(actions: Sequence[ScheduledAction]) -> list[dict[str, Any]]:
    return [
        {
            "name": a.name,
            "schedule": a.schedule,
            "time_zone": a.time_zone,
            "min_size": a.min_size,
            "max_size": a.max_size,
            "desired_size": a.desired_size,
        }
        for a in actions
    ]


def scheduled_actions(items: Sequence[Mapping[str, Any]]) -> tuple[ScheduledAction, ...]:
    return tuple(
        ScheduledAction(
            name=d["name"],
            schedule=d["schedule"],
            time_zone=d.get("time_zone", "UTC"),
            min_size=_optional_int(d.get("min_size")),
            max_size=_optional_int(d.get("max_size")),
            desired_size=_optional_int(d.get("desired_size")),
        )
        for d in items
    )
