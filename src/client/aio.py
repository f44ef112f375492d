"""Asynchronous Overcast client over one grpc.aio channel.

Every unary call carries a deadline and waits for a slot in a semaphore: grpcio cancels a
share of thousands of calls fired at once on one channel, so in-flight calls are bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncGenerator,
    Collection,
    Iterable,
    Mapping,
)
from contextlib import aclosing
from types import TracebackType
from typing import Any, TypeVar

import grpc

from overcast.v1 import flavor_pb2, host_pb2, server_group_pb2, server_pb2

from . import build, config
from .aio_images import ImageCalls
from .aio_scaling import ScalingGroupCalls
from .build import Listing, Unary
from .channel import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_TIMEOUT,
    DEFAULT_WAIT_TIMEOUT,
    PageTokens,
    Stubs,
    channel_options,
)
from .errors import OvercastError, from_rpc_error
from .names import project_of, server_name
from .overload import DEFAULT_OVERLOAD_BUDGET, OverloadRetry
from .pages import Pages
from .watch import DEFAULT_UNTIL, OnChange, ServerWaiter

T = TypeVar("T")


class AsyncClient(ImageCalls, ScalingGroupCalls):
    """`async with AsyncClient("127.0.0.1:50051") as oc: await oc.get_server("web-1")`.

    The channel opens on first use, inside the running event loop. Methods return the API's
    proto messages and raise `client.errors.OvercastError` subclasses.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        project: str | None = None,
        context: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        overload_budget: float = DEFAULT_OVERLOAD_BUDGET,
    ) -> None:
        """`endpoint` and `project` default to OVERCAST_ENDPOINT / OVERCAST_PROJECT, then to
        the named `context` (or OVERCAST_CONTEXT, or the current one) of the client
        configuration file (`client.config`), then to 127.0.0.1:50051 and `default`."""
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        chosen = config.resolve(endpoint, project, context)
        self.endpoint = chosen.endpoint
        self.project = chosen.project  # what every call without a `project` argument uses
        self.timeout = timeout
        # How long a call shed by an overloaded controller is sent again (client.overload).
        self.overload_budget = overload_budget
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._channel: Any = None
        self._stubs: Stubs | None = None

    async def __aenter__(self) -> AsyncClient:
        self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._channel is not None:
            channel, self._channel, self._stubs = self._channel, None, None
            await channel.close()

    def _open(self) -> Stubs:
        if self._stubs is None:
            self._channel = grpc.aio.insecure_channel(self.endpoint, options=channel_options())
            self._stubs = Stubs.for_channel(self._channel)
        return self._stubs

    async def _unary(self, rpc: Unary[T]) -> T:
        method = getattr(getattr(self._open(), rpc.stub), rpc.method)
        retry = OverloadRetry(self.overload_budget)
        while True:
            async with self._semaphore:
                try:
                    response: T = await method(rpc.request, timeout=self.timeout)
                    return response
                except grpc.RpcError as err:
                    error = from_rpc_error(err)
                    wait = retry.wait(error)
                    if wait is None:
                        raise retry.gave_up(error) from err
            await asyncio.sleep(wait)  # shed before anything was done: see client.overload

    def _list(self, rpc: Listing[T]) -> Pages[T]:
        return Pages(lambda: self._pages(rpc))

    async def _pages(self, rpc: Listing[T]) -> AsyncGenerator[T, None]:
        page = rpc.first_page()
        tokens = PageTokens()
        while True:
            response: Any = await self._unary(page)
            for item in getattr(response, rpc.field):
                yield item
            if not tokens.advance(page.request, response.next_page_token):
                return

    async def _watch(
        self, request: server_pb2.WatchServersRequest, deadline: float | None
    ) -> AsyncGenerator[server_pb2.ServerChange, None]:
        call = self._open().servers.WatchServers(request, timeout=deadline)
        try:
            async for change in call:
                yield change
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err
        finally:
            call.cancel()

    # --- servers -----------------------------------------------------------------------------

    async def create_server(
        self,
        server_id: str,
        *,
        flavor: str,
        image: str,
        project: str | None = None,
        metadata: Mapping[str, str] | None = None,
        request_id: str | None = None,
        availability_zone: str = "",
        server_group: str | None = None,
        kernel_image: str | None = None,
        ramdisk_image: str | None = None,
        kernel_args: str = "",
        host_failure_policy: int | str = 0,
    ) -> server_pb2.Server:
        """`availability_zone`: only hosts of that zone; `server_group`: join that group (its
        id or full name) so its policy (affinity, anti-affinity…) decides the host;
        `kernel_image`, `ramdisk_image`, `kernel_args`: boot this kernel (aki), initramfs
        (ari) and command line instead of the image's own."""
        project = project or self.project
        return await self._unary(
            build.create_server(
                server_id,
                flavor=flavor,
                image=image,
                project=project,
                metadata=metadata,
                request_id=request_id,
                availability_zone=availability_zone,
                server_group=server_group,
                kernel_image=kernel_image,
                ramdisk_image=ramdisk_image,
                kernel_args=kernel_args,
                host_failure_policy=host_failure_policy,
            )
        )

    async def get_server(self, name: str, project: str | None = None) -> server_pb2.Server:
        project = project or self.project
        return await self._unary(build.get_server(name, project))

    def list_servers(
        self,
        project: str | None = None,
        *,
        vm_state: int | str | None = None,
        host: str | None = None,
        scaling_group: str | None = None,
        page_size: int | None = None,
        filter: str = "",  # the API's name (AIP-160)
        order_by: str = "",
    ) -> Pages[server_pb2.Server]:
        """Every server of the project (all pages), optionally filtered by state, host and
        scaling group (the members of that group) and by an AIP-160 `filter` such as
        `vm_state = ACTIVE AND metadata.env = prod AND name = "web-*"` (docs/api.md#filters),
        in `order_by` ("name", "name desc", "create_time", "create_time desc")."""
        project = project or self.project
        call = build.list_servers(
            project,
            vm_state=vm_state,
            host=host,
            scaling_group=scaling_group,
            page_size=page_size,
            filter=filter,
            order_by=order_by,
        )
        return self._list(call)

    async def delete_server(self, name: str, project: str | None = None, etag: str = "") -> server_pb2.Server:
        project = project or self.project
        return await self._unary(build.delete_server(name, project, etag))

    async def start_server(self, name: str, project: str | None = None, etag: str = "") -> server_pb2.Server:
        project = project or self.project
        return await self._unary(build.start_server(name, project, etag))

    async def stop_server(self, name: str, project: str | None = None, etag: str = "") -> server_pb2.Server:
        project = project or self.project
        return await self._unary(build.stop_server(name, project, etag))

    async def reboot_server(self, name: str, project: str | None = None, etag: str = "") -> server_pb2.Server:
        project = project or self.project
        return await self._unary(build.reboot_server(name, project, etag))

    async def get_console_log(
        self, name: str, project: str | None = None, *, tail_lines: int = 0
    ) -> server_pb2.ConsoleLog:
        """The server's serial console output (the last `tail_lines` lines; 0 = all kept)."""
        project = project or self.project
        return await self._unary(build.get_console_log(name, project, tail_lines))

    async def update_server_metadata(
        self, name: str, metadata: Mapping[str, str], project: str | None = None, etag: str = ""
    ) -> server_pb2.Server:
        """Replace the server's metadata (e.g. `sim.cpu`, the simulated load profile); its
        host hears of it. A non-empty `etag` must match (else Aborted)."""
        project = project or self.project
        return await self._unary(build.update_server_metadata(name, metadata, project, etag))

    def watch_servers(
        self,
        project: str | None = None,
        *,
        filter: str = "",  # the API's name (AIP-160)
        resume_token: str = "",
    ) -> AsyncGenerator[server_pb2.ServerChange, None]:
        """Every ServerChange of the project's servers matching `filter`, snapshot first (or,
        given the `resume_token` of an earlier change or listing, only what changed since);
        runs until closed or cancelled.

        No deadline. Close it with `contextlib.aclosing(...)` or by cancelling the task.
        """
        project = project or self.project
        return self._watch(build.watch_servers(project, filter, resume_token), deadline=None)

    async def wait_for_server(
        self,
        name: str,
        *,
        project: str | None = None,
        until: Collection[int] = DEFAULT_UNTIL,
        on_change: OnChange | None = None,
        timeout: float = DEFAULT_WAIT_TIMEOUT,  # noqa: ASYNC109 - it is the stream's gRPC deadline
    ) -> server_pb2.Server | None:
        """Watch `name` until its vm_state is in `until` with no task in flight (or ERROR).

        Returns the final Server, or None once the server is gone (deleted or absent).
        Raises DeadlineExceeded after `timeout` seconds. A watch that drops because the
        controller went away is re-opened until then.
        """
        project = project or self.project
        full_name = server_name(name, project)
        waiter = ServerWaiter(full_name, until=until, on_change=on_change, timeout=timeout)
        request = build.watch_servers(project_of(full_name) or project)
        while True:
            waiter.restart()
            try:
                async with aclosing(self._watch(request, waiter.remaining())) as changes:
                    async for change in changes:
                        if waiter.feed(change):
                            result: server_pb2.Server | None = waiter.result
                            return result
                waiter.stream_ended()
            except OvercastError as err:
                waiter.stream_failed(err)
            await asyncio.sleep(waiter.backoff())

    # --- server groups -----------------------------------------------------------------------

    async def create_server_group(
        self,
        group_id: str,
        policy: int | str,
        *,
        project: str | None = None,
        request_id: str | None = None,
    ) -> server_group_pb2.ServerGroup:
        """`policy`: AFFINITY, ANTI_AFFINITY, SOFT_AFFINITY or SOFT_ANTI_AFFINITY."""
        project = project or self.project
        call = build.create_server_group(group_id, policy, project=project, request_id=request_id)
        return await self._unary(call)

    async def get_server_group(self, name: str, project: str | None = None) -> server_group_pb2.ServerGroup:
        project = project or self.project
        return await self._unary(build.get_server_group(name, project))

    def list_server_groups(
        self, project: str | None = None, *, page_size: int | None = None
    ) -> Pages[server_group_pb2.ServerGroup]:
        project = project or self.project
        return self._list(build.list_server_groups(project, page_size))

    async def delete_server_group(self, name: str, project: str | None = None, etag: str = "") -> None:
        project = project or self.project
        await self._unary(build.delete_server_group(name, project, etag))

    # --- flavors -----------------------------------------------------------------------------

    def list_flavors(self, *, page_size: int | None = None) -> Pages[flavor_pb2.Flavor]:
        return self._list(build.list_flavors(page_size))

    async def get_flavor(self, name: str) -> flavor_pb2.Flavor:
        return await self._unary(build.get_flavor(name))

    async def create_flavor(
        self,
        flavor_id: str,
        vcpus: int,
        memory_mib: int,
        disk_gib: int,
        description: str = "",
        *,
        request_id: str | None = None,
    ) -> flavor_pb2.Flavor:
        return await self._unary(
            build.create_flavor(flavor_id, vcpus, memory_mib, disk_gib, description, request_id)
        )

    async def delete_flavor(self, name: str, etag: str = "") -> None:
        await self._unary(build.delete_flavor(name, etag))

    # --- hosts -------------------------------------------------------------------------------

    def list_hosts(self, *, page_size: int | None = None) -> Pages[host_pb2.Host]:
        return self._list(build.list_hosts(page_size))

    async def get_host(self, name: str) -> host_pb2.Host:
        return await self._unary(build.get_host(name))

    async def evacuate_host(self, name: str) -> host_pb2.EvacuateHostResponse:
        """Rebuild the servers of a DOWN host elsewhere; the response names them, and those left
        (with why)."""
        return await self._unary(build.evacuate_host(name))

    async def set_host_failure_policy(
        self, name: str, policy: int | str, project: str | None = None, etag: str = ""
    ) -> server_pb2.Server:
        """What happens to the server when its host stays DOWN: NONE (marked) or EVACUATE
        (marked and rebuilt elsewhere)."""
        project = project or self.project
        return await self._unary(build.set_host_failure_policy(name, policy, project, etag))

    async def enable_host(self, name: str, etag: str = "") -> host_pb2.Host:
        return await self._unary(build.enable_host(name, etag))

    async def disable_host(self, name: str, reason: str = "", etag: str = "") -> host_pb2.Host:
        return await self._unary(build.disable_host(name, reason, etag))

    async def watch_host_metrics(
        self, hosts: Iterable[str] = (), *, include_instances: bool = False
    ) -> AsyncGenerator[host_pb2.HostMetricsUpdate, None]:
        """Every metrics sample the controller absorbs (of `hosts`, or all), as it arrives.

        No deadline: runs until closed (`contextlib.aclosing`) or cancelled.
        """
        call = self._open().hosts.WatchHostMetrics(build.watch_host_metrics(hosts, include_instances))
        try:
            async for update in call:
                yield update
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err
        finally:
            call.cancel()

    # --- health ------------------------------------------------------------------------------

    async def health(self, service: str = "") -> str:
        """The grpc.health.v1 serving status name, e.g. "SERVING"."""
        return build.serving_status_name(await self._unary(build.health(service)))
