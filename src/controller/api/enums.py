"""The domain's enums ↔ the API's proto enums, each pair listed explicitly.

The proto values carry their type's prefix (VM_STATE_ACTIVE, AIP-126) while the domain's keep
the short names the database stores (ACTIVE): a table per enum, not a name computed from the
other, so a value added on one side only fails loudly (KeyError here, and
tests/unit/controller/test_api_enums.py checks both sides are covered) instead of mapping to
the wrong state.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TypeVar

from controller.domain.errors import InvalidArgument
from controller.domain.model import (
    CommandFailure,
    CommandOp,
    HostFailurePolicy,
    HostState,
    ImageStatus,
    PowerState,
    TaskState,
    VmState,
)
from controller.domain.scaling.model import AdjustmentType, Comparison, ScaleInRule
from controller.domain.server_groups import GroupPolicy
from overcast.agent.v1 import agent_pb2
from overcast.v1 import common_pb2, image_pb2, scaling_group_pb2, server_group_pb2, server_pb2

E = TypeVar("E")

VM_STATES: Mapping[VmState, common_pb2.VmState] = {
    VmState.BUILDING: common_pb2.VM_STATE_BUILDING,
    VmState.ACTIVE: common_pb2.VM_STATE_ACTIVE,
    VmState.STOPPED: common_pb2.VM_STATE_STOPPED,
    VmState.ERROR: common_pb2.VM_STATE_ERROR,
    VmState.DELETED: common_pb2.VM_STATE_DELETED,
}
# No operation in flight is the zero value (TASK_STATE_UNSPECIFIED): see docs/decisions.
TASK_STATES: Mapping[TaskState, common_pb2.TaskState] = {
    TaskState.SCHEDULING: common_pb2.TASK_STATE_SCHEDULING,
    TaskState.SPAWNING: common_pb2.TASK_STATE_SPAWNING,
    TaskState.POWERING_ON: common_pb2.TASK_STATE_POWERING_ON,
    TaskState.POWERING_OFF: common_pb2.TASK_STATE_POWERING_OFF,
    TaskState.REBOOTING: common_pb2.TASK_STATE_REBOOTING,
    TaskState.MIGRATING: common_pb2.TASK_STATE_MIGRATING,
    TaskState.DELETING: common_pb2.TASK_STATE_DELETING,
}
POWER_STATES: Mapping[PowerState, common_pb2.PowerState] = {
    PowerState.UNKNOWN: common_pb2.POWER_STATE_UNSPECIFIED,
    PowerState.RUNNING: common_pb2.POWER_STATE_RUNNING,
    PowerState.PAUSED: common_pb2.POWER_STATE_PAUSED,
    PowerState.SHUTDOWN: common_pb2.POWER_STATE_SHUTDOWN,
    PowerState.CRASHED: common_pb2.POWER_STATE_CRASHED,
    PowerState.SUSPENDED: common_pb2.POWER_STATE_SUSPENDED,
    PowerState.NOSTATE: common_pb2.POWER_STATE_NOSTATE,
}
HOST_STATES: Mapping[HostState, common_pb2.HostState] = {
    HostState.UP: common_pb2.HOST_STATE_UP,
    HostState.DOWN: common_pb2.HOST_STATE_DOWN,
}
IMAGE_STATUSES: Mapping[ImageStatus, image_pb2.ImageStatus] = {
    ImageStatus.QUEUED: image_pb2.IMAGE_STATUS_QUEUED,
    ImageStatus.SAVING: image_pb2.IMAGE_STATUS_SAVING,
    ImageStatus.ACTIVE: image_pb2.IMAGE_STATUS_ACTIVE,
    ImageStatus.DELETED: image_pb2.IMAGE_STATUS_DELETED,
}
GROUP_POLICIES: Mapping[GroupPolicy, server_group_pb2.ServerGroupPolicy] = {
    GroupPolicy.AFFINITY: server_group_pb2.SERVER_GROUP_POLICY_AFFINITY,
    GroupPolicy.ANTI_AFFINITY: server_group_pb2.SERVER_GROUP_POLICY_ANTI_AFFINITY,
    GroupPolicy.SOFT_AFFINITY: server_group_pb2.SERVER_GROUP_POLICY_SOFT_AFFINITY,
    GroupPolicy.SOFT_ANTI_AFFINITY: server_group_pb2.SERVER_GROUP_POLICY_SOFT_ANTI_AFFINITY,
}
# Unspecified is newest first / change in capacity (the defaults); Comparison has no default.
SCALE_IN_RULES: Mapping[ScaleInRule, scaling_group_pb2.ScaleInRule] = {
    ScaleInRule.NEWEST_FIRST: scaling_group_pb2.SCALE_IN_RULE_NEWEST_FIRST,
    ScaleInRule.OLDEST_FIRST: scaling_group_pb2.SCALE_IN_RULE_OLDEST_FIRST,
    ScaleInRule.LEAST_LOADED: scaling_group_pb2.SCALE_IN_RULE_LEAST_LOADED,
}
ADJUSTMENT_TYPES: Mapping[AdjustmentType, scaling_group_pb2.AdjustmentType] = {
    AdjustmentType.CHANGE_IN_CAPACITY: scaling_group_pb2.ADJUSTMENT_TYPE_CHANGE_IN_CAPACITY,
    AdjustmentType.EXACT_CAPACITY: scaling_group_pb2.ADJUSTMENT_TYPE_EXACT_CAPACITY,
    AdjustmentType.PERCENT_CHANGE: scaling_group_pb2.ADJUSTMENT_TYPE_PERCENT_CHANGE,
}
COMPARISONS: Mapping[Comparison, scaling_group_pb2.Comparison] = {
    Comparison.GREATER_OR_EQUAL: scaling_group_pb2.COMPARISON_GREATER_OR_EQUAL,
    Comparison.LESS_OR_EQUAL: scaling_group_pb2.COMPARISON_LESS_OR_EQUAL,
}
COMMAND_OPS: Mapping[CommandOp, agent_pb2.CommandOp] = {
    CommandOp.SPAWN: agent_pb2.COMMAND_OP_SPAWN,
    CommandOp.START: agent_pb2.COMMAND_OP_START,
    CommandOp.STOP: agent_pb2.COMMAND_OP_STOP,
    CommandOp.REBOOT: agent_pb2.COMMAND_OP_REBOOT,
    CommandOp.DELETE: agent_pb2.COMMAND_OP_DELETE,
    CommandOp.UPDATE_METADATA: agent_pb2.COMMAND_OP_UPDATE_METADATA,
}
# The zero value is "any other failure".
COMMAND_FAILURES: Mapping[CommandFailure, agent_pb2.CommandFailure] = {
    CommandFailure.OTHER: agent_pb2.COMMAND_FAILURE_UNSPECIFIED,
    CommandFailure.DOMAIN_MISSING: agent_pb2.COMMAND_FAILURE_DOMAIN_MISSING,
    CommandFailure.EXPIRED: agent_pb2.COMMAND_FAILURE_EXPIRED,
}


# The zero value is NONE, the default.
HOST_FAILURE_POLICIES: Mapping[HostFailurePolicy, server_pb2.HostFailurePolicy] = {
    HostFailurePolicy.NONE: server_pb2.HOST_FAILURE_POLICY_NONE,
    HostFailurePolicy.EVACUATE: server_pb2.HOST_FAILURE_POLICY_EVACUATE,
}


def _reverse(table: Mapping[E, int]) -> dict[int, E]:
    return {number: member for member, number in table.items()}


POWER_STATE_OF: Mapping[int, PowerState] = _reverse(POWER_STATES)
COMMAND_OP_OF: Mapping[int, CommandOp] = _reverse(COMMAND_OPS)
COMMAND_FAILURE_OF: Mapping[int, CommandFailure] = _reverse(COMMAND_FAILURES)
VM_STATE_OF: Mapping[int, VmState] = _reverse(VM_STATES)
GROUP_POLICY_OF: Mapping[int, GroupPolicy] = _reverse(GROUP_POLICIES)
SCALE_IN_RULE_OF: Mapping[int, ScaleInRule] = _reverse(SCALE_IN_RULES)
ADJUSTMENT_TYPE_OF: Mapping[int, AdjustmentType] = _reverse(ADJUSTMENT_TYPES)
COMPARISON_OF: Mapping[int, Comparison] = _reverse(COMPARISONS)
HOST_FAILURE_POLICY_OF: Mapping[int, HostFailurePolicy] = _reverse(HOST_FAILURE_POLICIES)


def domain_value(table: Mapping[int, enum.StrEnum], number: int) -> str:
    """A request's enum as the services take it: its domain value; "" when unspecified (0);
    a number these stubs lack stays a number, for the service to refuse with the choices."""
    if number == 0:
        return ""
    member = table.get(number)
    return member.value if member is not None else str(number)


def vm_state_filter(value: int) -> VmState | None:
    """A list filter's VmState: unspecified is any state; a number these stubs lack is refused."""
    if value == common_pb2.VM_STATE_UNSPECIFIED:
        return None
    state = VM_STATE_OF.get(value)
    if state is None:
        names = [v.name for v in common_pb2.VmState.DESCRIPTOR.values]
        known = ", ".join(n for n in names if not n.endswith("_UNSPECIFIED"))
        raise InvalidArgument.single("vm_state", f"no state numbered {value}; one of {known}")
    return state
