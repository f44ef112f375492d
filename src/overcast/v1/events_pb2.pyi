import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from overcast.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Event(_message.Message):
    __slots__ = ("event_id", "event_type", "version", "occurred_at", "publisher", "project", "resource", "instance", "host", "scaling")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    PUBLISHER_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    SCALING_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    event_type: str
    version: str
    occurred_at: _timestamp_pb2.Timestamp
    publisher: str
    project: str
    resource: str
    instance: InstancePayload
    host: HostPayload
    scaling: ScalingPayload
    def __init__(self, event_id: _Optional[str] = ..., event_type: _Optional[str] = ..., version: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., publisher: _Optional[str] = ..., project: _Optional[str] = ..., resource: _Optional[str] = ..., instance: _Optional[_Union[InstancePayload, _Mapping]] = ..., host: _Optional[_Union[HostPayload, _Mapping]] = ..., scaling: _Optional[_Union[ScalingPayload, _Mapping]] = ...) -> None: ...

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

class ScalingPayload(_message.Message):
    __slots__ = ("name", "current_size", "previous_desired", "desired_size", "rule", "metrics", "clamped", "member", "reason", "replacement")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CURRENT_SIZE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_DESIRED_FIELD_NUMBER: _ClassVar[int]
    DESIRED_SIZE_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    CLAMPED_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REPLACEMENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    current_size: int
    previous_desired: int
    desired_size: int
    rule: str
    metrics: _containers.RepeatedCompositeFieldContainer[ScalingMetric]
    clamped: _containers.RepeatedScalarFieldContainer[str]
    member: str
    reason: str
    replacement: str
    def __init__(self, name: _Optional[str] = ..., current_size: _Optional[int] = ..., previous_desired: _Optional[int] = ..., desired_size: _Optional[int] = ..., rule: _Optional[str] = ..., metrics: _Optional[_Iterable[_Union[ScalingMetric, _Mapping]]] = ..., clamped: _Optional[_Iterable[str]] = ..., member: _Optional[str] = ..., reason: _Optional[str] = ..., replacement: _Optional[str] = ...) -> None: ...

class ScalingMetric(_message.Message):
    __slots__ = ("policy", "metric", "value", "target", "reporting_members")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    REPORTING_MEMBERS_FIELD_NUMBER: _ClassVar[int]
    policy: str
    metric: str
    value: float
    target: float
    reporting_members: int
    def __init__(self, policy: _Optional[str] = ..., metric: _Optional[str] = ..., value: _Optional[float] = ..., target: _Optional[float] = ..., reporting_members: _Optional[int] = ...) -> None: ...
