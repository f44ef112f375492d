import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ServerGroupPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVER_GROUP_POLICY_UNSPECIFIED: _ClassVar[ServerGroupPolicy]
    SERVER_GROUP_POLICY_AFFINITY: _ClassVar[ServerGroupPolicy]
    SERVER_GROUP_POLICY_ANTI_AFFINITY: _ClassVar[ServerGroupPolicy]
    SERVER_GROUP_POLICY_SOFT_AFFINITY: _ClassVar[ServerGroupPolicy]
    SERVER_GROUP_POLICY_SOFT_ANTI_AFFINITY: _ClassVar[ServerGroupPolicy]
SERVER_GROUP_POLICY_UNSPECIFIED: ServerGroupPolicy
SERVER_GROUP_POLICY_AFFINITY: ServerGroupPolicy
SERVER_GROUP_POLICY_ANTI_AFFINITY: ServerGroupPolicy
SERVER_GROUP_POLICY_SOFT_AFFINITY: ServerGroupPolicy
SERVER_GROUP_POLICY_SOFT_ANTI_AFFINITY: ServerGroupPolicy

class ServerGroup(_message.Message):
    __slots__ = ("name", "policy", "members", "create_time", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    policy: ServerGroupPolicy
    members: _containers.RepeatedScalarFieldContainer[str]
    create_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., policy: _Optional[_Union[ServerGroupPolicy, str]] = ..., members: _Optional[_Iterable[str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class CreateServerGroupRequest(_message.Message):
    __slots__ = ("parent", "server_group", "server_group_id", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    SERVER_GROUP_FIELD_NUMBER: _ClassVar[int]
    SERVER_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    server_group: ServerGroup
    server_group_id: str
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., server_group: _Optional[_Union[ServerGroup, _Mapping]] = ..., server_group_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetServerGroupRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListServerGroupsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListServerGroupsResponse(_message.Message):
    __slots__ = ("server_groups", "next_page_token")
    SERVER_GROUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    server_groups: _containers.RepeatedCompositeFieldContainer[ServerGroup]
    next_page_token: str
    def __init__(self, server_groups: _Optional[_Iterable[_Union[ServerGroup, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteServerGroupRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...
