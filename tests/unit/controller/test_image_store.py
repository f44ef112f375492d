"""The content-addressed file store: uploads appear only when committed, by checksum, shared."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from controller.domain.errors import FailedPrecondition
from controller.storage.image_store import FileImageStore


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path) -> FileImageStore:
    s = FileImageStore(tmp_path / "images")
    s.prepare()
    return s


async def put(store: FileImageStore, image_id: str, data: bytes) -> str:
    upload = await store.begin(image_id)
    for i in range(0, len(data), 1000):
        await upload.write(data[i : i + 1000])
    checksum = upload.hexdigest()
    await upload.commit(checksum)
    await upload.discard()  # after a commit: nothing to do
    return checksum


async def test_upload_hashes_and_lands_under_its_checksum(store: FileImageStore) -> None:
    data = os.urandom(5000)
    upload = await store.begin("cirros")
    await upload.write(data[:300])
    await upload.write(data[300:])
    assert upload.size == 5000 and upload.head == data[:512]
    assert [p.name.split(".")[0] for p in (store.root / "tmp").iterdir()] == ["cirros"]
    checksum = upload.hexdigest()
    assert checksum == hashlib.sha256(data).hexdigest()
    await upload.commit(checksum)
    assert files(store.root) == [f"sha256/{checksum[:2]}/{checksum}"]
    assert store.path(checksum).read_bytes() == data
    assert await store.has(checksum)


async def test_discarded_upload_leaves_nothing(store: FileImageStore) -> None:
    upload = await store.begin("cirros")
    await upload.write(b"x" * 100)
    await upload.discard()
    await upload.discard()  # twice is fine
    assert files(store.root) == []


async def test_same_bytes_share_one_file(store: FileImageStore) -> None:
    data = os.urandom(3000)
    a = await put(store, "a", data)
    b = await put(store, "b", data)
    assert a == b and files(store.root) == [f"sha256/{a[:2]}/{a}"]
    await store.remove(a)
    assert files(store.root) == [] and not await store.has(a)


async def test_read_from_an_offset(store: FileImageStore) -> None:
    data = bytes(range(256)) * 20
    checksum = await put(store, "r", data)
    reader = await store.open(checksum)
    try:
        assert await reader.read(1000, 24) == data[1000:1024]
        assert await reader.read(len(data) - 5, 100) == data[-5:]
    finally:
        await reader.close()


async def test_opening_missing_data_is_a_domain_error(store: FileImageStore) -> None:
    with pytest.raises(FailedPrecondition, match="missing from the image store"):
        await store.open("ab" * 32)


async def test_leftovers_of_a_dead_upload_are_removed(store: FileImageStore) -> None:
    dead = await store.begin("img.1")
    await dead.write(b"partial")
    other = await store.begin("img.10")  # a prefix-sharing id is not touched
    assert await store.discard_partials("img.1") == 1
    assert [p.name.split(".part")[0].rsplit(".", 1)[0] for p in (store.root / "tmp").iterdir()] == ["img.10"]
    await other.discard()


def test_checksums_must_be_sha256_hex(store: FileImageStore) -> None:
    for bad in ("", "../../etc/passwd", "AB" * 32, "a" * 63):
        with pytest.raises(ValueError, match="not a sha256"):
            store.path(bad)
