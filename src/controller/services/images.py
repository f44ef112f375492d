"""Image use cases, as Glance is to Nova: register, list, delete, upload and download data.

An image is created QUEUED (metadata only). Its data arrives in one upload: SAVING while the
bytes stream into a temporary file and are hashed, IMAGE_ACTIVE once every announced byte
arrived, the sha256 matched and the bytes are what the disk_format says. Any failure (checksum
mismatch, too few or too many bytes, a cancelled call, a bad header) removes the temporary
file and puts the image back to QUEUED, as if the upload never began.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import structlog

from controller.domain import boot, limits, names, paging
from controller.domain.errors import (
    DeadlineExceeded,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    ViolationCollector,
)
from controller.domain.image_format import HEADER_BYTES, ImageFormatError, virtual_size
from controller.domain.model import Image, ImageStatus
from controller.domain.requests import RequestIdTaken, RequestRecord, parameters
from controller.services.request_ids import raced, replay

log = structlog.get_logger(__name__)

CHUNK_BYTES = 1024 * 1024
IDLE_TIMEOUT_S = 60.0  # an upload that sends nothing for this long is abandoned
DEFAULT_MAX_IMAGE_BYTES = 20 * 1024**3
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


# --- ports -----------------------------------------------------------------------------------


class ImageRecords(Protocol):
    async def create_image(
        self, image: Image, request_id: str | None, params: Mapping[str, Any] | None = None
    ) -> Image:
        """RequestIdTaken when another create has the request id (domain.requests)."""
        ...

    async def find_request(self, kind: Literal["image"], request_id: str) -> RequestRecord | None: ...
    async def get_image(self, image_id: str) -> Image: ...
    async def list_images(self, *, after: str | None, limit: int) -> list[Image]: ...
    async def delete_image(
        self,
        image_id: str,
        etag: str,
        on_last_copy: Callable[[str], Awaitable[None]] | None = None,
    ) -> None: ...


class UploadLease(Protocol):
    image: Image
    stale: bool

    def data_lock(self, checksum: str) -> AbstractAsyncContextManager[None]: ...
    async def activate(self, size_bytes: int, checksum: str, virtual_size_bytes: int) -> Image: ...


class UploadLeases(Protocol):
    def lease(self, image_id: str) -> AbstractAsyncContextManager[UploadLease]: ...


class BlobUpload(Protocol):
    size: int
    head: bytes

    async def write(self, chunk: bytes) -> None: ...
    def hexdigest(self) -> str: ...
    async def commit(self, checksum: str) -> None: ...
    async def discard(self) -> None: ...


class BlobReader(Protocol):
    async def read(self, offset: int, size: int) -> bytes: ...
    async def close(self) -> None: ...


class BlobStore(Protocol):
    async def begin(self, image_id: str) -> BlobUpload: ...
    async def discard_partials(self, image_id: str) -> int: ...
    async def open(self, checksum: str) -> BlobReader: ...
    async def remove(self, checksum: str) -> None: ...


# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewImage:
    image_id: str
    disk_format: str
    min_disk_gib: int = 0
    min_memory_mib: int = 0
    properties: Mapping[str, str] | None = None
    kernel_image: str = ""  # "images/{aki}"
    ramdisk_image: str = ""  # "images/{ari}"
    kernel_args: str = ""
    request_id: str = ""


@dataclass(frozen=True)
class UploadHeader:
    """The first message of an upload: which image, and what the data will be."""

    name: str
    size_bytes: int
    checksum_sha256: str


class ImageService:
    def __init__(
        self,
        records: ImageRecords,
        uploads: UploadLeases,
        blobs: BlobStore,
        *,
        max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
    ) -> None:
        self._records = records
        self._uploads = uploads
        self._blobs = blobs
        self._max_bytes = max_image_bytes
        self._idle_timeout_s = idle_timeout_s

    # --- metadata ----------------------------------------------------------------------------

    async def create(self, req: NewImage) -> Image:
        v = ViolationCollector()
        v.check(lambda: names.check_catalog_id(req.image_id, "image_id"))
        if req.disk_format not in limits.DISK_FORMATS:
            formats = ", ".join(limits.DISK_FORMATS)
            v.add("image.disk_format", f"{req.disk_format!r} is not one of {formats}")
        limits.check_range(v, "image.min_disk_gib", req.min_disk_gib, 0, limits.MAX_DISK_GIB)
        limits.check_range(v, "image.min_memory_mib", req.min_memory_mib, 0, limits.MAX_MEMORY_MIB)
        limits.check_metadata(v, "image.properties", dict(req.properties or {}))
        limits.check_request_id(v, req.request_id)
        kernel_id = v.check(lambda: _optional_image(req.kernel_image, "image.kernel_image"))
        ramdisk_id = v.check(lambda: _optional_image(req.ramdisk_image, "image.ramdisk_image"))
        boot.check_kernel_args(v, "image.kernel_args", req.kernel_args)
        if (kernel_id or ramdisk_id or req.kernel_args) and req.disk_format not in boot.ROOT_FORMATS:
            v.add("image.kernel_image", "only a qcow2 or raw root disk image boots with a kernel")
        if (ramdisk_id or req.kernel_args) and not req.kernel_image:
            v.add("image.kernel_image", "a ramdisk or kernel_args need a kernel image too")
        v.raise_if_any()
        given = parameters(req)

        async def retry() -> Image | None:
            return await replay(
                req.request_id,
                given,
                find=lambda: self._records.find_request("image", req.request_id),
                made=lambda record: self._records.get_image(names.parse_image(record.resource)),
                field_name=lambda f: f if f == "image_id" else f"image.{f}",
            )

        if (done := await retry()) is not None:
            return done
        for part_id, want, field in (
            (kernel_id, boot.KERNEL_FORMAT, "image.kernel_image"),
            (ramdisk_id, boot.RAMDISK_FORMAT, "image.ramdisk_image"),
        ):
            if part_id:
                part = await self._records.get_image(part_id)  # NOT_FOUND names it
                if part.disk_format != want:
                    raise InvalidArgument.single(
                        field, f"images/{part_id} is a {part.disk_format} image, not {want}"
                    )
        # No data yet: the image stays QUEUED, as in Glance.
        image = Image(
            req.image_id,
            req.disk_format,
            req.min_disk_gib,
            req.min_memory_mib,
            ImageStatus.QUEUED,
            properties=dict(req.properties or {}),
            kernel_image=kernel_id,
            ramdisk_image=ramdisk_id,
            kernel_args=req.kernel_args,
        )
        try:
            return await self._records.create_image(image, req.request_id or None, given)
        except RequestIdTaken:
            return await raced(req.request_id, retry)

    async def get(self, name: str) -> Image:
        return await self._records.get_image(names.parse_image(name))

    async def list(self, page_size: int, page_token: str) -> tuple[list[Image], str]:
        return await paging.fetch_page(
            page_size,
            page_token,
            "images",
            lambda after, limit: self._records.list_images(after=after, limit=limit),
            lambda i: i.id,
        )

    async def delete(self, name: str, etag: str) -> None:
        await self._records.delete_image(names.parse_image(name), etag, on_last_copy=self._remove_data)

    async def _remove_data(self, checksum: str) -> None:
        try:
            await self._blobs.remove(checksum)
        except OSError as exc:  # the image is gone either way; the file is only wasted space
            log.warning("image.data_not_removed", checksum=checksum, error=str(exc))

    # --- data --------------------------------------------------------------------------------

    def _check_header(self, h: UploadHeader) -> tuple[str, str]:
        v = ViolationCollector()
        image_id = v.check(lambda: names.parse_image(h.name, "name"))
        if h.size_bytes <= 0:
            v.add("size_bytes", f"announce the size of the data in bytes (got {h.size_bytes})")
        elif h.size_bytes > self._max_bytes:
            v.add(
                "size_bytes",
                f"{h.size_bytes} bytes is more than this controller accepts ({self._max_bytes} bytes)",
            )
        checksum = h.checksum_sha256.strip().lower()
        if not _SHA256.fullmatch(checksum):
            v.add("checksum_sha256", "announce the sha256 of the data as 64 hex digits")
        v.raise_if_any()
        return image_id, checksum

    async def upload(self, header: UploadHeader, chunks: AsyncIterator[bytes]) -> Image:
        try:
            return await self._upload(header, chunks)
        except DomainError as exc:
            log.info("image.upload_refused", image=header.name, reason=exc.reason, error=exc.message)
            raise
        except asyncio.CancelledError:
            log.info("image.upload_cancelled", image=header.name)
            raise

    async def _upload(self, header: UploadHeader, chunks: AsyncIterator[bytes]) -> Image:
        image_id, checksum = self._check_header(header)
        size = header.size_bytes
        async with self._uploads.lease(image_id) as lease:
            if lease.stale:
                await self._blobs.discard_partials(image_id)
            blob = await self._blobs.begin(image_id)
            try:
                disk_format = lease.image.disk_format
                await self._receive(blob, chunks, size, disk_format)
                virtual = _virtual_size(disk_format, blob)
                got = blob.hexdigest()
                if got != checksum:
                    raise InvalidArgument.single(
                        "checksum_sha256",
                        f"the data received has sha256 {got}, not the announced {checksum}: "
                        "the file changed or was corrupted in transit; upload it again",
                    )
                async with lease.data_lock(checksum):
                    await blob.commit(checksum)
                    image = await lease.activate(size, checksum, virtual)
            finally:
                # Shielded: a cancelled upload must still remove its temporary file.
                await asyncio.shield(blob.discard())
        log.info("image.uploaded", image=image_id, size=size, checksum=checksum)
        return image

    async def _receive(
        self, blob: BlobUpload, chunks: AsyncIterator[bytes], size: int, disk_format: str
    ) -> None:
        checked_head = False
        while True:
            try:
                async with asyncio.timeout(self._idle_timeout_s):
                    chunk = await anext(chunks, None)
            except TimeoutError as exc:
                raise DeadlineExceeded(
                    f"the upload sent nothing for {self._idle_timeout_s:g} s after {blob.size} of "
                    f"{size} bytes: abandoned"
                ) from exc
            if chunk is None:
                break
            if blob.size + len(chunk) > size:
                raise InvalidArgument.single(
                    "chunk", f"more data than the announced size_bytes {size}: announce the real size"
                )
            await blob.write(chunk)
            if not checked_head and len(blob.head) >= HEADER_BYTES:
                checked_head = True  # fail fast on the wrong format, before gigabytes arrive
                _virtual_size(disk_format, blob)
        if blob.size < size:
            raise InvalidArgument.single(
                "size_bytes", f"the upload ended after {blob.size} of the announced {size} bytes"
            )

    async def download(self, name: str, offset: int) -> tuple[Image, AsyncGenerator[bytes, None]]:
        """The image and its data from `offset`, in chunks of CHUNK_BYTES; only when ACTIVE."""
        image = await self.get(name)
        if image.status is not ImageStatus.ACTIVE:
            raise FailedPrecondition(
                f"images/{image.id} is {image.status.value}: it has no data to download until an "
                "upload completes",
                reason="IMAGE_NOT_ACTIVE",
            )
        if offset < 0 or offset > image.size_bytes:
            raise InvalidArgument.single(
                "offset", f"must be between 0 and the image's size {image.size_bytes}, got {offset}"
            )
        return image, _chunks(self._blobs, image.checksum_sha256, offset, image.size_bytes)


async def _chunks(blobs: BlobStore, checksum: str, offset: int, size: int) -> AsyncGenerator[bytes, None]:
    # The file opens on the first read: a stream closed before it started holds nothing open.
    reader = await blobs.open(checksum)
    try:
        while offset < size:
            data = await reader.read(offset, min(CHUNK_BYTES, size - offset))
            if not data:
                raise FailedPrecondition(
                    f"the stored data ends at byte {offset} of {size}: the image store lost data",
                    reason="IMAGE_DATA_MISSING",
                )
            yield data
            offset += len(data)
    finally:
        await asyncio.shield(reader.close())


def _virtual_size(disk_format: str, blob: BlobUpload) -> int:
    try:
        return virtual_size(disk_format, blob.head, blob.size)
    except ImageFormatError as exc:
        raise InvalidArgument.single("chunk", f"disk_format {disk_format}: {exc}") from exc


def _optional_image(name: str, field: str) -> str:
    return names.parse_image(name, field) if name else ""
