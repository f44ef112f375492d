import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from overcast.v1 import server_group_pb2 as _server_group_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ScaleInRule(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCALE_IN_RULE_UNSPECIFIED: _ClassVar[ScaleInRule]
    SCALE_IN_RULE_NEWEST_FIRST: _ClassVar[ScaleInRule]
    SCALE_IN_RULE_OLDEST_FIRST: _ClassVar[ScaleInRule]
    SCALE_IN_RULE_LEAST_LOADED: _ClassVar[ScaleInRule]

class AdjustmentType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ADJUSTMENT_TYPE_UNSPECIFIED: _ClassVar[AdjustmentType]
    ADJUSTMENT_TYPE_CHANGE_IN_CAPACITY: _ClassVar[AdjustmentType]
    ADJUSTMENT_TYPE_EXACT_CAPACITY: _ClassVar[AdjustmentType]
    ADJUSTMENT_TYPE_PERCENT_CHANGE: _ClassVar[AdjustmentType]

class Comparison(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPARISON_UNSPECIFIED: _ClassVar[Comparison]
    COMPARISON_GREATER_OR_EQUAL: _ClassVar[Comparison]
    COMPARISON_LESS_OR_EQUAL: _ClassVar[Comparison]
SCALE_IN_RULE_UNSPECIFIED: ScaleInRule
SCALE_IN_RULE_NEWEST_FIRST: ScaleInRule
SCALE_IN_RULE_OLDEST_FIRST: ScaleInRule
SCALE_IN_RULE_LEAST_LOADED: ScaleInRule
ADJUSTMENT_TYPE_UNSPECIFIED: AdjustmentType
ADJUSTMENT_TYPE_CHANGE_IN_CAPACITY: AdjustmentType
ADJUSTMENT_TYPE_EXACT_CAPACITY: AdjustmentType
ADJUSTMENT_TYPE_PERCENT_CHANGE: AdjustmentType
COMPARISON_UNSPECIFIED: Comparison
COMPARISON_GREATER_OR_EQUAL: Comparison
COMPARISON_LESS_OR_EQUAL: Comparison

class ServerTemplate(_message.Message):
    __slots__ = ("flavor", "image", "metadata", "availability_zone", "placement_policy")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FLAVOR_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_POLICY_FIELD_NUMBER: _ClassVar[int]
    flavor: str
    image: str
    metadata: _containers.ScalarMap[str, str]
    availability_zone: str
    placement_policy: _server_group_pb2.ServerGroupPolicy
    def __init__(self, flavor: _Optional[str] = ..., image: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., availability_zone: _Optional[str] = ..., placement_policy: _Optional[_Union[_server_group_pb2.ServerGroupPolicy, str]] = ...) -> None: ...

class TargetTrackingPolicy(_message.Message):
    __slots__ = ("metric", "target", "tolerance", "scale_down_stabilization", "scale_up_percent", "scale_up_members", "scale_up_period", "disable_scale_in", "warmup")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TOLERANCE_FIELD_NUMBER: _ClassVar[int]
    SCALE_DOWN_STABILIZATION_FIELD_NUMBER: _ClassVar[int]
    SCALE_UP_PERCENT_FIELD_NUMBER: _ClassVar[int]
    SCALE_UP_MEMBERS_FIELD_NUMBER: _ClassVar[int]
    SCALE_UP_PERIOD_FIELD_NUMBER: _ClassVar[int]
    DISABLE_SCALE_IN_FIELD_NUMBER: _ClassVar[int]
    WARMUP_FIELD_NUMBER: _ClassVar[int]
    metric: str
    target: float
    tolerance: float
    scale_down_stabilization: _duration_pb2.Duration
    scale_up_percent: int
    scale_up_members: int
    scale_up_period: _duration_pb2.Duration
    disable_scale_in: bool
    warmup: _duration_pb2.Duration
    def __init__(self, metric: _Optional[str] = ..., target: _Optional[float] = ..., tolerance: _Optional[float] = ..., scale_down_stabilization: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., scale_up_percent: _Optional[int] = ..., scale_up_members: _Optional[int] = ..., scale_up_period: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., disable_scale_in: _Optional[bool] = ..., warmup: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ScalingStep(_message.Message):
    __slots__ = ("lower_bound", "upper_bound", "adjustment")
    LOWER_BOUND_FIELD_NUMBER: _ClassVar[int]
    UPPER_BOUND_FIELD_NUMBER: _ClassVar[int]
    ADJUSTMENT_FIELD_NUMBER: _ClassVar[int]
    lower_bound: float
    upper_bound: float
    adjustment: int
    def __init__(self, lower_bound: _Optional[float] = ..., upper_bound: _Optional[float] = ..., adjustment: _Optional[int] = ...) -> None: ...

class StepPolicy(_message.Message):
    __slots__ = ("metric", "comparison", "threshold", "adjustment_type", "steps", "cooldown")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    COMPARISON_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ADJUSTMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    COOLDOWN_FIELD_NUMBER: _ClassVar[int]
    metric: str
    comparison: Comparison
    threshold: float
    adjustment_type: AdjustmentType
    steps: _containers.RepeatedCompositeFieldContainer[ScalingStep]
    cooldown: _duration_pb2.Duration
    def __init__(self, metric: _Optional[str] = ..., comparison: _Optional[_Union[Comparison, str]] = ..., threshold: _Optional[float] = ..., adjustment_type: _Optional[_Union[AdjustmentType, str]] = ..., steps: _Optional[_Iterable[_Union[ScalingStep, _Mapping]]] = ..., cooldown: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class SimplePolicy(_message.Message):
    __slots__ = ("metric", "comparison", "threshold", "adjustment_type", "adjustment", "cooldown")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    COMPARISON_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ADJUSTMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ADJUSTMENT_FIELD_NUMBER: _ClassVar[int]
    COOLDOWN_FIELD_NUMBER: _ClassVar[int]
    metric: str
    comparison: Comparison
    threshold: float
    adjustment_type: AdjustmentType
    adjustment: int
    cooldown: _duration_pb2.Duration
    def __init__(self, metric: _Optional[str] = ..., comparison: _Optional[_Union[Comparison, str]] = ..., threshold: _Optional[float] = ..., adjustment_type: _Optional[_Union[AdjustmentType, str]] = ..., adjustment: _Optional[int] = ..., cooldown: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ScalingPolicy(_message.Message):
    __slots__ = ("name", "target_tracking", "step", "simple")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_TRACKING_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    SIMPLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    target_tracking: TargetTrackingPolicy
    step: StepPolicy
    simple: SimplePolicy
    def __init__(self, name: _Optional[str] = ..., target_tracking: _Optional[_Union[TargetTrackingPolicy, _Mapping]] = ..., step: _Optional[_Union[StepPolicy, _Mapping]] = ..., simple: _Optional[_Union[SimplePolicy, _Mapping]] = ...) -> None: ...

class ScheduledAction(_message.Message):
    __slots__ = ("name", "schedule", "time_zone", "min_size", "max_size", "desired_size")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    MIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    DESIRED_SIZE_FIELD_NUMBER: _ClassVar[int]
    name: str
    schedule: str
    time_zone: str
    min_size: int
    max_size: int
    desired_size: int
    def __init__(self, name: _Optional[str] = ..., schedule: _Optional[str] = ..., time_zone: _Optional[str] = ..., min_size: _Optional[int] = ..., max_size: _Optional[int] = ..., desired_size: _Optional[int] = ...) -> None: ...

class MetricStatus(_message.Message):
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

class ScalingGroupStatus(_message.Message):
    __slots__ = ("current_size", "active_size", "metrics", "last_decision", "last_scale_time", "fault")
    CURRENT_SIZE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_SIZE_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    LAST_DECISION_FIELD_NUMBER: _ClassVar[int]
    LAST_SCALE_TIME_FIELD_NUMBER: _ClassVar[int]
    FAULT_FIELD_NUMBER: _ClassVar[int]
    current_size: int
    active_size: int
    metrics: _containers.RepeatedCompositeFieldContainer[MetricStatus]
    last_decision: str
    last_scale_time: _timestamp_pb2.Timestamp
    fault: str
    def __init__(self, current_size: _Optional[int] = ..., active_size: _Optional[int] = ..., metrics: _Optional[_Iterable[_Union[MetricStatus, _Mapping]]] = ..., last_decision: _Optional[str] = ..., last_scale_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fault: _Optional[str] = ...) -> None: ...

class ScalingGroup(_message.Message):
    __slots__ = ("name", "template", "min_size", "max_size", "desired_size", "policies", "scheduled_actions", "scale_in_rule", "health_grace", "protected_members", "members", "server_group", "status", "create_time", "update_time", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    MIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    DESIRED_SIZE_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    SCALE_IN_RULE_FIELD_NUMBER: _ClassVar[int]
    HEALTH_GRACE_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_MEMBERS_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    SERVER_GROUP_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    template: ServerTemplate
    min_size: int
    max_size: int
    desired_size: int
    policies: _containers.RepeatedCompositeFieldContainer[ScalingPolicy]
    scheduled_actions: _containers.RepeatedCompositeFieldContainer[ScheduledAction]
    scale_in_rule: ScaleInRule
    health_grace: _duration_pb2.Duration
    protected_members: _containers.RepeatedScalarFieldContainer[str]
    members: _containers.RepeatedScalarFieldContainer[str]
    server_group: str
    status: ScalingGroupStatus
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., template: _Optional[_Union[ServerTemplate, _Mapping]] = ..., min_size: _Optional[int] = ..., max_size: _Optional[int] = ..., desired_size: _Optional[int] = ..., policies: _Optional[_Iterable[_Union[ScalingPolicy, _Mapping]]] = ..., scheduled_actions: _Optional[_Iterable[_Union[ScheduledAction, _Mapping]]] = ..., scale_in_rule: _Optional[_Union[ScaleInRule, str]] = ..., health_grace: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., protected_members: _Optional[_Iterable[str]] = ..., members: _Optional[_Iterable[str]] = ..., server_group: _Optional[str] = ..., status: _Optional[_Union[ScalingGroupStatus, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class CreateScalingGroupRequest(_message.Message):
    __slots__ = ("parent", "scaling_group", "scaling_group_id", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    SCALING_GROUP_FIELD_NUMBER: _ClassVar[int]
    SCALING_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    scaling_group: ScalingGroup
    scaling_group_id: str
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., scaling_group: _Optional[_Union[ScalingGroup, _Mapping]] = ..., scaling_group_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetScalingGroupRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListScalingGroupsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListScalingGroupsResponse(_message.Message):
    __slots__ = ("scaling_groups", "next_page_token")
    SCALING_GROUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    scaling_groups: _containers.RepeatedCompositeFieldContainer[ScalingGroup]
    next_page_token: str
    def __init__(self, scaling_groups: _Optional[_Iterable[_Union[ScalingGroup, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateScalingGroupRequest(_message.Message):
    __slots__ = ("scaling_group", "update_mask", "etag")
    SCALING_GROUP_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    scaling_group: ScalingGroup
    update_mask: _field_mask_pb2.FieldMask
    etag: str
    def __init__(self, scaling_group: _Optional[_Union[ScalingGroup, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteScalingGroupRequest(_message.Message):
    __slots__ = ("name", "etag", "keep_members")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    KEEP_MEMBERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    keep_members: bool
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ..., keep_members: _Optional[bool] = ...) -> None: ...

class SetDesiredSizeRequest(_message.Message):
    __slots__ = ("name", "desired_size")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESIRED_SIZE_FIELD_NUMBER: _ClassVar[int]
    name: str
    desired_size: int
    def __init__(self, name: _Optional[str] = ..., desired_size: _Optional[int] = ...) -> None: ...

class RecordGroupMetricRequest(_message.Message):
    __slots__ = ("name", "metric", "value", "member")
    NAME_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    name: str
    metric: str
    value: float
    member: str
    def __init__(self, name: _Optional[str] = ..., metric: _Optional[str] = ..., value: _Optional[float] = ..., member: _Optional[str] = ...) -> None: ...

class ScalingActivity(_message.Message):
    __slots__ = ("kind", "time", "current_size", "previous_desired", "desired_size", "rule", "metrics", "clamped", "member", "reason", "replacement")
    KIND_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    CURRENT_SIZE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_DESIRED_FIELD_NUMBER: _ClassVar[int]
    DESIRED_SIZE_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    CLAMPED_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REPLACEMENT_FIELD_NUMBER: _ClassVar[int]
    kind: str
    time: _timestamp_pb2.Timestamp
    current_size: int
    previous_desired: int
    desired_size: int
    rule: str
    metrics: _containers.RepeatedCompositeFieldContainer[MetricStatus]
    clamped: _containers.RepeatedScalarFieldContainer[str]
    member: str
    reason: str
    replacement: str
    def __init__(self, kind: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current_size: _Optional[int] = ..., previous_desired: _Optional[int] = ..., desired_size: _Optional[int] = ..., rule: _Optional[str] = ..., metrics: _Optional[_Iterable[_Union[MetricStatus, _Mapping]]] = ..., clamped: _Optional[_Iterable[str]] = ..., member: _Optional[str] = ..., reason: _Optional[str] = ..., replacement: _Optional[str] = ...) -> None: ...

class ListScalingActivitiesRequest(_message.Message):
    __slots__ = ("name", "page_size", "page_token")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    page_size: int
    page_token: str
    def __init__(self, name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListScalingActivitiesResponse(_message.Message):
    __slots__ = ("activities", "next_page_token")
    ACTIVITIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    activities: _containers.RepeatedCompositeFieldContainer[ScalingActivity]
    next_page_token: str
    def __init__(self, activities: _Optional[_Iterable[_Union[ScalingActivity, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
