"""The upload and download use cases over the real file store and an in-memory catalogue:
every failure leaves the image QUEUED with nothing stored; kernel references are checked."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from controller.domain.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from controller.domain.model import Image, ImageStatus
from controller.domain.requests import RequestRecord
from controller.services.images import ImageService, NewImage, UploadHeader
from controller.storage.image_store import FileImageStore


class FakeLease:
    def __init__(self, records: FakeRecords, image: Image) -> None:
        self._records = records
        self.image = image
        self.stale = False
        self.locked: list[str] = []

    @asynccontextmanager
    async def data_lock(self, checksum: str) -> AsyncIterator[None]:
        self.locked.append(checksum)
        yield

    async def activate(self, size_bytes: int, checksum: str, virtual_size_bytes: int) -> Image:
        self.image = dataclasses.replace(
            self.image,
            status=ImageStatus.ACTIVE,
            size_bytes=size_bytes,
            checksum_sha256=checksum,
            virtual_size_bytes=virtual_size_bytes,
        )
        self._records.images[self.image.id] = self.image
        return self.image


class FakeRecords:
    """ImageRecords and UploadLeases, as the PostgreSQL adapters behave."""

    def __init__(self) -> None:
        self.images: dict[str, Image] = {}

    async def create_image(
        self, image: Image, request_id: str | None, params: Mapping[str, Any] | None = None
    ) -> Image:
        self.images[image.id] = image
        return image

    async def find_request(self, kind: str, request_id: str) -> RequestRecord | None:
        return None  # request ids: tests/unit/controller/test_request_ids.py

    async def get_image(self, image_id: str) -> Image:
        if image_id not in self.images:
            raise NotFound(f"images/{image_id}")
        return self.images[image_id]

    async def list_images(self, *, after: str | None, limit: int) -> list[Image]:
        return sorted(self.images.values(), key=lambda i: i.id)[:limit]

    async def delete_image(
        self,
        image_id: str,
        etag: str,
        on_last_copy: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        gone = self.images.pop(image_id)
        others = [i for i in self.images.values() if i.checksum_sha256 == gone.checksum_sha256]
        if gone.checksum_sha256 and not others and on_last_copy is not None:
            await on_last_copy(gone.checksum_sha256)

    @asynccontextmanager
    async def lease(self, image_id: str) -> AsyncIterator[FakeLease]:
        image = await self.get_image(image_id)
        if image.status is not ImageStatus.QUEUED:
            raise FailedPrecondition(f"images/{image_id} is {image.status.value}")
        self.images[image_id] = dataclasses.replace(image, status=ImageStatus.SAVING)
        lease = FakeLease(self, self.images[image_id])
        try:
            yield lease
        finally:
            if self.images[image_id].status is ImageStatus.SAVING:
                self.images[image_id] = dataclasses.replace(image, status=ImageStatus.QUEUED)


@pytest.fixture
def records() -> FakeRecords:
    r = FakeRecords()
    for image_id, fmt in (("disk", "raw"), ("q", "qcow2"), ("kernel", "aki"), ("initrd", "ari")):
        r.images[image_id] = Image(image_id, fmt)
    return r


@pytest.fixture
def store(tmp_path: Path) -> FileImageStore:
    s = FileImageStore(tmp_path / "store")
    s.prepare()
    return s


@pytest.fixture
def service(records: FakeRecords, store: FileImageStore) -> ImageService:
    return ImageService(records, records, store, max_image_bytes=10_000, idle_timeout_s=0.2)


def stored(store: FileImageStore) -> list[Path]:
    return [p for p in store.root.rglob("*") if p.is_file()]


async def stream(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def pieces(data: bytes, size: int = 700) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def upload(service: ImageService, image: str, data: bytes, **announce: object) -> Image:
    header = UploadHeader(
        f"images/{image}",
        int(announce.get("size", len(data))),  # type: ignore[call-overload]
        str(announce.get("checksum", hashlib.sha256(data).hexdigest())),
    )
    return await service.upload(header, stream(pieces(data)))


async def test_upload_activates_with_size_checksum_and_virtual_size(
    service: ImageService, records: FakeRecords, store: FileImageStore
) -> None:
    data = os.urandom(5000)
    image = await upload(service, "disk", data)
    checksum = hashlib.sha256(data).hexdigest()
    assert (image.status, image.size_bytes, image.checksum_sha256) == (ImageStatus.ACTIVE, 5000, checksum)
    assert image.virtual_size_bytes == 5000
    assert records.images["disk"] == image
    assert stored(store) == [store.path(checksum)]

    got, chunks = await service.download("images/disk", 1234)
    assert got == image
    assert b"".join([c async for c in chunks]) == data[1234:]


@pytest.mark.parametrize(
    ("data", "announce", "error", "says"),
    [
        (b"a" * 3000, {"checksum": "0" * 64}, InvalidArgument, "not the announced"),
        (b"a" * 3000, {"size": 4000}, InvalidArgument, "ended after 3000 of the announced 4000"),
        (b"a" * 3000, {"size": 2000}, InvalidArgument, "more data than the announced size_bytes 2000"),
        (b"a" * 3000, {"size": 20_000}, InvalidArgument, "more than this controller accepts"),
        (b"a" * 3000, {"size": 0}, InvalidArgument, "announce the size"),
        (b"a" * 3000, {"checksum": "xyz"}, InvalidArgument, "64 hex digits"),
        (b"QFI\xfb" + b"\0" * 600, {}, InvalidArgument, "is a qcow2 image, not raw"),
    ],
)
async def test_refused_uploads_leave_nothing(
    service: ImageService,
    records: FakeRecords,
    store: FileImageStore,
    data: bytes,
    announce: dict[str, object],
    error: type[Exception],
    says: str,
) -> None:
    with pytest.raises(error, match=says):
        await upload(service, "disk", data, **announce)
    assert records.images["disk"].status is ImageStatus.QUEUED
    assert stored(store) == []


async def test_qcow2_with_a_bad_header_fails_before_the_rest_arrives(
    service: ImageService, records: FakeRecords, store: FileImageStore
) -> None:
    consumed = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal consumed
        for _ in range(10):
            consumed += 1
            yield b"\0" * 600

    with pytest.raises(InvalidArgument, match="not a qcow2 image"):
        await service.upload(UploadHeader("images/q", 6000, "0" * 64), chunks())
    assert consumed == 1
    assert records.images["q"].status is ImageStatus.QUEUED and stored(store) == []


async def test_an_idle_upload_is_abandoned(
    service: ImageService, records: FakeRecords, store: FileImageStore
) -> None:
    async def stalls() -> AsyncIterator[bytes]:
        yield b"a" * 100
        await asyncio.sleep(5)
        yield b"a" * 100

    with pytest.raises(DeadlineExceeded, match=r"sent nothing for 0\.2 s after 100 of 200 bytes"):
        await service.upload(UploadHeader("images/disk", 200, "0" * 64), stalls())
    assert records.images["disk"].status is ImageStatus.QUEUED and stored(store) == []


async def test_a_cancelled_upload_leaves_nothing(
    service: ImageService, records: FakeRecords, store: FileImageStore
) -> None:
    started = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"a" * 100
        started.set()
        await asyncio.sleep(5)
        yield b"a" * 100

    task = asyncio.create_task(service.upload(UploadHeader("images/disk", 200, "0" * 64), slow()))
    await started.wait()
    assert records.images["disk"].status is ImageStatus.SAVING
    assert len(stored(store)) == 1  # the temporary file
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert records.images["disk"].status is ImageStatus.QUEUED and stored(store) == []


async def test_only_a_queued_image_takes_data(service: ImageService) -> None:
    await upload(service, "disk", b"x" * 100)
    with pytest.raises(FailedPrecondition, match="IMAGE_ACTIVE"):
        await upload(service, "disk", b"x" * 100)


async def test_download_needs_active_data_and_a_sane_offset(service: ImageService) -> None:
    with pytest.raises(FailedPrecondition, match="QUEUED: it has no data"):
        await service.download("images/disk", 0)
    with pytest.raises(NotFound):
        await service.download("images/nope", 0)
    await upload(service, "disk", b"x" * 100)
    for offset in (-1, 101):
        with pytest.raises(InvalidArgument, match="offset"):
            await service.download("images/disk", offset)
    _, chunks = await service.download("images/disk", 100)
    assert [c async for c in chunks] == []


async def test_deleting_the_last_copy_removes_the_file(
    service: ImageService, records: FakeRecords, store: FileImageStore
) -> None:
    records.images["twin"] = Image("twin", "raw")
    await upload(service, "disk", b"same" * 50)
    await upload(service, "twin", b"same" * 50)
    assert len(stored(store)) == 1
    await service.delete("images/disk", "")
    assert len(stored(store)) == 1
    await service.delete("images/twin", "")
    assert stored(store) == []


async def test_create_checks_kernel_and_ramdisk_references(service: ImageService) -> None:
    image = await service.create(
        NewImage("vm", "qcow2", kernel_image="images/kernel", ramdisk_image="images/initrd", kernel_args="ro")
    )
    assert (image.kernel_image, image.ramdisk_image, image.kernel_args, image.status) == (
        "kernel",
        "initrd",
        "ro",
        ImageStatus.QUEUED,
    )
    with pytest.raises(InvalidArgument, match="images/initrd is a ari image, not aki"):
        await service.create(NewImage("vm2", "qcow2", kernel_image="images/initrd"))
    with pytest.raises(NotFound, match="images/missing"):
        await service.create(NewImage("vm2", "qcow2", kernel_image="images/missing"))
    with pytest.raises(InvalidArgument) as info:
        await service.create(
            NewImage("k2", "aki", kernel_image="bogus", ramdisk_image="images/initrd", kernel_args="a\nb")
        )
    fields = {v.field for v in info.value.violations}
    assert fields == {"image.kernel_image", "image.kernel_args"}
    with pytest.raises(InvalidArgument, match="need a kernel image too"):
        await service.create(NewImage("vm3", "raw", kernel_args="console=ttyS0"))
