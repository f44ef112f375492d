import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from overcast.v1 import common_pb2 as _common_pb2
from overcast.v1 import server_pb2 as _server_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Host(_message.Message):
    __slots__ = ("name", "hostname", "arch", "hypervisor_type", "availability_zone", "vcpus", "memory_mib", "disk_gib", "cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio", "vcpus_used", "memory_mib_used", "disk_gib_used", "servers", "enabled", "disabled_reason", "state", "last_heartbeat_time", "create_time", "etag", "hypervisor_uri", "domain_type", "load")
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    VCPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    DISK_GIB_FIELD_NUMBER: _ClassVar[int]
    CPU_ALLOCATION_RATIO_FIELD_NUMBER: _ClassVar[int]
    RAM_ALLOCATION_RATIO_FIELD_NUMBER: _ClassVar[int]
    DISK_ALLOCATION_RATIO_FIELD_NUMBER: _ClassVar[int]
    VCPUS_USED_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_USED_FIELD_NUMBER: _ClassVar[int]
    DISK_GIB_USED_FIELD_NUMBER: _ClassVar[int]
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    DISABLED_REASON_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_URI_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_TYPE_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    name: str
    hostname: str
    arch: str
    hypervisor_type: str
    availability_zone: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    cpu_allocation_ratio: float
    ram_allocation_ratio: float
    disk_allocation_ratio: float
    vcpus_used: int
    memory_mib_used: int
    disk_gib_used: int
    servers: int
    enabled: bool
    disabled_reason: str
    state: _common_pb2.HostState
    last_heartbeat_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    etag: str
    hypervisor_uri: str
    domain_type: str
    load: HostLoad
    def __init__(self, name: _Optional[str] = ..., hostname: _Optional[str] = ..., arch: _Optional[str] = ..., hypervisor_type: _Optional[str] = ..., availability_zone: _Optional[str] = ..., vcpus: _Optional[int] = ..., memory_mib: _Optional[int] = ..., disk_gib: _Optional[int] = ..., cpu_allocation_ratio: _Optional[float] = ..., ram_allocation_ratio: _Optional[float] = ..., disk_allocation_ratio: _Optional[float] = ..., vcpus_used: _Optional[int] = ..., memory_mib_used: _Optional[int] = ..., disk_gib_used: _Optional[int] = ..., servers: _Optional[int] = ..., enabled: _Optional[bool] = ..., disabled_reason: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.HostState, str]] = ..., last_heartbeat_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ..., hypervisor_uri: _Optional[str] = ..., domain_type: _Optional[str] = ..., load: _Optional[_Union[HostLoad, _Mapping]] = ...) -> None: ...

class HostLoad(_message.Message):
    __slots__ = ("cpu_util", "cpu_util_ewma", "memory_used_mib", "memory_free_mib", "load1", "load5", "load15", "sampled_at", "stale", "simulated")
    CPU_UTIL_FIELD_NUMBER: _ClassVar[int]
    CPU_UTIL_EWMA_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_MIB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FREE_MIB_FIELD_NUMBER: _ClassVar[int]
    LOAD1_FIELD_NUMBER: _ClassVar[int]
    LOAD5_FIELD_NUMBER: _ClassVar[int]
    LOAD15_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_AT_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_FIELD_NUMBER: _ClassVar[int]
    cpu_util: float
    cpu_util_ewma: float
    memory_used_mib: int
    memory_free_mib: int
    load1: float
    load5: float
    load15: float
    sampled_at: _timestamp_pb2.Timestamp
    stale: bool
    simulated: bool
    def __init__(self, cpu_util: _Optional[float] = ..., cpu_util_ewma: _Optional[float] = ..., memory_used_mib: _Optional[int] = ..., memory_free_mib: _Optional[int] = ..., load1: _Optional[float] = ..., load5: _Optional[float] = ..., load15: _Optional[float] = ..., sampled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stale: _Optional[bool] = ..., simulated: _Optional[bool] = ...) -> None: ...

class WatchHostMetricsRequest(_message.Message):
    __slots__ = ("hosts", "include_instances")
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INSTANCES_FIELD_NUMBER: _ClassVar[int]
    hosts: _containers.RepeatedScalarFieldContainer[str]
    include_instances: bool
    def __init__(self, hosts: _Optional[_Iterable[str]] = ..., include_instances: _Optional[bool] = ...) -> None: ...

class HostMetricsUpdate(_message.Message):
    __slots__ = ("host", "load", "instances")
    HOST_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    host: str
    load: HostLoad
    instances: _containers.RepeatedCompositeFieldContainer[InstanceMetrics]
    def __init__(self, host: _Optional[str] = ..., load: _Optional[_Union[HostLoad, _Mapping]] = ..., instances: _Optional[_Iterable[_Union[InstanceMetrics, _Mapping]]] = ...) -> None: ...

class InstanceMetrics(_message.Message):
    __slots__ = ("server", "uid", "load")
    SERVER_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    server: str
    uid: str
    load: _server_pb2.InstanceLoad
    def __init__(self, server: _Optional[str] = ..., uid: _Optional[str] = ..., load: _Optional[_Union[_server_pb2.InstanceLoad, _Mapping]] = ...) -> None: ...

class ListHostsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListHostsResponse(_message.Message):
    __slots__ = ("hosts", "next_page_token")
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hosts: _containers.RepeatedCompositeFieldContainer[Host]
    next_page_token: str
    def __init__(self, hosts: _Optional[_Iterable[_Union[Host, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetHostRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class EnableHostRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class DisableHostRequest(_message.Message):
    __slots__ = ("name", "reason", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class EvacuateHostRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class EvacuateHostResponse(_message.Message):
    __slots__ = ("servers", "skipped")
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    servers: _containers.RepeatedScalarFieldContainer[str]
    skipped: _containers.RepeatedCompositeFieldContainer[EvacuationSkipped]
    def __init__(self, servers: _Optional[_Iterable[str]] = ..., skipped: _Optional[_Iterable[_Union[EvacuationSkipped, _Mapping]]] = ...) -> None: ...

class EvacuationSkipped(_message.Message):
    __slots__ = ("server", "reason")
    SERVER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    server: str
    reason: str
    def __init__(self, server: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
