"""Image data against a real controller: uploads verified and stored by checksum, downloads
byte-identical, every bad upload refused with nothing left behind, kernel boot rules, and the
CLI's `image create --file`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import grpc
import pytest

from client import AsyncClient, OvercastError
from devcluster.processes import Cluster
from overcast.v1 import image_pb2, image_pb2_grpc

IA, NF, FP = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
)
CLI = str(Path(sys.executable).with_name("overcast"))
MIB = 1024 * 1024
GIB = 1024 * MIB


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def qcow2_file(path: Path, virtual_bytes: int) -> Path:
    """A valid, empty qcow2 image: qemu-img when installed, else a hand-made v3 header."""
    if shutil.which("qemu-img"):
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), str(virtual_bytes)], check=True)
        return path
    header = struct.pack(
        ">4sIQIIQIIQQIIQQQQII",
        b"QFI\xfb",
        3,
        0,
        0,
        16,
        virtual_bytes,
        0,
        0,
        0,
        65536,
        1,
        0,
        0,
        0,
        0,
        0,
        4,
        104,
    )
    path.write_bytes(header.ljust(3 * 65536, b"\0"))
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_files(cluster: Cluster) -> set[str]:
    return {p.name for p in (cluster.image_store / "sha256").rglob("*") if p.is_file()}


def partials(cluster: Cluster) -> list[Path]:
    tmp = cluster.image_store / "tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


@pytest.fixture(scope="module")
async def stub(cluster: Cluster) -> AsyncIterator[image_pb2_grpc.ImageServiceStub]:
    async with grpc.aio.insecure_channel(cluster.endpoint) as channel:
        yield image_pb2_grpc.ImageServiceStub(channel)


async def raw_upload(
    stub: image_pb2_grpc.ImageServiceStub,
    name: str,
    size: int,
    checksum: str,
    chunks: Iterable[bytes],
) -> image_pb2.Image:
    async def requests() -> AsyncIterator[image_pb2.UploadImageDataRequest]:
        yield image_pb2.UploadImageDataRequest(name=name, size_bytes=size, checksum_sha256=checksum)
        for chunk in chunks:
            yield image_pb2.UploadImageDataRequest(chunk=chunk)

    image: image_pb2.Image = await stub.UploadImageData(requests(), timeout=30)
    return image


async def refused(
    cluster: Cluster,
    api: AsyncClient,
    stub: image_pb2_grpc.ImageServiceStub,
    data: bytes,
    *,
    announce: int | None = None,
    checksum: str | None = None,
    disk_format: str = "raw",
) -> grpc.aio.AioRpcError:
    """Upload `data` into a fresh image, expect a refusal, and check nothing stayed behind."""
    image = await api.create_image(uid("bad"), disk_format)
    before = stored_files(cluster)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await raw_upload(
            stub,
            image.name,
            len(data) if announce is None else announce,
            checksum or sha256(data),
            [data[i : i + MIB] for i in range(0, len(data), MIB)],
        )
    after = await api.get_image(image.name)
    assert (
        after.status == image_pb2.IMAGE_STATUS_QUEUED and after.size_bytes == 0 and not after.checksum_sha256
    )
    assert stored_files(cluster) == before and not partials(cluster)
    assert info.value.code() != grpc.StatusCode.INTERNAL
    return info.value


async def test_upload_qcow2_and_raw_then_download_identical(
    api: AsyncClient, cluster: Cluster, tmp_path: Path
) -> None:
    qcow2 = qcow2_file(tmp_path / "disk.qcow2", 64 * MIB)
    raw = tmp_path / "disk.raw"
    raw.write_bytes(os.urandom(3 * MIB + 12345))
    seen: list[tuple[str, int, int]] = []
    for path, fmt, virtual in ((qcow2, "qcow2", 64 * MIB), (raw, "raw", raw.stat().st_size)):
        data = path.read_bytes()
        image = await api.upload_image(uid(fmt), path, fmt, on_progress=lambda *p: seen.append(p))
        assert image.status == image_pb2.IMAGE_STATUS_ACTIVE
        assert image.size_bytes == len(data) and image.checksum_sha256 == sha256(data)
        assert image.virtual_size_bytes == virtual
        assert (await api.get_image(image.name)).status == image_pb2.IMAGE_STATUS_ACTIVE
        assert image.checksum_sha256 in stored_files(cluster)

        back = tmp_path / f"back.{fmt}"
        await api.download_image(image.name, back)
        assert back.read_bytes() == data
    await asyncio.sleep(0)  # progress is reported on the loop
    assert ("upload", raw.stat().st_size, raw.stat().st_size) in seen
    assert any(p[0] == "checksum" for p in seen)
    assert not partials(cluster)


async def test_download_from_offset_in_1_mib_chunks(
    api: AsyncClient, stub: image_pb2_grpc.ImageServiceStub, tmp_path: Path
) -> None:
    data = os.urandom(2 * MIB + 7)
    path = tmp_path / "d.raw"
    path.write_bytes(data)
    image = await api.upload_image(uid("dl"), path, "raw")
    call = stub.DownloadImageData(image_pb2.DownloadImageDataRequest(name=image.name, offset=MIB + 3))
    chunks = [c async for c in call]
    assert [c.offset for c in chunks] == [MIB + 3, 2 * MIB + 3]
    assert all(c.size_bytes == len(data) for c in chunks)
    assert b"".join(c.data for c in chunks) == data[MIB + 3 :]


async def test_download_needs_an_active_image(
    api: AsyncClient, stub: image_pb2_grpc.ImageServiceStub
) -> None:
    queued = await api.create_image(uid("q"), "raw")
    for name, code, says in (
        (queued.name, FP, "QUEUED"),
        ("images/no-such-image", NF, "not found"),
        ("bogus", IA, "images/{image}"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in stub.DownloadImageData(image_pb2.DownloadImageDataRequest(name=name)):
                pass
        assert info.value.code() == code and says in (info.value.details() or "")


async def test_checksum_mismatch_refused(
    api: AsyncClient, cluster: Cluster, stub: image_pb2_grpc.ImageServiceStub
) -> None:
    data = os.urandom(MIB + 1)
    err = await refused(cluster, api, stub, data, checksum=sha256(b"other bytes"))
    assert err.code() == IA and "sha256" in (err.details() or "")


async def test_truncated_upload_refused(
    api: AsyncClient, cluster: Cluster, stub: image_pb2_grpc.ImageServiceStub
) -> None:
    data = os.urandom(MIB)
    err = await refused(cluster, api, stub, data, announce=2 * MIB)
    assert err.code() == IA and f"ended after {MIB} of the announced {2 * MIB} bytes" in (err.details() or "")


async def test_more_than_announced_refused(
    api: AsyncClient, cluster: Cluster, stub: image_pb2_grpc.ImageServiceStub
) -> None:
    data = os.urandom(2 * MIB)
    err = await refused(cluster, api, stub, data, announce=MIB + 5)
    assert err.code() == IA and "more data than the announced" in (err.details() or "")


async def test_over_the_controller_maximum_refused(
    api: AsyncClient, cluster: Cluster, stub: image_pb2_grpc.ImageServiceStub
) -> None:
    err = await refused(cluster, api, stub, b"x" * 10, announce=21 * GIB)
    assert err.code() == IA and "more than this controller accepts" in (err.details() or "")


async def test_wrong_format_refused(
    api: AsyncClient, cluster: Cluster, stub: image_pb2_grpc.ImageServiceStub, tmp_path: Path
) -> None:
    err = await refused(cluster, api, stub, os.urandom(MIB), disk_format="qcow2")
    assert err.code() == IA and "not a qcow2 image" in (err.details() or "")
    qcow2 = qcow2_file(tmp_path / "x.qcow2", 16 * MIB).read_bytes()
    err = await refused(cluster, api, stub, qcow2, disk_format="raw")
    assert err.code() == IA and "is a qcow2 image, not raw" in (err.details() or "")


async def test_cancelled_upload_leaves_nothing(
    api: AsyncClient, cluster: Cluster, stub: image_pb2_grpc.ImageServiceStub
) -> None:
    image = await api.create_image(uid("cancel"), "raw")
    sent = asyncio.Event()

    async def requests() -> AsyncIterator[image_pb2.UploadImageDataRequest]:
        yield image_pb2.UploadImageDataRequest(name=image.name, size_bytes=8 * MIB, checksum_sha256="0" * 64)
        yield image_pb2.UploadImageDataRequest(chunk=os.urandom(MIB))
        sent.set()
        await asyncio.sleep(60)

    call = stub.UploadImageData(requests(), timeout=30)
    await sent.wait()
    for _ in range(100):  # the controller is SAVING once it took the lease
        if (await api.get_image(image.name)).status == image_pb2.IMAGE_STATUS_SAVING:
            break
        await asyncio.sleep(0.05)
    assert (await api.get_image(image.name)).status == image_pb2.IMAGE_STATUS_SAVING
    call.cancel()
    for _ in range(100):
        if (await api.get_image(image.name)).status == image_pb2.IMAGE_STATUS_QUEUED and not partials(
            cluster
        ):
            break
        await asyncio.sleep(0.05)
    assert (await api.get_image(image.name)).status == image_pb2.IMAGE_STATUS_QUEUED
    assert not partials(cluster)


async def test_upload_only_into_a_queued_image(
    api: AsyncClient, stub: image_pb2_grpc.ImageServiceStub, tmp_path: Path
) -> None:
    path = tmp_path / "a.raw"
    path.write_bytes(os.urandom(1000))
    image = await api.upload_image(uid("once"), path, "raw")
    with pytest.raises(OvercastError) as info:
        await api.upload_image_data(image.name, path)
    assert info.value.code == FP and "IMAGE_ACTIVE" in info.value.message

    # While one upload runs (SAVING), a second is refused.
    other = await api.create_image(uid("busy"), "raw")
    gate = asyncio.Event()

    async def slow() -> AsyncIterator[image_pb2.UploadImageDataRequest]:
        yield image_pb2.UploadImageDataRequest(name=other.name, size_bytes=2000, checksum_sha256="0" * 64)
        yield image_pb2.UploadImageDataRequest(chunk=b"x" * 1000)
        await gate.wait()

    first = stub.UploadImageData(slow(), timeout=30)
    for _ in range(100):
        if (await api.get_image(other.name)).status == image_pb2.IMAGE_STATUS_SAVING:
            break
        await asyncio.sleep(0.05)
    with pytest.raises(OvercastError) as info:
        await api.upload_image_data(other.name, path)
    assert info.value.code == FP and "being uploaded" in info.value.message
    with pytest.raises(OvercastError) as info:
        await api.delete_image(other.name)
    assert info.value.code == FP and "being uploaded" in info.value.message
    gate.set()
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await first
    assert failed.value.code() == IA  # ended after 1000 of 2000 bytes
    assert (await api.get_image(other.name)).status == image_pb2.IMAGE_STATUS_QUEUED


async def test_same_bytes_share_one_file_until_the_last_image_goes(
    api: AsyncClient, cluster: Cluster, tmp_path: Path
) -> None:
    path = tmp_path / "shared.raw"
    path.write_bytes(os.urandom(MIB // 2))
    a = await api.upload_image(uid("twin"), path, "raw")
    b = await api.upload_image(uid("twin"), path, "raw")
    assert a.checksum_sha256 == b.checksum_sha256
    stored = cluster.image_store / "sha256" / a.checksum_sha256[:2] / a.checksum_sha256
    assert stored.read_bytes() == path.read_bytes()
    await api.delete_image(a.name)
    assert stored.exists()
    await api.delete_image(b.name)
    assert not stored.exists()


async def test_kernel_boot_rules(api: AsyncClient, tmp_path: Path) -> None:
    kernel_file = tmp_path / "vmlinuz"
    kernel_file.write_bytes(b"\x7fkernel" + os.urandom(4096))
    ramdisk_file = tmp_path / "initrd"
    ramdisk_file.write_bytes(os.urandom(2048))
    disk = qcow2_file(tmp_path / "root.qcow2", 512 * MIB)

    kernel = await api.upload_image(uid("vmlinuz"), kernel_file, "aki")
    ramdisk = await api.upload_image(uid("initrd"), ramdisk_file, "ari")
    # A kernel or ramdisk must name an image of the right kind.
    with pytest.raises(OvercastError) as info:
        await api.create_image(uid("x"), "qcow2", kernel_image=ramdisk.name)
    assert info.value.code == IA and "not aki" in info.value.message
    with pytest.raises(OvercastError) as info:
        await api.create_image(uid("x"), "qcow2", kernel_image="images/no-such-kernel")
    assert info.value.code == NF

    root = await api.upload_image(
        uid("root"),
        disk,
        "qcow2",
        kernel_image=kernel.name,
        ramdisk_image=ramdisk.name,
        kernel_args="console=ttyS0",
    )
    assert (root.kernel_image, root.ramdisk_image, root.kernel_args) == (
        kernel.name,
        ramdisk.name,
        "console=ttyS0",
    )

    # A kernel is not a root disk.
    with pytest.raises(OvercastError) as info:
        await api.create_server(uid("k"), flavor="m1.tiny", image=kernel.name)
    assert info.value.code == FP and "root disk must be qcow2 or raw" in info.value.message

    # A queued kernel cannot boot anything.
    queued_kernel = await api.create_image(uid("qk"), "aki")
    queued_root = await api.create_image(uid("qr"), "qcow2", kernel_image=queued_kernel.name)
    with pytest.raises(OvercastError) as info:
        await api.create_server(uid("qk"), flavor="m1.tiny", image=queued_root.name)
    assert info.value.code == FP and "upload its data first" in info.value.message

    # The server freezes the image's kernel, ramdisk and arguments.
    server = await api.create_server(uid("kb"), flavor="m1.tiny", image=root.name)
    assert (server.kernel_image, server.ramdisk_image, server.kernel_args) == (
        kernel.name,
        ramdisk.name,
        "console=ttyS0",
    )
    # Images a server boots from stay.
    for name in (kernel.name, root.name):
        with pytest.raises(OvercastError) as info:
            await api.delete_image(name)
        message = info.value.message
        assert info.value.code == FP and ("used by" in message or "kernel or ramdisk" in message)
    await api.delete_server(server.name)
    assert await api.wait_for_server(server.name, timeout=30) is None
    await api.delete_image(root.name)
    await api.delete_image(queued_root.name)
    await api.delete_image(kernel.name)


async def test_image_larger_than_the_flavor_disk_refused(api: AsyncClient, tmp_path: Path) -> None:
    big = await api.upload_image(uid("big"), qcow2_file(tmp_path / "big.qcow2", 2 * GIB), "qcow2")
    assert big.virtual_size_bytes == 2 * GIB
    with pytest.raises(OvercastError) as info:
        await api.create_server(uid("big"), flavor="m1.tiny", image=big.name)  # 1 GiB disk
    assert info.value.code == FP and "larger than the flavor's disk" in info.value.message
    server = await api.create_server(uid("big"), flavor="m1.small", image=big.name)  # 20 GiB
    assert server.name
    await api.delete_server(server.name)


def test_cli_image_create_with_file_shows_progress(cluster: Cluster, api: object, tmp_path: Path) -> None:
    disk = qcow2_file(tmp_path / "cli.qcow2", 32 * MIB)
    name = uid("cli")
    env = {**os.environ, "OVERCAST_ENDPOINT": cluster.endpoint}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=60)

    r = cli("-o", "json", "image", "create", name, "--file", str(disk))  # format told from the bytes
    assert r.returncode == 0, r.stderr
    image = json.loads(r.stdout)
    assert image["status"] == "IMAGE_STATUS_ACTIVE" and image["virtualSizeBytes"] == str(32 * MIB)
    assert image["diskFormat"] == "qcow2"
    assert f"upload {name}: 100%" in r.stderr and f"sha256 {name}: 100%" in r.stderr

    missing = cli("image", "create", uid("cli"), "--file", str(tmp_path / "nope.qcow2"))
    assert missing.returncode == 2 and "nope.qcow2" in missing.stderr

    # A declared format the bytes contradict is refused before any image record exists.
    refused = uid("cli")
    wrong = cli("image", "create", refused, "--file", str(disk), "--disk-format", "raw")
    assert wrong.returncode == 2 and "looks like a qcow2 disk image, not a raw disk image" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    listed = cli("-q", "image", "list")
    assert listed.returncode == 0 and f"images/{refused}" not in listed.stdout.split()

    # Uploading again into an image that has its data: refused, and no hint that it holds none.
    again = cli("image", "upload", name, "--file", str(disk))
    assert again.returncode == 1 and "QUEUED" not in again.stderr and "holds no data" not in again.stderr
