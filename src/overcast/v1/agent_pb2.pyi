import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from overcast.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CommandOp(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMMAND_OP_UNSPECIFIED: _ClassVar[CommandOp]
    SPAWN: _ClassVar[CommandOp]
    START: _ClassVar[CommandOp]
    STOP: _ClassVar[CommandOp]
    REBOOT: _ClassVar[CommandOp]
    DELETE: _ClassVar[CommandOp]
COMMAND_OP_UNSPECIFIED: CommandOp
SPAWN: CommandOp
START: CommandOp
STOP: CommandOp
REBOOT: CommandOp
DELETE: CommandOp

class HostInventory(_message.Message):
    __slots__ = ("host_id", "hostname", "arch", "hypervisor_type", "hypervisor_uri", "availability_zone", "vcpus", "memory_mib", "disk_gib")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_URI_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    VCPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    DISK_GIB_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    hostname: str
    arch: str
    hypervisor_type: str
    hypervisor_uri: str
    availability_zone: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    def __init__(self, host_id: _Optional[str] = ..., hostname: _Optional[str] = ..., arch: _Optional[str] = ..., hypervisor_type: _Optional[str] = ..., hypervisor_uri: _Optional[str] = ..., availability_zone: _Optional[str] = ..., vcpus: _Optional[int] = ..., memory_mib: _Optional[int] = ..., disk_gib: _Optional[int] = ...) -> None: ...

class DomainStatus(_message.Message):
    __slots__ = ("instance_uid", "power_state")
    INSTANCE_UID_FIELD_NUMBER: _ClassVar[int]
    POWER_STATE_FIELD_NUMBER: _ClassVar[int]
    instance_uid: str
    power_state: _common_pb2.PowerState
    def __init__(self, instance_uid: _Optional[str] = ..., power_state: _Optional[_Union[_common_pb2.PowerState, str]] = ...) -> None: ...

class Register(_message.Message):
    __slots__ = ("inventory", "domains", "agent_version")
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    inventory: HostInventory
    domains: _containers.RepeatedCompositeFieldContainer[DomainStatus]
    agent_version: str
    def __init__(self, inventory: _Optional[_Union[HostInventory, _Mapping]] = ..., domains: _Optional[_Iterable[_Union[DomainStatus, _Mapping]]] = ..., agent_version: _Optional[str] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("sent_at",)
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    sent_at: _timestamp_pb2.Timestamp
    def __init__(self, sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CommandReport(_message.Message):
    __slots__ = ("command_id", "op", "instance_uid", "ok", "error", "power_state")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_UID_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    POWER_STATE_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    op: CommandOp
    instance_uid: str
    ok: bool
    error: str
    power_state: _common_pb2.PowerState
    def __init__(self, command_id: _Optional[str] = ..., op: _Optional[_Union[CommandOp, str]] = ..., instance_uid: _Optional[str] = ..., ok: _Optional[bool] = ..., error: _Optional[str] = ..., power_state: _Optional[_Union[_common_pb2.PowerState, str]] = ...) -> None: ...

class DomainEvent(_message.Message):
    __slots__ = ("domain", "gone")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    GONE_FIELD_NUMBER: _ClassVar[int]
    domain: DomainStatus
    gone: bool
    def __init__(self, domain: _Optional[_Union[DomainStatus, _Mapping]] = ..., gone: _Optional[bool] = ...) -> None: ...

class AgentMessage(_message.Message):
    __slots__ = ("seq", "register", "heartbeat", "report", "domain_event")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_EVENT_FIELD_NUMBER: _ClassVar[int]
    seq: int
    register: Register
    heartbeat: Heartbeat
    report: CommandReport
    domain_event: DomainEvent
    def __init__(self, seq: _Optional[int] = ..., register: _Optional[_Union[Register, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., report: _Optional[_Union[CommandReport, _Mapping]] = ..., domain_event: _Optional[_Union[DomainEvent, _Mapping]] = ...) -> None: ...

class Registered(_message.Message):
    __slots__ = ("controller_id", "heartbeat_interval_ms")
    CONTROLLER_ID_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    controller_id: str
    heartbeat_interval_ms: int
    def __init__(self, controller_id: _Optional[str] = ..., heartbeat_interval_ms: _Optional[int] = ...) -> None: ...

class ReportAccepted(_message.Message):
    __slots__ = ("seq",)
    SEQ_FIELD_NUMBER: _ClassVar[int]
    seq: int
    def __init__(self, seq: _Optional[int] = ...) -> None: ...

class ControllerMessage(_message.Message):
    __slots__ = ("registered", "accepted")
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    registered: Registered
    accepted: ReportAccepted
    def __init__(self, registered: _Optional[_Union[Registered, _Mapping]] = ..., accepted: _Optional[_Union[ReportAccepted, _Mapping]] = ...) -> None: ...

class AgentCommand(_message.Message):
    __slots__ = ("command_id", "op", "instance_uid", "instance_name", "vcpus", "memory_mib", "disk_gib", "image", "metadata", "issued_at")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_UID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_NAME_FIELD_NUMBER: _ClassVar[int]
    VCPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    DISK_GIB_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    op: CommandOp
    instance_uid: str
    instance_name: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    image: str
    metadata: _containers.ScalarMap[str, str]
    issued_at: _timestamp_pb2.Timestamp
    def __init__(self, command_id: _Optional[str] = ..., op: _Optional[_Union[CommandOp, str]] = ..., instance_uid: _Optional[str] = ..., instance_name: _Optional[str] = ..., vcpus: _Optional[int] = ..., memory_mib: _Optional[int] = ..., disk_gib: _Optional[int] = ..., image: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListDomainsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LibvirtDomain(_message.Message):
    __slots__ = ("uuid", "name", "power_state", "persistent", "vcpus", "memory_mib")
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    POWER_STATE_FIELD_NUMBER: _ClassVar[int]
    PERSISTENT_FIELD_NUMBER: _ClassVar[int]
    VCPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    name: str
    power_state: _common_pb2.PowerState
    persistent: bool
    vcpus: int
    memory_mib: int
    def __init__(self, uuid: _Optional[str] = ..., name: _Optional[str] = ..., power_state: _Optional[_Union[_common_pb2.PowerState, str]] = ..., persistent: _Optional[bool] = ..., vcpus: _Optional[int] = ..., memory_mib: _Optional[int] = ...) -> None: ...

class ListDomainsResponse(_message.Message):
    __slots__ = ("domains", "hypervisor_uri")
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_URI_FIELD_NUMBER: _ClassVar[int]
    domains: _containers.RepeatedCompositeFieldContainer[LibvirtDomain]
    hypervisor_uri: str
    def __init__(self, domains: _Optional[_Iterable[_Union[LibvirtDomain, _Mapping]]] = ..., hypervisor_uri: _Optional[str] = ...) -> None: ...
