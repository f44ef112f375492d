"""The agent's image cache with a real filesystem and a local image source (the controller's
DownloadImageData without a controller): verification, resume, sharing, sweeping."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path

import pytest

from agent.images import ImageCache, ImageError
from agent.model import BootRequest, ImageRequest
from tests.e2e.qemu_env import LocalImageSource


def image(tmp_path: Path, name: str, size: int) -> tuple[Path, ImageRequest]:
    data = os.urandom(size)
    path = tmp_path / f"{name}.src"
    path.write_bytes(data)
    return path, ImageRequest(f"images/{name}", "raw", size, hashlib.sha256(data).hexdigest())


async def test_fetch_verifies_and_caches_by_checksum(tmp_path: Path) -> None:
    path, ref = image(tmp_path, "a", 300_000)
    source = LocalImageSource({ref.name: path}, chunk=65536)
    cache = ImageCache(tmp_path / "state", source, max_age=60)
    got = await cache.fetch(ref)
    assert got.path == tmp_path / "state" / "images" / ref.checksum_sha256
    assert got.path.read_bytes() == path.read_bytes()
    assert not list((tmp_path / "state" / "images" / "partial").iterdir())
    # Cached: no second transfer.
    await cache.fetch(ref)
    assert source.requests == [(ref.name, 0)] and cache.downloads_started == 1
    await cache.close()


async def test_a_wrong_checksum_never_reaches_the_cache(tmp_path: Path) -> None:
    path, ref = image(tmp_path, "b", 10_000)
    bad = ImageRequest(ref.name, "raw", ref.size_bytes, "0" * 64)
    cache = ImageCache(tmp_path / "state", LocalImageSource({ref.name: path}), max_age=60)
    with pytest.raises(ImageError, match="does not match"):
        await cache.fetch(bad)
    assert not (tmp_path / "state" / "images" / ("0" * 64)).exists()
    with pytest.raises(ImageError, match="no valid sha256"):
        await cache.fetch(ImageRequest(ref.name, "raw", ref.size_bytes, ""))
    with pytest.raises(ImageError, match="bytes"):
        await cache.fetch(ImageRequest(ref.name, "raw", ref.size_bytes + 1, ref.checksum_sha256))
    await cache.close()


async def test_an_interrupted_download_resumes_from_its_offset(tmp_path: Path) -> None:
    path, ref = image(tmp_path, "c", 1_000_000)
    source = LocalImageSource({ref.name: path}, chunk=100_000, fail_after=300_000)
    cache = ImageCache(tmp_path / "state", source, max_age=60)
    got = await cache.fetch(ref)
    assert got.path.read_bytes() == path.read_bytes()
    assert source.requests == [(ref.name, 0), (ref.name, 300_000)]
    await cache.close()


async def test_a_partial_file_left_by_a_dead_agent_is_resumed(tmp_path: Path) -> None:
    path, ref = image(tmp_path, "d", 500_000)
    partial = tmp_path / "state" / "images" / "partial" / ref.checksum_sha256
    partial.parent.mkdir(parents=True)
    partial.write_bytes(path.read_bytes()[:123_456])
    source = LocalImageSource({ref.name: path})
    cache = ImageCache(tmp_path / "state", source, max_age=60)
    assert (await cache.fetch(ref)).path.read_bytes() == path.read_bytes()
    assert source.requests == [(ref.name, 123_456)]
    await cache.close()


async def test_concurrent_spawns_share_one_download(tmp_path: Path) -> None:
    kernel, kref = image(tmp_path, "k", 2_000_000)
    initrd, iref = image(tmp_path, "i", 500_000)
    source = LocalImageSource({kref.name: kernel, iref.name: initrd}, chunk=50_000)
    cache = ImageCache(tmp_path / "state", source, max_age=60)
    boot = BootRequest(kernel=kref, ramdisk=iref, kernel_args="quiet")
    results = await asyncio.gather(*(cache.prepare(boot) for _ in range(5)))
    assert cache.downloads_started == 2
    assert sorted(source.requests) == [(iref.name, 0), (kref.name, 0)]
    assert all(r == results[0] for r in results) and results[0].kernel_args == "quiet"
    for r in results:
        cache.release(r)
    await cache.close()


async def test_sweep_removes_only_unused_images_past_the_max_age(tmp_path: Path) -> None:
    used_path, used = image(tmp_path, "used", 1000)
    held_path, held = image(tmp_path, "held", 1000)
    old_path, old = image(tmp_path, "old", 1000)
    new_path, new = image(tmp_path, "new", 1000)
    source = LocalImageSource(
        {r.name: p for p, r in ((used_path, used), (held_path, held), (old_path, old), (new_path, new))}
    )
    in_use = {used.checksum_sha256}
    cache = ImageCache(tmp_path / "state", source, max_age=100, in_use=lambda: set(in_use))
    for ref in (used, old, new):
        await cache.fetch(ref)
    holding = await cache.prepare(BootRequest(root_image=held))
    an_hour_ago = time.time() - 3600
    for ref in (used, held, old):
        os.utime(cache.path(ref.checksum_sha256), (an_hour_ago, an_hour_ago))
    assert await cache.sweep() == [old.checksum_sha256]
    assert cache.path(used.checksum_sha256).exists() and cache.path(new.checksum_sha256).exists()
    cache.release(holding)
    assert await cache.sweep() == [held.checksum_sha256]
    in_use.clear()
    assert await cache.sweep() == [used.checksum_sha256]
    await cache.close()
