"""The explicit domain ↔ proto enum tables cover both sides and pair values that mean the same."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

import pytest
from google.protobuf.descriptor import EnumDescriptor

from controller.api import enums
from controller.domain import messages
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

TABLES: list[tuple[type[Enum], Mapping[object, int], EnumDescriptor, str]] = [
    (VmState, enums.VM_STATES, common_pb2.VmState.DESCRIPTOR, "VM_STATE_"),
    (TaskState, enums.TASK_STATES, common_pb2.TaskState.DESCRIPTOR, "TASK_STATE_"),
    (PowerState, enums.POWER_STATES, common_pb2.PowerState.DESCRIPTOR, "POWER_STATE_"),
    (HostState, enums.HOST_STATES, common_pb2.HostState.DESCRIPTOR, "HOST_STATE_"),
    (ImageStatus, enums.IMAGE_STATUSES, image_pb2.ImageStatus.DESCRIPTOR, "IMAGE_STATUS_"),
    (
        GroupPolicy,
        enums.GROUP_POLICIES,
        server_group_pb2.ServerGroupPolicy.DESCRIPTOR,
        "SERVER_GROUP_POLICY_",
    ),
    (CommandOp, enums.COMMAND_OPS, agent_pb2.CommandOp.DESCRIPTOR, "COMMAND_OP_"),
    (ScaleInRule, enums.SCALE_IN_RULES, scaling_group_pb2.ScaleInRule.DESCRIPTOR, "SCALE_IN_RULE_"),
    (AdjustmentType, enums.ADJUSTMENT_TYPES, scaling_group_pb2.AdjustmentType.DESCRIPTOR, "ADJUSTMENT_TYPE_"),
    (Comparison, enums.COMPARISONS, scaling_group_pb2.Comparison.DESCRIPTOR, "COMPARISON_"),
    (CommandFailure, enums.COMMAND_FAILURES, agent_pb2.CommandFailure.DESCRIPTOR, "COMMAND_FAILURE_"),
    (
        HostFailurePolicy,
        enums.HOST_FAILURE_POLICIES,
        server_pb2.HostFailurePolicy.DESCRIPTOR,
        "HOST_FAILURE_POLICY_",
    ),
]


@pytest.mark.parametrize(
    ("domain", "table", "proto", "prefix"), TABLES, ids=lambda x: getattr(x, "__name__", "")
)
def test_every_value_is_paired_with_its_namesake(
    domain: type[Enum], table: Mapping[object, int], proto: EnumDescriptor, prefix: str
) -> None:
    assert set(table) == set(domain), "a domain value has no proto value"
    paired = set(table.values())
    unpaired = [v.name for v in proto.values if v.number not in paired and v.number != 0]
    assert not unpaired, f"proto values no domain value maps to: {unpaired}"
    assert len(paired) == len(table), "two domain values map to one proto value"
    for member, number in table.items():
        name = proto.values_by_number[number].name
        assert name.startswith(prefix)
        if number != 0:  # PowerState.UNKNOWN is the unspecified value
            assert name == prefix + member.name, (member, name)


def test_the_bus_payloads_name_the_same_values_as_the_api() -> None:
    pairs = [
        (messages.VM_STATE_NAMES, enums.VM_STATES, common_pb2.VmState),
        (messages.TASK_STATE_NAMES, enums.TASK_STATES, common_pb2.TaskState),
        (messages.POWER_STATE_NAMES, enums.POWER_STATES, common_pb2.PowerState),
        (messages.HOST_STATE_NAMES, enums.HOST_STATES, common_pb2.HostState),
        (messages.COMMAND_OP_NAMES, enums.COMMAND_OPS, agent_pb2.CommandOp),
    ]
    for names, table, proto in pairs:
        assert {m: proto.Name(n) for m, n in table.items()} == names


def test_a_list_filter_takes_known_states_and_refuses_others() -> None:
    assert enums.vm_state_filter(common_pb2.VM_STATE_UNSPECIFIED) is None
    assert enums.vm_state_filter(common_pb2.VM_STATE_STOPPED) is VmState.STOPPED
    with pytest.raises(Exception, match="no state numbered 42; one of VM_STATE_BUILDING"):
        enums.vm_state_filter(42)


def test_a_request_enum_reaches_the_services_as_its_domain_value_or_a_number_to_refuse() -> None:
    table = enums.SCALE_IN_RULE_OF
    assert enums.domain_value(table, scaling_group_pb2.SCALE_IN_RULE_UNSPECIFIED) == ""
    assert enums.domain_value(table, scaling_group_pb2.SCALE_IN_RULE_OLDEST_FIRST) == "OLDEST_FIRST"
    assert enums.domain_value(table, 42) == "42"
