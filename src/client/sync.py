"""Synchronous Overcast client over one grpc channel; the same methods as `AsyncClient`.

Listings and watches are plain iterators. The channel is thread-safe; a semaphore bounds the
calls in flight across threads, and every unary call carries a deadline.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Collection, Generator, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

import grpc

from overcast.v1 import flavor_pb2, host_pb2, image_pb2, server_group_pb2, server_pb2

from . import build, config, transfer
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
from .names import image_name, project_of, server_name
from .overload import DEFAULT_OVERLOAD_BUDGET, OverloadRetry
from .sync_scaling import ScalingGroupCalls
from .watch import DEFAULT_UNTIL, OnChange, ServerWaiter

T = TypeVar("T")


class Client(ScalingGroupCalls):
    """`with Client("127.0.0.1:50051") as oc: oc.get_server("web-1")`.

    The channel opens on first use. Methods return the API's
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
        self._semaphore = threading.BoundedSemaphore(max_concurrency)
        self._lock = threading.Lock()  # the channel opens once even when threads race
        self._channel: Any = None
        self._stubs: Stubs | None = None

    def __enter__(self) -> Client:
        self._open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            channel, self._channel, self._stubs = self._channel, None, None
        if channel is not None:
            channel.close()

    def _open(self) -> Stubs:
        with self._lock:
            if self._stubs is None:
                self._channel = grpc.insecure_channel(self.endpoint, options=channel_options())
                self._stubs = Stubs.for_channel(self._channel)
            return self._stubs

    def _unary(self, rpc: Unary[T]) -> T:
        method = getattr(getattr(self._open(), rpc.stub), rpc.method)
        retry = OverloadRetry(self.overload_budget)
        while True:
            with self._semaphore:
                try:
                    response: T = method(rpc.request, timeout=self.timeout)
                    return response
                except grpc.RpcError as err:
                    error = from_rpc_error(err)
                    wait = retry.wait(error)
                    if wait is None:
                        raise retry.gave_up(error) from err
            time.sleep(wait)  # shed before anything was done: see client.overload

    def _list(self, rpc: Listing[T]) -> Generator[T, None, None]:
        page = rpc.first_page()
        tokens = PageTokens()
        while True:
            response: Any = self._unary(page)
            yield from getattr(response, rpc.field)
            if not tokens.advance(page.request, response.next_page_token):
                return

    def _watch(
        self, request: server_pb2.WatchServersRequest, deadline: float | None
    ) -> Generator[server_pb2.ServerChange, None, None]:
        call = self._open().servers.WatchServers(request, timeout=deadline)
        try:
            yield from call
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err
        finally:
            call.cancel()

    # --- servers -----------------------------------------------------------------------------

    def create_server(
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
        return self._unary(
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

    def get_server(self, name: str, project: str | None = None) -> server_pb2.Server:
        project = project or self.project
        return self._unary(build.get_server(name, project))

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
    ) -> Iterator[server_pb2.Server]:
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

    def delete_server(self, name: str, project: str | None = None, etag: str = "") -> server_pb2.Server:
        project = project or self.project
        return self._unary(build.delete_server(name, project, etag))

    def start_server(self, name: str, project: str | None = None, etag: str = "") -> server_pb2.Server:
        project = project or self.project
        return self._unary(build.start_server(name, project, etag))

    def stop_server(self, name: str, project: str | None = None, etag: str = "") -> server_pb2.Server:
        project = project or self.project
        return self._unary(build.stop_server(name, project, etag))

    def reboot_server(self, name: str, project: str | None = None, etag: str = "") -> server_pb2.Server:
        project = project or self.project
        return self._unary(build.reboot_server(name, project, etag))

    def get_console_log(
        self, name: str, project: str | None = None, *, tail_lines: int = 0
    ) -> server_pb2.ConsoleLog:
        """The server's serial console output (the last `tail_lines` lines; 0 = all kept)."""
        project = project or self.project
        return self._unary(build.get_console_log(name, project, tail_lines))

    def update_server_metadata(
        self, name: str, metadata: Mapping[str, str], project: str | None = None, etag: str = ""
    ) -> server_pb2.Server:
        """Replace the server's metadata (e.g. `sim.cpu`, the simulated load profile); its
        host hears of it. A non-empty `etag` must match (else Aborted)."""
        project = project or self.project
        return self._unary(build.update_server_metadata(name, metadata, project, etag))

    def watch_servers(
        self,
        project: str | None = None,
        *,
        filter: str = "",  # the API's name (AIP-160)
        resume_token: str = "",
    ) -> Generator[server_pb2.ServerChange, None, None]:
        """Every ServerChange of the project's servers matching `filter`, snapshot first (or,
        given the `resume_token` of an earlier change or listing, only what changed since);
        runs until closed.

        No deadline. Stop it by breaking out of the loop and calling `.close()` on it.
        """
        project = project or self.project
        return self._watch(build.watch_servers(project, filter, resume_token), deadline=None)

    def wait_for_server(
        self,
        name: str,
        *,
        project: str | None = None,
        until: Collection[int] = DEFAULT_UNTIL,
        on_change: OnChange | None = None,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
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
            changes = self._watch(request, waiter.remaining())
            try:
                for change in changes:
                    if waiter.feed(change):
                        result: server_pb2.Server | None = waiter.result
                        return result
                waiter.stream_ended()
            except OvercastError as err:
                waiter.stream_failed(err)
            finally:
                changes.close()
            time.sleep(waiter.backoff())

    # --- server groups -----------------------------------------------------------------------

    def create_server_group(
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
        return self._unary(call)

    def get_server_group(self, name: str, project: str | None = None) -> server_group_pb2.ServerGroup:
        project = project or self.project
        return self._unary(build.get_server_group(name, project))

    def list_server_groups(
        self, project: str | None = None, *, page_size: int | None = None
    ) -> Iterator[server_group_pb2.ServerGroup]:
        project = project or self.project
        return self._list(build.list_server_groups(project, page_size))

    def delete_server_group(self, name: str, project: str | None = None, etag: str = "") -> None:
        project = project or self.project
        self._unary(build.delete_server_group(name, project, etag))

    # --- flavors -----------------------------------------------------------------------------

    def list_flavors(self, *, page_size: int | None = None) -> Iterator[flavor_pb2.Flavor]:
        return self._list(build.list_flavors(page_size))

    def get_flavor(self, name: str) -> flavor_pb2.Flavor:
        return self._unary(build.get_flavor(name))

    def create_flavor(
        self,
        flavor_id: str,
        vcpus: int,
        memory_mib: int,
        disk_gib: int,
        description: str = "",
        *,
        request_id: str | None = None,
    ) -> flavor_pb2.Flavor:
        return self._unary(
            build.create_flavor(flavor_id, vcpus, memory_mib, disk_gib, description, request_id)
        )

    def delete_flavor(self, name: str, etag: str = "") -> None:
        self._unary(build.delete_flavor(name, etag))

    # --- images ------------------------------------------------------------------------------

    def create_image(
        self,
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
    ) -> image_pb2.Image:
        """Register an image (QUEUED, metadata only); `upload_image_data` adds its data."""
        return self._unary(
            build.create_image(
                image_id,
                disk_format,
                min_disk_gib=min_disk_gib,
                min_memory_mib=min_memory_mib,
                properties=properties,
                request_id=request_id,
                kernel_image=kernel_image,
                ramdisk_image=ramdisk_image,
                kernel_args=kernel_args,
            )
        )

    def upload_image(
        self,
        image_id: str,
        path: str | os.PathLike[str],
        disk_format: str,
        *,
        min_disk_gib: int = 0,
        min_memory_mib: int = 0,
        properties: Mapping[str, str] | None = None,
        kernel_image: str | None = None,
        ramdisk_image: str | None = None,
        kernel_args: str = "",
        request_id: str | None = None,
        on_progress: transfer.OnProgress | None = None,
    ) -> image_pb2.Image:
        """Create an image and upload the file at `path` as its data; returns it IMAGE_ACTIVE.

        If the upload fails the image stays QUEUED (retry with `upload_image_data`).
        """
        transfer.file_size(path)  # refuse a missing file before creating anything
        image = self.create_image(
            image_id,
            disk_format,
            min_disk_gib=min_disk_gib,
            min_memory_mib=min_memory_mib,
            properties=properties,
            request_id=request_id,
            kernel_image=kernel_image,
            ramdisk_image=ramdisk_image,
            kernel_args=kernel_args,
        )
        return self.upload_image_data(image.name, path, on_progress=on_progress)

    def upload_image_data(
        self,
        name: str,
        path: str | os.PathLike[str],
        *,
        on_progress: transfer.OnProgress | None = None,
        timeout: float | None = None,
    ) -> image_pb2.Image:
        """Upload the file at `path` as the data of a QUEUED image: its sha256 first, then the
        bytes in 1 MiB chunks. The deadline defaults to the call timeout plus 1 s per MiB.
        `on_progress` is called from gRPC's thread while the chunks go out."""
        size = transfer.file_size(path)
        checksum = transfer.file_sha256(path, size, on_progress)
        requests = transfer.upload_requests(image_name(name), path, size, checksum, on_progress)
        deadline = timeout or transfer.transfer_timeout(self.timeout, size)
        try:
            image: image_pb2.Image = self._open().images.UploadImageData(requests, timeout=deadline)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err
        finally:
            with contextlib.suppress(ValueError):  # still being read by gRPC's thread
                requests.close()
        return image

    def download_image(
        self,
        name: str,
        path: str | os.PathLike[str],
        *,
        on_progress: transfer.OnProgress | None = None,
        timeout: float | None = None,
    ) -> image_pb2.Image:
        """Download an IMAGE_ACTIVE image's data into `path`, verified against its sha256."""
        image = self.get_image(name)
        target = transfer.DownloadFile(path, image)
        deadline = timeout or transfer.transfer_timeout(self.timeout, image.size_bytes)
        request = image_pb2.DownloadImageDataRequest(name=image.name)
        target.open()
        call = self._open().images.DownloadImageData(request, timeout=deadline)
        try:
            for chunk in call:
                target.write(chunk)
                if on_progress is not None:
                    on_progress("download", target.received, image.size_bytes)
            target.finish()
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err
        finally:
            call.cancel()
            target.discard()
        return image

    def list_images(self, *, page_size: int | None = None) -> Iterator[image_pb2.Image]:
        return self._list(build.list_images(page_size))

    def get_image(self, name: str) -> image_pb2.Image:
        return self._unary(build.get_image(name))

    def delete_image(self, name: str, etag: str = "") -> None:
        self._unary(build.delete_image(name, etag))

    # --- hosts -------------------------------------------------------------------------------

    def list_hosts(self, *, page_size: int | None = None) -> Iterator[host_pb2.Host]:
        return self._list(build.list_hosts(page_size))

    def get_host(self, name: str) -> host_pb2.Host:
        return self._unary(build.get_host(name))

    def evacuate_host(self, name: str) -> host_pb2.EvacuateHostResponse:
        """Rebuild the servers of a DOWN host elsewhere; the response names them, and those left
        (with why)."""
        return self._unary(build.evacuate_host(name))

    def set_host_failure_policy(
        self, name: str, policy: int | str, project: str | None = None, etag: str = ""
    ) -> server_pb2.Server:
        """What happens to the server when its host stays DOWN: NONE (marked) or EVACUATE
        (marked and rebuilt elsewhere)."""
        project = project or self.project
        return self._unary(build.set_host_failure_policy(name, policy, project, etag))

    def enable_host(self, name: str, etag: str = "") -> host_pb2.Host:
        return self._unary(build.enable_host(name, etag))

    def disable_host(self, name: str, reason: str = "", etag: str = "") -> host_pb2.Host:
        return self._unary(build.disable_host(name, reason, etag))

    def watch_host_metrics(
        self, hosts: Iterable[str] = (), *, include_instances: bool = False
    ) -> Generator[host_pb2.HostMetricsUpdate, None, None]:
        """Every metrics sample the controller absorbs (of `hosts`, or all), as it arrives.

        No deadline: stop it by breaking out of the loop and calling `.close()` on it.
        """
        call = self._open().hosts.WatchHostMetrics(build.watch_host_metrics(hosts, include_instances))
        try:
            yield from call
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err
        finally:
            call.cancel()

    # --- health ------------------------------------------------------------------------------

    def health(self, service: str = "") -> str:
        """The grpc.health.v1 serving status name, e.g. "SERVING"."""
        return build.serving_status_name(self._unary(build.health(service)))
