"""The asynchronous client's image calls (metadata, upload and download with progress), a part
of `AsyncClient` kept apart for its size."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncGenerator, Mapping
from typing import TypeVar

import grpc

from overcast.v1 import image_pb2

from . import build, transfer
from .build import Listing, Unary
from .channel import Stubs
from .errors import from_rpc_error
from .names import image_name
from .pages import Pages

T = TypeVar("T")


def _in_loop(on_progress: transfer.OnProgress | None) -> transfer.OnProgress | None:
    """`on_progress`, called on the running event loop from whichever thread reports."""
    if on_progress is None:
        return None
    loop = asyncio.get_running_loop()

    def report(phase: str, done: int, total: int) -> None:
        loop.call_soon_threadsafe(on_progress, phase, done, total)

    return report


class ImageCalls:
    """Mixed into AsyncClient, which provides the channel and the call plumbing below."""

    timeout: float

    def _open(self) -> Stubs:
        raise NotImplementedError

    async def _unary(self, rpc: Unary[T]) -> T:
        raise NotImplementedError

    def _list(self, rpc: Listing[T]) -> Pages[T]:
        raise NotImplementedError

    # --- images ------------------------------------------------------------------------------

    async def create_image(
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
        return await self._unary(
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

    async def upload_image(
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
        image = await self.create_image(
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
        return await self.upload_image_data(image.name, path, on_progress=on_progress)

    async def upload_image_data(
        self,
        name: str,
        path: str | os.PathLike[str],
        *,
        on_progress: transfer.OnProgress | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - it is the stream's gRPC deadline
    ) -> image_pb2.Image:
        """Upload the file at `path` as the data of a QUEUED image: its sha256 first, then the
        bytes in 1 MiB chunks. The deadline defaults to the call timeout plus 1 s per MiB."""
        size = transfer.file_size(path)
        progress = _in_loop(on_progress)  # the file is read in worker threads
        checksum = await asyncio.to_thread(transfer.file_sha256, path, size, progress)
        requests = transfer.upload_requests(image_name(name), path, size, checksum, progress)

        async def stream() -> AsyncGenerator[image_pb2.UploadImageDataRequest, None]:
            while (message := await asyncio.to_thread(next, requests, None)) is not None:
                yield message

        deadline = timeout or transfer.transfer_timeout(self.timeout, size)
        try:
            image: image_pb2.Image = await self._open().images.UploadImageData(stream(), timeout=deadline)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err
        finally:
            with contextlib.suppress(ValueError):  # still reading in a worker thread
                requests.close()
        return image

    async def download_image(
        self,
        name: str,
        path: str | os.PathLike[str],
        *,
        on_progress: transfer.OnProgress | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - it is the stream's gRPC deadline
    ) -> image_pb2.Image:
        """Download an IMAGE_ACTIVE image's data into `path`, verified against its sha256."""
        image = await self.get_image(name)
        target = transfer.DownloadFile(path, image)
        deadline = timeout or transfer.transfer_timeout(self.timeout, image.size_bytes)
        request = image_pb2.DownloadImageDataRequest(name=image.name)
        await asyncio.to_thread(target.open)
        call = self._open().images.DownloadImageData(request, timeout=deadline)
        try:
            async for chunk in call:
                await asyncio.to_thread(target.write, chunk)
                if on_progress is not None:
                    on_progress("download", target.received, image.size_bytes)
            await asyncio.to_thread(target.finish)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err
        finally:
            call.cancel()
            await asyncio.to_thread(target.discard)
        return image

    def list_images(self, *, page_size: int | None = None) -> Pages[image_pb2.Image]:
        return self._list(build.list_images(page_size))

    async def get_image(self, name: str) -> image_pb2.Image:
        return await self._unary(build.get_image(name))

    async def delete_image(self, name: str, etag: str = "") -> None:
        await self._unary(build.delete_image(name, etag))
