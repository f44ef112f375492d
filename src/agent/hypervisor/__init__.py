"""Hypervisor drivers. Nothing in this package knows about protobuf, gRPC or AMQP."""

from agent.hypervisor.base import (
    DomainChange,
    DomainInfo,
    DomainMissing,
    DomainSpec,
    Hypervisor,
    HypervisorError,
    HypervisorInfo,
    PowerState,
)

__all__ = [
    "DomainChange",
    "DomainInfo",
    "DomainMissing",
    "DomainSpec",
    "Hypervisor",
    "HypervisorError",
    "HypervisorInfo",
    "PowerState",
]
