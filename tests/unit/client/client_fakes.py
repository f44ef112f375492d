"""A fake Overcast controller for client tests: a real gRPC server with scripted answers.

(A uniquely named module rather than conftest.py, so that tests can import from it however
many conftest.py files the whole test tree has.)

It runs as a synchronous grpc server on its own threads, so the sync client, the CLI and the
async client (on the test's event loop) can all talk to it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import any_pb2, empty_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from scaling_fakes import FakeScalingGroups

from overcast.v1 import (
    common_pb2,
    flavor_pb2,
    flavor_pb2_grpc,
    host_pb2,
    host_pb2_grpc,
    scaling_group_pb2_grpc,
    server_pb2,
    server_pb2_grpc,
)

PROJECT = "projects/demo"
NO_POWER = common_pb2.POWER_STATE_UNSPECIFIED


def server(
    sid: str,
    vm: common_pb2.VmState = common_pb2.VM_STATE_ACTIVE,
    task: common_pb2.TaskState = common_pb2.TASK_STATE_UNSPECIFIED,
    power: common_pb2.PowerState = common_pb2.POWER_STATE_RUNNING,
    host: str = "hosts/host-1",
    fault: str = "",
) -> server_pb2.Server:
    return server_pb2.Server(
        name=f"{PROJECT}/servers/{sid}",
        flavor="flavors/m1.small",
        image="images/cirros",
        vm_state=vm,
        task_state=task,
        power_state=power,
        host=host,
        fault=fault,
    )


def one_violation_status() -> status_pb2.Status:
    field, description = "server.flavor", "flavor m1.nope does not exist"
    bad = error_details_pb2.BadRequest(
        field_violations=[error_details_pb2.BadRequest.FieldViolation(field=field, description=description)]
    )
    detail = any_pb2.Any()
    detail.Pack(bad)
    return status_pb2.Status(code=3, message=f"{field}: {description}", details=[detail])


def bad_request_status() -> status_pb2.Status:
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(
                field="server.flavor", description="flavor m1.nope does not exist"
            ),
            error_details_pb2.BadRequest.FieldViolation(
                field="server_id", description="must match [a-z][a-z0-9-]*"
            ),
        ]
    )
    info = error_details_pb2.ErrorInfo(reason="INVALID_SERVER", domain="overcast.dev", metadata={"k": "v"})
    details = [any_pb2.Any(), any_pb2.Any()]
    details[0].Pack(bad)
    details[1].Pack(info)
    return status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="invalid server", details=details)


class FakeServers(server_pb2_grpc.ServerServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.servers: dict[str, server_pb2.Server] = {}
        # Changes WatchServers sends after its snapshot, as (delay seconds, Server).
        self.script: list[tuple[float, server_pb2.Server]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.page_tokens_seen: list[str] = []
        self.updates: list[server_pb2.UpdateServerRequest] = []
        self.created: list[server_pb2.CreateServerRequest] = []
        self.list_requests: list[server_pb2.ListServersRequest] = []
        self.on_list: Callable[[], None] | None = None  # runs before each ListServers answers
        self._lock = threading.Lock()

    def add(self, *servers: server_pb2.Server) -> None:
        for s in servers:
            self.servers[s.name] = s

    def CreateServer(self, request: Any, context: Any) -> server_pb2.Server:
        if request.server_id == "invalid":
            context.abort_with_status(rpc_status.to_status(bad_request_status()))
        if request.server_id == "one-violation":  # as the controller words a single violation
            context.abort_with_status(rpc_status.to_status(one_violation_status()))
        self.created.append(request)
        s = server(
            request.server_id, common_pb2.VM_STATE_BUILDING, common_pb2.TASK_STATE_SCHEDULING, NO_POWER, ""
        )
        s.flavor, s.image = request.server.flavor, request.server.image
        s.metadata.update(request.server.metadata)
        self.add(s)
        return s

    def GetServer(self, request: Any, context: Any) -> server_pb2.Server:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if request.name.endswith("/slow"):
                time.sleep(1.0)
            elif request.name.endswith("/busy"):
                time.sleep(0.05)
                return server("busy")
            if request.name.endswith("/bad"):
                context.abort_with_status(rpc_status.to_status(bad_request_status()))
            if request.name not in self.servers:
                context.abort(grpc.StatusCode.NOT_FOUND, f"server {request.name} not found")
            return self.servers[request.name]
        finally:
            with self._lock:
                self.in_flight -= 1

    def ListServers(self, request: Any, context: Any) -> server_pb2.ListServersResponse:
        self.page_tokens_seen.append(request.page_token)
        self.list_requests.append(request)
        if self.on_list is not None and not request.page_token:
            self.on_list()
        items = [
            s
            for s in self.servers.values()
            if (not request.vm_state or s.vm_state == request.vm_state)
            and (not request.host or s.host == request.host)
            and (not request.scaling_group or s.scaling_group == request.scaling_group)
        ]
        start = int(request.page_token or 0)
        size = request.page_size or 2
        page = items[start : start + size]
        token = str(start + size) if start + size < len(items) else ""
        return server_pb2.ListServersResponse(servers=page, next_page_token=token)

    def _action(self, request: Any, context: Any, task: common_pb2.TaskState) -> server_pb2.Server:
        if request.name not in self.servers:
            context.abort(grpc.StatusCode.NOT_FOUND, f"server {request.name} not found")
        s = self.servers[request.name]
        s.task_state = task
        return s

    def DeleteServer(self, request: Any, context: Any) -> server_pb2.Server:
        return self._action(request, context, common_pb2.TASK_STATE_DELETING)

    def StopServer(self, request: Any, context: Any) -> server_pb2.Server:
        return self._action(request, context, common_pb2.TASK_STATE_POWERING_OFF)

    def StartServer(self, request: Any, context: Any) -> server_pb2.Server:
        return self._action(request, context, common_pb2.TASK_STATE_POWERING_ON)

    def UpdateServer(self, request: Any, context: Any) -> server_pb2.Server:
        self.updates.append(request)
        name = request.server.name
        if name not in self.servers:
            context.abort(grpc.StatusCode.NOT_FOUND, f"server {name} not found")
        s = self.servers[name]
        if request.server.etag and request.server.etag != s.etag:
            context.abort(grpc.StatusCode.ABORTED, f"{name} has changed")
        s.metadata.clear()
        s.metadata.update(request.server.metadata)
        s.etag = str(int(s.etag or "1") + 1)
        return s

    def RebootServer(self, request: Any, context: Any) -> server_pb2.Server:
        if request.name.endswith("/busy"):
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "server busy is BUILDING")
        return self._action(request, context, common_pb2.TASK_STATE_REBOOTING)

    def WatchServers(self, request: Any, context: Any) -> Iterator[server_pb2.ServerChange]:
        kind = server_pb2.ServerChange
        for s in list(self.servers.values()):
            if s.name.startswith(request.parent + "/"):
                yield kind(kind=kind.KIND_INITIAL, server=s)
        yield kind(kind=kind.KIND_SYNCED)
        for delay, s in self.script:
            time.sleep(delay)
            yield kind(kind=kind.KIND_CHANGED, server=s)
        while context.is_active():
            time.sleep(0.02)


def host_load(cpu: float, ewma: float, stale: bool) -> host_pb2.HostLoad:
    load = host_pb2.HostLoad(
        cpu_util=cpu,
        cpu_util_ewma=ewma,
        memory_used_mib=1024,
        memory_free_mib=31744,
        load1=1.5,
        load5=1.0,
        load15=0.5,
        stale=stale,
        simulated=True,
    )
    load.sampled_at.FromSeconds(1_700_000_000)
    return load


class FakeHosts(host_pb2_grpc.HostServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.watch_requests: list[host_pb2.WatchHostMetricsRequest] = []

    def ListHosts(self, request: Any, context: Any) -> host_pb2.ListHostsResponse:
        h1 = host_pb2.Host(
            name="hosts/host-1",
            hypervisor_type="test",
            availability_zone="az-1",
            vcpus=32,
            vcpus_used=4,
            memory_mib=65536,
            memory_mib_used=2048,
            servers=2,
            enabled=True,
            state=common_pb2.HOST_STATE_UP,
        )
        h1.last_heartbeat_time.FromSeconds(1_700_000_000)
        h1.load.CopyFrom(host_load(0.25, 0.2, stale=False))
        h2 = host_pb2.Host(name="hosts/host-2", vcpus=8, state=common_pb2.HOST_STATE_DOWN)
        h2.load.CopyFrom(host_load(0.5, 0.45, stale=True))
        h3 = host_pb2.Host(name="hosts/host-3", vcpus=8, state=common_pb2.HOST_STATE_UP)  # no metrics yet
        return host_pb2.ListHostsResponse(hosts=[h1, h2, h3])

    def GetHost(self, request: Any, context: Any) -> host_pb2.Host:
        hosts = {h.name: h for h in self.ListHosts(request, context).hosts}
        if request.name not in hosts:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        return hosts[request.name]

    def WatchHostMetrics(self, request: Any, context: Any) -> Iterator[host_pb2.HostMetricsUpdate]:
        self.watch_requests.append(request)
        for n in range(3):
            update = host_pb2.HostMetricsUpdate(host="hosts/host-1", load=host_load(0.1 * n, 0.05 * n, False))
            if request.include_instances:
                update.instances.add(
                    server="projects/demo/servers/web-1",
                    uid="u1",
                    load=server_pb2.InstanceLoad(cpu_util=0.7, memory_rss_mib=256, simulated=True),
                )
            yield update
        while context.is_active():
            time.sleep(0.02)


class FakeFlavors(flavor_pb2_grpc.FlavorServiceServicer):  # type: ignore[misc]
    def DeleteFlavor(self, request: Any, context: Any) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    def ListFlavors(self, request: Any, context: Any) -> flavor_pb2.ListFlavorsResponse:
        return flavor_pb2.ListFlavorsResponse(
            flavors=[flavor_pb2.Flavor(name="flavors/m1.small", vcpus=1, memory_mib=2048)]
        )


class FakeController:
    def __init__(self) -> None:
        self.servers = FakeServers()
        self.grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
        server_pb2_grpc.add_ServerServiceServicer_to_server(self.servers, self.grpc_server)
        self.hosts = FakeHosts()
        host_pb2_grpc.add_HostServiceServicer_to_server(self.hosts, self.grpc_server)
        flavor_pb2_grpc.add_FlavorServiceServicer_to_server(FakeFlavors(), self.grpc_server)
        self.scaling = FakeScalingGroups()
        scaling_group_pb2_grpc.add_ScalingGroupServiceServicer_to_server(self.scaling, self.grpc_server)
        port = self.grpc_server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"127.0.0.1:{port}"
        self.grpc_server.start()

    def stop(self) -> None:
        self.grpc_server.stop(grace=None).wait()
