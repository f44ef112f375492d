from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class VmState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VM_STATE_UNSPECIFIED: _ClassVar[VmState]
    BUILDING: _ClassVar[VmState]
    ACTIVE: _ClassVar[VmState]
    STOPPED: _ClassVar[VmState]
    ERROR: _ClassVar[VmState]
    DELETED: _ClassVar[VmState]

class TaskState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_STATE_UNSPECIFIED: _ClassVar[TaskState]
    SCHEDULING: _ClassVar[TaskState]
    SPAWNING: _ClassVar[TaskState]
    POWERING_ON: _ClassVar[TaskState]
    POWERING_OFF: _ClassVar[TaskState]
    REBOOTING: _ClassVar[TaskState]
    MIGRATING: _ClassVar[TaskState]
    DELETING: _ClassVar[TaskState]

class PowerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POWER_STATE_UNSPECIFIED: _ClassVar[PowerState]
    RUNNING: _ClassVar[PowerState]
    PAUSED: _ClassVar[PowerState]
    SHUTDOWN: _ClassVar[PowerState]
    CRASHED: _ClassVar[PowerState]
    SUSPENDED: _ClassVar[PowerState]
    NOSTATE: _ClassVar[PowerState]

class HostState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HOST_STATE_UNSPECIFIED: _ClassVar[HostState]
    UP: _ClassVar[HostState]
    DOWN: _ClassVar[HostState]
VM_STATE_UNSPECIFIED: VmState
BUILDING: VmState
ACTIVE: VmState
STOPPED: VmState
ERROR: VmState
DELETED: VmState
TASK_STATE_UNSPECIFIED: TaskState
SCHEDULING: TaskState
SPAWNING: TaskState
POWERING_ON: TaskState
POWERING_OFF: TaskState
REBOOTING: TaskState
MIGRATING: TaskState
DELETING: TaskState
POWER_STATE_UNSPECIFIED: PowerState
RUNNING: PowerState
PAUSED: PowerState
SHUTDOWN: PowerState
CRASHED: PowerState
SUSPENDED: PowerState
NOSTATE: PowerState
HOST_STATE_UNSPECIFIED: HostState
UP: HostState
DOWN: HostState
