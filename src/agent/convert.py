"""Agent dataclasses → the protobuf messages of its stream to the controller (and of its
admin service): power states, command ops, reports, domain status and events, metrics. The
agent's counterpart of controller.api.convert (same job, same name)."""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from agent.hypervisor.base import DomainChange, DomainInfo, PowerState
from agent.metrics.model import HostMetrics
from agent.model import CommandResult, Failure, Op
from overcast.agent.v1 import agent_pb2
from overcast.v1 import common_pb2

_POWER_STATES: dict[PowerState, common_pb2.PowerState] = {
    PowerState.MISSING: common_pb2.POWER_STATE_UNSPECIFIED,
    PowerState.RUNNING: common_pb2.POWER_STATE_RUNNING,
    PowerState.PAUSED: common_pb2.POWER_STATE_PAUSED,
    PowerState.SHUTDOWN: common_pb2.POWER_STATE_SHUTDOWN,
    PowerState.CRASHED: common_pb2.POWER_STATE_CRASHED,
    PowerState.SUSPENDED: common_pb2.POWER_STATE_SUSPENDED,
    PowerState.NOSTATE: common_pb2.POWER_STATE_NOSTATE,
}
_OPS: dict[Op, agent_pb2.CommandOp] = {
    Op.COMMAND_OP_UNSPECIFIED: agent_pb2.COMMAND_OP_UNSPECIFIED,
    Op.SPAWN: agent_pb2.COMMAND_OP_SPAWN,
    Op.START: agent_pb2.COMMAND_OP_START,
    Op.STOP: agent_pb2.COMMAND_OP_STOP,
    Op.REBOOT: agent_pb2.COMMAND_OP_REBOOT,
    Op.DELETE: agent_pb2.COMMAND_OP_DELETE,
    Op.UPDATE_METADATA: agent_pb2.COMMAND_OP_UPDATE_METADATA,
}
_FAILURES: dict[Failure, agent_pb2.CommandFailure] = {
    Failure.OTHER: agent_pb2.COMMAND_FAILURE_UNSPECIFIED,
    Failure.DOMAIN_MISSING: agent_pb2.COMMAND_FAILURE_DOMAIN_MISSING,
    Failure.EXPIRED: agent_pb2.COMMAND_FAILURE_EXPIRED,
}


def power_state_to_proto(state: PowerState) -> common_pb2.PowerState:
    return _POWER_STATES[state]


def op_to_proto(op: Op) -> agent_pb2.CommandOp:
    return _OPS[op]


def report_to_proto(result: CommandResult) -> agent_pb2.CommandReport:
    return agent_pb2.CommandReport(
        command_id=result.command_id,
        op=op_to_proto(result.op),
        instance_uid=result.instance_uid,
        ok=result.ok,
        error=result.error,
        power_state=power_state_to_proto(result.power_state),
        failure=_FAILURES[result.failure] if not result.ok else agent_pb2.COMMAND_FAILURE_UNSPECIFIED,
    )


def domain_status_to_proto(domain: DomainInfo) -> agent_pb2.DomainStatus:
    return agent_pb2.DomainStatus(
        instance_uid=domain.uuid,
        power_state=power_state_to_proto(domain.power_state),
        generation=domain.generation,
    )


def domain_event_to_proto(change: DomainChange) -> agent_pb2.DomainEvent:
    return agent_pb2.DomainEvent(
        domain=agent_pb2.DomainStatus(
            instance_uid=change.instance_uid,
            power_state=power_state_to_proto(change.power_state),
        ),
        gone=change.gone,
    )


def metrics_to_proto(sample: HostMetrics) -> agent_pb2.HostMetricsSample:
    whole = int(sample.sampled_at)
    nanos = min(999_999_999, max(0, round((sample.sampled_at - whole) * 1e9)))
    m = agent_pb2.HostMetricsSample(
        sampled_at=timestamp_pb2.Timestamp(seconds=whole, nanos=nanos),
        cpu_util=sample.cpu_util,
        memory_used_mib=sample.memory_used_mib,
        memory_free_mib=sample.memory_free_mib,
        load1=sample.load1,
        load5=sample.load5,
        load15=sample.load15,
        simulated=sample.simulated,
    )
    add = m.instances.add  # in place: no list of messages to copy in (a host may run hundreds)
    for i in sample.instances:
        add(
            instance_uid=i.instance_uid,
            cpu_util=i.cpu_util,
            memory_rss_mib=i.memory_rss_mib,
            disk_read_bytes=i.disk_read_bytes,
            disk_write_bytes=i.disk_write_bytes,
            net_rx_bytes=i.net_rx_bytes,
            net_tx_bytes=i.net_tx_bytes,
            simulated=i.simulated,
        )
    return m
