"""Every Overcast call as data, shared by the sync and async clients.

Each function turns friendly arguments (short ids, plain dicts, state names) into the request
proto and says which stub method takes it and what comes back, so a client method is one line:
`return self._unary(build.get_server(name, project))`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from google.protobuf import empty_pb2, field_mask_pb2
from grpc_health.v1 import health_pb2

from overcast.v1 import (
    common_pb2,
    flavor_pb2,
    host_pb2,
    image_pb2,
    server_group_pb2,
    server_pb2,
)

from . import enum_names
from .errors import InvalidArgument
from .names import (
    DEFAULT_PROJECT,
    flavor_name,
    host_name,
    image_name,
    project_name,
    scaling_group_name,
    server_group_name,
    server_name,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Unary(Generic[T]):
    """One unary call: `Stubs.<stub>.<method>(request)` returns a `returns`."""

    stub: str
    method: str
    request: Any
    returns: type[T]


@dataclass(frozen=True)
class Listing(Generic[T]):
    """A paginated List call whose responses hold `item`s in their `field`."""

    stub: str
    method: str
    request: Any
    field: str
    item: type[T]

    def first_page(self) -> Unary[Any]:
        """The call for the first page, on a copy of the request that paging may change."""
        request = type(self.request)()
        request.CopyFrom(self.request)
        return Unary(self.stub, self.method, request, object)


def vm_state_value(state: int | str | None) -> common_pb2.VmState:
    """A VmState from its number or name ("active", "ACTIVE", "VM_STATE_ACTIVE"); None → unspecified."""
    if state is None or state == "":
        return common_pb2.VM_STATE_UNSPECIFIED
    if isinstance(state, int):
        return cast(common_pb2.VmState, state)
    value = enum_names.number(common_pb2.VmState.DESCRIPTOR, state)
    if value is None:
        choices = ", ".join(vm_state_names())
        raise InvalidArgument(
            f"unknown server state {state!r} (expected one of {choices})",
            field_violations=[("vm_state", f"must be one of {choices}")],
        )
    return cast(common_pb2.VmState, value)


def vm_state_names() -> list[str]:
    """The VmState short names a user may filter on (deleted servers are not listed)."""
    return enum_names.short_names(common_pb2.VmState.DESCRIPTOR, exclude=("DELETED",))


# --- servers ---------------------------------------------------------------------------------

_Server = server_pb2.Server


def create_server(
    server_id: str,
    *,
    flavor: str,
    image: str,
    project: str = DEFAULT_PROJECT,
    metadata: Mapping[str, str] | None = None,
    request_id: str | None = None,
    availability_zone: str = "",
    server_group: str | None = None,
    kernel_image: str | None = None,
    ramdisk_image: str | None = None,
    kernel_args: str = "",
    host_failure_policy: int | str = 0,
) -> Unary[server_pb2.Server]:
    server = server_pb2.Server(
        host_failure_policy=host_failure_policy_value(host_failure_policy),
        flavor=flavor_name(flavor),
        image=image_name(image),
        metadata=dict(metadata or {}),
        availability_zone=availability_zone,
        server_group=server_group_name(server_group, project) if server_group else "",
        kernel_image=image_name(kernel_image) if kernel_image else "",
        ramdisk_image=image_name(ramdisk_image) if ramdisk_image else "",
        kernel_args=kernel_args,
    )
    request = server_pb2.CreateServerRequest(
        parent=project_name(project),
        server=server,
        server_id=server_id,
        request_id=request_id or "",
    )
    return Unary("servers", "CreateServer", request, _Server)


def get_server(name: str, project: str = DEFAULT_PROJECT) -> Unary[server_pb2.Server]:
    request = server_pb2.GetServerRequest(name=server_name(name, project))
    return Unary("servers", "GetServer", request, _Server)


def list_servers(
    project: str = DEFAULT_PROJECT,
    *,
    vm_state: int | str | None = None,
    host: str | None = None,
    scaling_group: str | None = None,
    page_size: int | None = None,
    filter: str = "",  # the API's name (AIP-160)
    order_by: str = "",
) -> Listing[server_pb2.Server]:
    request = server_pb2.ListServersRequest(
        parent=project_name(project),
        vm_state=vm_state_value(vm_state),
        host=host_name(host) if host else "",
        scaling_group=scaling_group_name(scaling_group, project) if scaling_group else "",
        page_size=page_size or 0,
        filter=filter,
        order_by=order_by,
    )
    return Listing("servers", "ListServers", request, "servers", _Server)


def delete_server(name: str, project: str = DEFAULT_PROJECT, etag: str = "") -> Unary[server_pb2.Server]:
    request = server_pb2.DeleteServerRequest(name=server_name(name, project), etag=etag)
    return Unary("servers", "DeleteServer", request, _Server)


def start_server(name: str, project: str = DEFAULT_PROJECT, etag: str = "") -> Unary[server_pb2.Server]:
    request = server_pb2.StartServerRequest(name=server_name(name, project), etag=etag)
    return Unary("servers", "StartServer", request, _Server)


def stop_server(name: str, project: str = DEFAULT_PROJECT, etag: str = "") -> Unary[server_pb2.Server]:
    request = server_pb2.StopServerRequest(name=server_name(name, project), etag=etag)
    return Unary("servers", "StopServer", request, _Server)


def reboot_server(name: str, project: str = DEFAULT_PROJECT, etag: str = "") -> Unary[server_pb2.Server]:
    request = server_pb2.RebootServerRequest(name=server_name(name, project), etag=etag)
    return Unary("servers", "RebootServer", request, _Server)


def get_console_log(
    name: str, project: str = DEFAULT_PROJECT, tail_lines: int = 0
) -> Unary[server_pb2.ConsoleLog]:
    request = server_pb2.GetConsoleLogRequest(name=server_name(name, project), tail_lines=tail_lines)
    return Unary("servers", "GetConsoleLog", request, server_pb2.ConsoleLog)


def update_server_metadata(
    name: str, metadata: Mapping[str, str], project: str = DEFAULT_PROJECT, etag: str = ""
) -> Unary[server_pb2.Server]:
    """UpdateServer replacing the server's metadata (the only field it may change)."""
    request = server_pb2.UpdateServerRequest(
        server=server_pb2.Server(name=server_name(name, project), metadata=dict(metadata), etag=etag),
        update_mask=field_mask_pb2.FieldMask(paths=["metadata"]),
    )
    return Unary("servers", "UpdateServer", request, _Server)


def host_failure_policy_value(policy: int | str) -> server_pb2.HostFailurePolicy:
    """A HostFailurePolicy from its number or name ("evacuate", "NONE", …)."""
    if isinstance(policy, int):
        return cast(server_pb2.HostFailurePolicy, policy)
    value = enum_names.number(server_pb2.HostFailurePolicy.DESCRIPTOR, policy)
    if value is None:
        choices = ", ".join(enum_names.short_names(server_pb2.HostFailurePolicy.DESCRIPTOR))
        raise InvalidArgument(
            f"unknown host failure policy {policy!r} (expected one of {choices})",
            field_violations=[("server.host_failure_policy", f"must be one of {choices}")],
        )
    return cast(server_pb2.HostFailurePolicy, value)


def set_host_failure_policy(
    name: str, policy: int | str, project: str = DEFAULT_PROJECT, etag: str = ""
) -> Unary[server_pb2.Server]:
    """UpdateServer changing what happens to the server when its host fails (NONE, EVACUATE)."""
    request = server_pb2.UpdateServerRequest(
        server=server_pb2.Server(
            name=server_name(name, project), host_failure_policy=host_failure_policy_value(policy), etag=etag
        ),
        update_mask=field_mask_pb2.FieldMask(paths=["host_failure_policy"]),
    )
    return Unary("servers", "UpdateServer", request, _Server)


def watch_servers(
    project: str = DEFAULT_PROJECT,
    filter: str = "",
    resume_token: str = "",
) -> server_pb2.WatchServersRequest:
    """The request for the WatchServers stream (streams are opened by the clients)."""
    return server_pb2.WatchServersRequest(
        parent=project_name(project), filter=filter, resume_token=resume_token
    )


# --- server groups ---------------------------------------------------------------------------

_Group = server_group_pb2.ServerGroup


def server_group_policy_value(policy: int | str) -> server_group_pb2.ServerGroupPolicy:
    """A ServerGroupPolicy from its number or name ("anti-affinity", "SOFT_AFFINITY", …)."""
    if isinstance(policy, int):
        return cast(server_group_pb2.ServerGroupPolicy, policy)
    value = enum_names.number(server_group_pb2.ServerGroupPolicy.DESCRIPTOR, policy)
    if value is None:
        choices = ", ".join(server_group_policy_names())
        raise InvalidArgument(
            f"unknown server group policy {policy!r} (expected one of {choices})",
            field_violations=[("server_group.policy", f"must be one of {choices}")],
        )
    return cast(server_group_pb2.ServerGroupPolicy, value)


def server_group_policy_names() -> list[str]:
    return enum_names.short_names(server_group_pb2.ServerGroupPolicy.DESCRIPTOR)


def create_server_group(
    group_id: str,
    policy: int | str,
    *,
    project: str = DEFAULT_PROJECT,
    request_id: str | None = None,
) -> Unary[server_group_pb2.ServerGroup]:
    request = server_group_pb2.CreateServerGroupRequest(
        parent=project_name(project),
        server_group=_Group(policy=server_group_policy_value(policy)),
        server_group_id=group_id,
        request_id=request_id or "",
    )
    return Unary("server_groups", "CreateServerGroup", request, _Group)


def get_server_group(name: str, project: str = DEFAULT_PROJECT) -> Unary[server_group_pb2.ServerGroup]:
    request = server_group_pb2.GetServerGroupRequest(name=server_group_name(name, project))
    return Unary("server_groups", "GetServerGroup", request, _Group)


def list_server_groups(
    project: str = DEFAULT_PROJECT, page_size: int | None = None
) -> Listing[server_group_pb2.ServerGroup]:
    request = server_group_pb2.ListServerGroupsRequest(parent=project_name(project), page_size=page_size or 0)
    return Listing("server_groups", "ListServerGroups", request, "server_groups", _Group)


def delete_server_group(name: str, project: str = DEFAULT_PROJECT, etag: str = "") -> Unary[empty_pb2.Empty]:
    request = server_group_pb2.DeleteServerGroupRequest(name=server_group_name(name, project), etag=etag)
    return Unary("server_groups", "DeleteServerGroup", request, empty_pb2.Empty)


# --- flavors ---------------------------------------------------------------------------------


def list_flavors(page_size: int | None = None) -> Listing[flavor_pb2.Flavor]:
    request = flavor_pb2.ListFlavorsRequest(page_size=page_size or 0)
    return Listing("flavors", "ListFlavors", request, "flavors", flavor_pb2.Flavor)


def get_flavor(name: str) -> Unary[flavor_pb2.Flavor]:
    request = flavor_pb2.GetFlavorRequest(name=flavor_name(name))
    return Unary("flavors", "GetFlavor", request, flavor_pb2.Flavor)


def create_flavor(
    flavor_id: str,
    vcpus: int,
    memory_mib: int,
    disk_gib: int,
    description: str = "",
    request_id: str | None = None,
) -> Unary[flavor_pb2.Flavor]:
    flavor = flavor_pb2.Flavor(vcpus=vcpus, memory_mib=memory_mib, disk_gib=disk_gib, description=description)
    request = flavor_pb2.CreateFlavorRequest(flavor=flavor, flavor_id=flavor_id, request_id=request_id or "")
    return Unary("flavors", "CreateFlavor", request, flavor_pb2.Flavor)


def delete_flavor(name: str, etag: str = "") -> Unary[empty_pb2.Empty]:
    request = flavor_pb2.DeleteFlavorRequest(name=flavor_name(name), etag=etag)
    return Unary("flavors", "DeleteFlavor", request, empty_pb2.Empty)


# --- images ----------------------------------------------------------------------------------


def create_image(
    image_id: str,
    disk_format: str,
    *,
    min_disk_gib: int = 0,
    min_memory_mib: int = 0,
    properties: Mapping[str, str] | None = None,
    request_id: str | None = None,
    kernel_image: str | None = None,
    ramdisk_image: str | None = None,
    kernel_args: str = "",
) -> Unary[image_pb2.Image]:
    image = image_pb2.Image(
        disk_format=disk_format,
        min_disk_gib=min_disk_gib,
        min_memory_mib=min_memory_mib,
        properties=dict(properties or {}),
        kernel_image=image_name(kernel_image) if kernel_image else "",
        ramdisk_image=image_name(ramdisk_image) if ramdisk_image else "",
        kernel_args=kernel_args,
    )
    request = image_pb2.CreateImageRequest(image=image, image_id=image_id, request_id=request_id or "")
    return Unary("images", "CreateImage", request, image_pb2.Image)


def list_images(page_size: int | None = None) -> Listing[image_pb2.Image]:
    request = image_pb2.ListImagesRequest(page_size=page_size or 0)
    return Listing("images", "ListImages", request, "images", image_pb2.Image)


def get_image(name: str) -> Unary[image_pb2.Image]:
    request = image_pb2.GetImageRequest(name=image_name(name))
    return Unary("images", "GetImage", request, image_pb2.Image)


def delete_image(name: str, etag: str = "") -> Unary[empty_pb2.Empty]:
    request = image_pb2.DeleteImageRequest(name=image_name(name), etag=etag)
    return Unary("images", "DeleteImage", request, empty_pb2.Empty)


# --- hosts -----------------------------------------------------------------------------------


def list_hosts(page_size: int | None = None) -> Listing[host_pb2.Host]:
    request = host_pb2.ListHostsRequest(page_size=page_size or 0)
    return Listing("hosts", "ListHosts", request, "hosts", host_pb2.Host)


def get_host(name: str) -> Unary[host_pb2.Host]:
    request = host_pb2.GetHostRequest(name=host_name(name))
    return Unary("hosts", "GetHost", request, host_pb2.Host)


def enable_host(name: str, etag: str = "") -> Unary[host_pb2.Host]:
    request = host_pb2.EnableHostRequest(name=host_name(name), etag=etag)
    return Unary("hosts", "EnableHost", request, host_pb2.Host)


def disable_host(name: str, reason: str = "", etag: str = "") -> Unary[host_pb2.Host]:
    request = host_pb2.DisableHostRequest(name=host_name(name), reason=reason, etag=etag)
    return Unary("hosts", "DisableHost", request, host_pb2.Host)


def evacuate_host(name: str) -> Unary[host_pb2.EvacuateHostResponse]:
    request = host_pb2.EvacuateHostRequest(name=host_name(name))
    return Unary("hosts", "EvacuateHost", request, host_pb2.EvacuateHostResponse)


def watch_host_metrics(
    hosts: Iterable[str] = (), include_instances: bool = False
) -> host_pb2.WatchHostMetricsRequest:
    """The request for the WatchHostMetrics stream; no hosts = every host."""
    return host_pb2.WatchHostMetricsRequest(
        hosts=[host_name(h) for h in hosts], include_instances=include_instances
    )


# --- health ----------------------------------------------------------------------------------


def health(service: str = "") -> Unary[health_pb2.HealthCheckResponse]:
    request = health_pb2.HealthCheckRequest(service=service)
    return Unary("health", "Check", request, health_pb2.HealthCheckResponse)


def serving_status_name(response: health_pb2.HealthCheckResponse) -> str:
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
