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
    COMMAND_OP_SPAWN: _ClassVar[CommandOp]
    COMMAND_OP_START: _ClassVar[CommandOp]
    COMMAND_OP_STOP: _ClassVar[CommandOp]
    COMMAND_OP_REBOOT: _ClassVar[CommandOp]
    COMMAND_OP_DELETE: _ClassVar[CommandOp]
    COMMAND_OP_UPDATE_METADATA: _ClassVar[CommandOp]

class CommandFailure(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMMAND_FAILURE_UNSPECIFIED: _ClassVar[CommandFailure]
    COMMAND_FAILURE_DOMAIN_MISSING: _ClassVar[CommandFailure]
    COMMAND_FAILURE_EXPIRED: _ClassVar[CommandFailure]
COMMAND_OP_UNSPECIFIED: CommandOp
COMMAND_OP_SPAWN: CommandOp
COMMAND_OP_START: CommandOp
COMMAND_OP_STOP: CommandOp
COMMAND_OP_REBOOT: CommandOp
COMMAND_OP_DELETE: CommandOp
COMMAND_OP_UPDATE_METADATA: CommandOp
COMMAND_FAILURE_UNSPECIFIED: CommandFailure
COMMAND_FAILURE_DOMAIN_MISSING: CommandFailure
COMMAND_FAILURE_EXPIRED: CommandFailure

class HostInventory(_message.Message):
    __slots__ = ("host_id", "hostname", "arch", "hypervisor_type", "hypervisor_uri", "availability_zone", "vcpus", "memory_mib", "disk_gib", "domain_type")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_URI_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    VCPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    DISK_GIB_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_TYPE_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    hostname: str
    arch: str
    hypervisor_type: str
    hypervisor_uri: str
    availability_zone: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    domain_type: str
    def __init__(self, host_id: _Optional[str] = ..., hostname: _Optional[str] = ..., arch: _Optional[str] = ..., hypervisor_type: _Optional[str] = ..., hypervisor_uri: _Optional[str] = ..., availability_zone: _Optional[str] = ..., vcpus: _Optional[int] = ..., memory_mib: _Optional[int] = ..., disk_gib: _Optional[int] = ..., domain_type: _Optional[str] = ...) -> None: ...

class DomainStatus(_message.Message):
    __slots__ = ("instance_uid", "power_state", "generation")
    INSTANCE_UID_FIELD_NUMBER: _ClassVar[int]
    POWER_STATE_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    instance_uid: str
    power_state: _common_pb2.PowerState
    generation: int
    def __init__(self, instance_uid: _Optional[str] = ..., power_state: _Optional[_Union[_common_pb2.PowerState, str]] = ..., generation: _Optional[int] = ...) -> None: ...

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
    __slots__ = ("command_id", "op", "instance_uid", "ok", "error", "power_state", "failure")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_UID_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    POWER_STATE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    op: CommandOp
    instance_uid: str
    ok: bool
    error: str
    power_state: _common_pb2.PowerState
    failure: CommandFailure
    def __init__(self, command_id: _Optional[str] = ..., op: _Optional[_Union[CommandOp, str]] = ..., instance_uid: _Optional[str] = ..., ok: _Optional[bool] = ..., error: _Optional[str] = ..., power_state: _Optional[_Union[_common_pb2.PowerState, str]] = ..., failure: _Optional[_Union[CommandFailure, str]] = ...) -> None: ...

class HostMetricsSample(_message.Message):
    __slots__ = ("sampled_at", "cpu_util", "memory_used_mib", "memory_free_mib", "load1", "load5", "load15", "instances", "simulated")
    SAMPLED_AT_FIELD_NUMBER: _ClassVar[int]
    CPU_UTIL_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_MIB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FREE_MIB_FIELD_NUMBER: _ClassVar[int]
    LOAD1_FIELD_NUMBER: _ClassVar[int]
    LOAD5_FIELD_NUMBER: _ClassVar[int]
    LOAD15_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_FIELD_NUMBER: _ClassVar[int]
    sampled_at: _timestamp_pb2.Timestamp
    cpu_util: float
    memory_used_mib: int
    memory_free_mib: int
    load1: float
    load5: float
    load15: float
    instances: _containers.RepeatedCompositeFieldContainer[InstanceSample]
    simulated: bool
    def __init__(self, sampled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cpu_util: _Optional[float] = ..., memory_used_mib: _Optional[int] = ..., memory_free_mib: _Optional[int] = ..., load1: _Optional[float] = ..., load5: _Optional[float] = ..., load15: _Optional[float] = ..., instances: _Optional[_Iterable[_Union[InstanceSample, _Mapping]]] = ..., simulated: _Optional[bool] = ...) -> None: ...

class InstanceSample(_message.Message):
    __slots__ = ("instance_uid", "cpu_util", "memory_rss_mib", "disk_read_bytes", "disk_write_bytes", "net_rx_bytes", "net_tx_bytes", "simulated")
    INSTANCE_UID_FIELD_NUMBER: _ClassVar[int]
    CPU_UTIL_FIELD_NUMBER: _ClassVar[int]
    MEMORY_RSS_MIB_FIELD_NUMBER: _ClassVar[int]
    DISK_READ_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_WRITE_BYTES_FIELD_NUMBER: _ClassVar[int]
    NET_RX_BYTES_FIELD_NUMBER: _ClassVar[int]
    NET_TX_BYTES_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_FIELD_NUMBER: _ClassVar[int]
    instance_uid: str
    cpu_util: float
    memory_rss_mib: int
    disk_read_bytes: int
    disk_write_bytes: int
    net_rx_bytes: int
    net_tx_bytes: int
    simulated: bool
    def __init__(self, instance_uid: _Optional[str] = ..., cpu_util: _Optional[float] = ..., memory_rss_mib: _Optional[int] = ..., disk_read_bytes: _Optional[int] = ..., disk_write_bytes: _Optional[int] = ..., net_rx_bytes: _Optional[int] = ..., net_tx_bytes: _Optional[int] = ..., simulated: _Optional[bool] = ...) -> None: ...

class ConsoleLogReply(_message.Message):
    __slots__ = ("request_id", "text", "truncated", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    text: str
    truncated: bool
    error: str
    def __init__(self, request_id: _Optional[str] = ..., text: _Optional[str] = ..., truncated: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class DomainEvent(_message.Message):
    __slots__ = ("domain", "gone")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    GONE_FIELD_NUMBER: _ClassVar[int]
    domain: DomainStatus
    gone: bool
    def __init__(self, domain: _Optional[_Union[DomainStatus, _Mapping]] = ..., gone: _Optional[bool] = ...) -> None: ...

class AgentMessage(_message.Message):
    __slots__ = ("seq", "register", "heartbeat", "report", "domain_event", "metrics", "console_log")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_EVENT_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    CONSOLE_LOG_FIELD_NUMBER: _ClassVar[int]
    seq: int
    register: Register
    heartbeat: Heartbeat
    report: CommandReport
    domain_event: DomainEvent
    metrics: HostMetricsSample
    console_log: ConsoleLogReply
    def __init__(self, seq: _Optional[int] = ..., register: _Optional[_Union[Register, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., report: _Optional[_Union[CommandReport, _Mapping]] = ..., domain_event: _Optional[_Union[DomainEvent, _Mapping]] = ..., metrics: _Optional[_Union[HostMetricsSample, _Mapping]] = ..., console_log: _Optional[_Union[ConsoleLogReply, _Mapping]] = ...) -> None: ...

class Registered(_message.Message):
    __slots__ = ("controller_id", "heartbeat_interval_ms", "command_expiry_ms")
    CONTROLLER_ID_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_EXPIRY_MS_FIELD_NUMBER: _ClassVar[int]
    controller_id: str
    heartbeat_interval_ms: int
    command_expiry_ms: int
    def __init__(self, controller_id: _Optional[str] = ..., heartbeat_interval_ms: _Optional[int] = ..., command_expiry_ms: _Optional[int] = ...) -> None: ...

class ReportAccepted(_message.Message):
    __slots__ = ("seq",)
    SEQ_FIELD_NUMBER: _ClassVar[int]
    seq: int
    def __init__(self, seq: _Optional[int] = ...) -> None: ...

class ConsoleLogQuery(_message.Message):
    __slots__ = ("request_id", "instance_uid", "tail_lines")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_UID_FIELD_NUMBER: _ClassVar[int]
    TAIL_LINES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    instance_uid: str
    tail_lines: int
    def __init__(self, request_id: _Optional[str] = ..., instance_uid: _Optional[str] = ..., tail_lines: _Optional[int] = ...) -> None: ...

class ControllerMessage(_message.Message):
    __slots__ = ("registered", "accepted", "console_log")
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    CONSOLE_LOG_FIELD_NUMBER: _ClassVar[int]
    registered: Registered
    accepted: ReportAccepted
    console_log: ConsoleLogQuery
    def __init__(self, registered: _Optional[_Union[Registered, _Mapping]] = ..., accepted: _Optional[_Union[ReportAccepted, _Mapping]] = ..., console_log: _Optional[_Union[ConsoleLogQuery, _Mapping]] = ...) -> None: ...

class AgentCommand(_message.Message):
    __slots__ = ("command_id", "op", "instance_uid", "instance_name", "vcpus", "memory_mib", "disk_gib", "image", "metadata", "issued_at", "root_image", "kernel", "ramdisk", "kernel_args", "generation")
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
    ROOT_IMAGE_FIELD_NUMBER: _ClassVar[int]
    KERNEL_FIELD_NUMBER: _ClassVar[int]
    RAMDISK_FIELD_NUMBER: _ClassVar[int]
    KERNEL_ARGS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
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
    root_image: ImageRef
    kernel: ImageRef
    ramdisk: ImageRef
    kernel_args: str
    generation: int
    def __init__(self, command_id: _Optional[str] = ..., op: _Optional[_Union[CommandOp, str]] = ..., instance_uid: _Optional[str] = ..., instance_name: _Optional[str] = ..., vcpus: _Optional[int] = ..., memory_mib: _Optional[int] = ..., disk_gib: _Optional[int] = ..., image: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., root_image: _Optional[_Union[ImageRef, _Mapping]] = ..., kernel: _Optional[_Union[ImageRef, _Mapping]] = ..., ramdisk: _Optional[_Union[ImageRef, _Mapping]] = ..., kernel_args: _Optional[str] = ..., generation: _Optional[int] = ...) -> None: ...

class ImageRef(_message.Message):
    __slots__ = ("name", "disk_format", "size_bytes", "checksum_sha256")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISK_FORMAT_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_SHA256_FIELD_NUMBER: _ClassVar[int]
    name: str
    disk_format: str
    size_bytes: int
    checksum_sha256: str
    def __init__(self, name: _Optional[str] = ..., disk_format: _Optional[str] = ..., size_bytes: _Optional[int] = ..., checksum_sha256: _Optional[str] = ...) -> None: ...

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
