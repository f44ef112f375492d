import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from overcast.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HostFailurePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HOST_FAILURE_POLICY_UNSPECIFIED: _ClassVar[HostFailurePolicy]
    HOST_FAILURE_POLICY_NONE: _ClassVar[HostFailurePolicy]
    HOST_FAILURE_POLICY_EVACUATE: _ClassVar[HostFailurePolicy]
HOST_FAILURE_POLICY_UNSPECIFIED: HostFailurePolicy
HOST_FAILURE_POLICY_NONE: HostFailurePolicy
HOST_FAILURE_POLICY_EVACUATE: HostFailurePolicy

class Server(_message.Message):
    __slots__ = ("name", "uid", "flavor", "image", "vm_state", "task_state", "power_state", "host", "fault", "metadata", "create_time", "update_time", "etag", "vcpus", "memory_mib", "disk_gib", "availability_zone", "server_group", "kernel_image", "ramdisk_image", "kernel_args", "load", "scaling_group", "host_failure_policy", "generation")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    FLAVOR_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    VM_STATE_FIELD_NUMBER: _ClassVar[int]
    TASK_STATE_FIELD_NUMBER: _ClassVar[int]
    POWER_STATE_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    FAULT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    VCPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    DISK_GIB_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    SERVER_GROUP_FIELD_NUMBER: _ClassVar[int]
    KERNEL_IMAGE_FIELD_NUMBER: _ClassVar[int]
    RAMDISK_IMAGE_FIELD_NUMBER: _ClassVar[int]
    KERNEL_ARGS_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    SCALING_GROUP_FIELD_NUMBER: _ClassVar[int]
    HOST_FAILURE_POLICY_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    uid: str
    flavor: str
    image: str
    vm_state: _common_pb2.VmState
    task_state: _common_pb2.TaskState
    power_state: _common_pb2.PowerState
    host: str
    fault: str
    metadata: _containers.ScalarMap[str, str]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    availability_zone: str
    server_group: str
    kernel_image: str
    ramdisk_image: str
    kernel_args: str
    load: InstanceLoad
    scaling_group: str
    host_failure_policy: HostFailurePolicy
    generation: int
    def __init__(self, name: _Optional[str] = ..., uid: _Optional[str] = ..., flavor: _Optional[str] = ..., image: _Optional[str] = ..., vm_state: _Optional[_Union[_common_pb2.VmState, str]] = ..., task_state: _Optional[_Union[_common_pb2.TaskState, str]] = ..., power_state: _Optional[_Union[_common_pb2.PowerState, str]] = ..., host: _Optional[str] = ..., fault: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ..., vcpus: _Optional[int] = ..., memory_mib: _Optional[int] = ..., disk_gib: _Optional[int] = ..., availability_zone: _Optional[str] = ..., server_group: _Optional[str] = ..., kernel_image: _Optional[str] = ..., ramdisk_image: _Optional[str] = ..., kernel_args: _Optional[str] = ..., load: _Optional[_Union[InstanceLoad, _Mapping]] = ..., scaling_group: _Optional[str] = ..., host_failure_policy: _Optional[_Union[HostFailurePolicy, str]] = ..., generation: _Optional[int] = ...) -> None: ...

class InstanceLoad(_message.Message):
    __slots__ = ("cpu_util", "cpu_util_ewma", "memory_rss_mib", "disk_read_bytes", "disk_write_bytes", "net_rx_bytes", "net_tx_bytes", "sampled_at", "simulated", "stale")
    CPU_UTIL_FIELD_NUMBER: _ClassVar[int]
    CPU_UTIL_EWMA_FIELD_NUMBER: _ClassVar[int]
    MEMORY_RSS_MIB_FIELD_NUMBER: _ClassVar[int]
    DISK_READ_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_WRITE_BYTES_FIELD_NUMBER: _ClassVar[int]
    NET_RX_BYTES_FIELD_NUMBER: _ClassVar[int]
    NET_TX_BYTES_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_AT_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    cpu_util: float
    cpu_util_ewma: float
    memory_rss_mib: int
    disk_read_bytes: int
    disk_write_bytes: int
    net_rx_bytes: int
    net_tx_bytes: int
    sampled_at: _timestamp_pb2.Timestamp
    simulated: bool
    stale: bool
    def __init__(self, cpu_util: _Optional[float] = ..., cpu_util_ewma: _Optional[float] = ..., memory_rss_mib: _Optional[int] = ..., disk_read_bytes: _Optional[int] = ..., disk_write_bytes: _Optional[int] = ..., net_rx_bytes: _Optional[int] = ..., net_tx_bytes: _Optional[int] = ..., sampled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., simulated: _Optional[bool] = ..., stale: _Optional[bool] = ...) -> None: ...

class CreateServerRequest(_message.Message):
    __slots__ = ("parent", "server", "server_id", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    SERVER_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    server: Server
    server_id: str
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., server: _Optional[_Union[Server, _Mapping]] = ..., server_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetServerRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListServersRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "vm_state", "host", "scaling_group", "filter", "order_by")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    VM_STATE_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    SCALING_GROUP_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    vm_state: _common_pb2.VmState
    host: str
    scaling_group: str
    filter: str
    order_by: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., vm_state: _Optional[_Union[_common_pb2.VmState, str]] = ..., host: _Optional[str] = ..., scaling_group: _Optional[str] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListServersResponse(_message.Message):
    __slots__ = ("servers", "next_page_token", "resume_token")
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    servers: _containers.RepeatedCompositeFieldContainer[Server]
    next_page_token: str
    resume_token: str
    def __init__(self, servers: _Optional[_Iterable[_Union[Server, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., resume_token: _Optional[str] = ...) -> None: ...

class DeleteServerRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class StartServerRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class StopServerRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class RebootServerRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class UpdateServerRequest(_message.Message):
    __slots__ = ("server", "update_mask")
    SERVER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    server: Server
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class GetConsoleLogRequest(_message.Message):
    __slots__ = ("name", "tail_lines")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TAIL_LINES_FIELD_NUMBER: _ClassVar[int]
    name: str
    tail_lines: int
    def __init__(self, name: _Optional[str] = ..., tail_lines: _Optional[int] = ...) -> None: ...

class ConsoleLog(_message.Message):
    __slots__ = ("text", "truncated")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    text: str
    truncated: bool
    def __init__(self, text: _Optional[str] = ..., truncated: _Optional[bool] = ...) -> None: ...

class WatchServersRequest(_message.Message):
    __slots__ = ("parent", "filter", "resume_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    filter: str
    resume_token: str
    def __init__(self, parent: _Optional[str] = ..., filter: _Optional[str] = ..., resume_token: _Optional[str] = ...) -> None: ...

class ServerChange(_message.Message):
    __slots__ = ("kind", "server", "resume_token")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[ServerChange.Kind]
        KIND_INITIAL: _ClassVar[ServerChange.Kind]
        KIND_SYNCED: _ClassVar[ServerChange.Kind]
        KIND_CHANGED: _ClassVar[ServerChange.Kind]
        KIND_REMOVED: _ClassVar[ServerChange.Kind]
    KIND_UNSPECIFIED: ServerChange.Kind
    KIND_INITIAL: ServerChange.Kind
    KIND_SYNCED: ServerChange.Kind
    KIND_CHANGED: ServerChange.Kind
    KIND_REMOVED: ServerChange.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    SERVER_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    kind: ServerChange.Kind
    server: Server
    resume_token: str
    def __init__(self, kind: _Optional[_Union[ServerChange.Kind, str]] = ..., server: _Optional[_Union[Server, _Mapping]] = ..., resume_token: _Optional[str] = ...) -> None: ...
