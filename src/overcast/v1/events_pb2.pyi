import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from overcast.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Event(_message.Message):
    __slots__ = ("event_id", "event_type", "version", "occurred_at", "publisher", "project", "resource", "instance", "host")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    PUBLISHER_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    event_type: str
    version: str
    occurred_at: _timestamp_pb2.Timestamp
    publisher: str
    project: str
    resource: str
    instance: InstancePayload
    host: HostPayload
    def __init__(self, event_id: _Optional[str] = ..., event_type: _Optional[str] = ..., version: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., publisher: _Optional[str] = ..., project: _Optional[str] = ..., resource: _Optional[str] = ..., instance: _Optional[_Union[InstancePayload, _Mapping]] = ..., host: _Optional[_Union[HostPayload, _Mapping]] = ...) -> None: ...

class InstancePayload(_message.Message):
    __slots__ = ("uid", "name", "flavor", "image", "host", "vm_state", "task_state", "power_state", "fault", "version")
    UID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FLAVOR_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    VM_STATE_FIELD_NUMBER: _ClassVar[int]
    TASK_STATE_FIELD_NUMBER: _ClassVar[int]
    POWER_STATE_FIELD_NUMBER: _ClassVar[int]
    FAULT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    uid: str
    name: str
    flavor: str
    image: str
    host: str
    vm_state: _common_pb2.VmState
    task_state: _common_pb2.TaskState
    power_state: _common_pb2.PowerState
    fault: str
    version: int
    def __init__(self, uid: _Optional[str] = ..., name: _Optional[str] = ..., flavor: _Optional[str] = ..., image: _Optional[str] = ..., host: _Optional[str] = ..., vm_state: _Optional[_Union[_common_pb2.VmState, str]] = ..., task_state: _Optional[_Union[_common_pb2.TaskState, str]] = ..., power_state: _Optional[_Union[_common_pb2.PowerState, str]] = ..., fault: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class HostPayload(_message.Message):
    __slots__ = ("name", "state", "enabled", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: _common_pb2.HostState
    enabled: bool
    reason: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.HostState, str]] = ..., enabled: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...
