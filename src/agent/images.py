"""The agent's image cache: images fetched from the controller, verified, shared by instances.

    <state-dir>/images/<sha256>            a verified image, named by its checksum
    <state-dir>/images/partial/<sha256>    a download in progress (resumed by offset)

A download streams ImageService.DownloadImageData into the partial file, continues from the
bytes already there after an error (or an agent restart), checks the size and the sha256
given in the command, and only then moves the file into the cache: a corrupt or truncated
image never reaches a guest. Concurrent spawns of one image share one download.

An image stays while an instance uses it (its checksum is in the instance's `images` file,
see hypervisor.instance_files) or a spawn holds it, and is removed by the periodic sweep once
unused for longer than the maximum age (its modification time is its last use).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import structlog

from agent.hypervisor.base import BootFiles, HypervisorError, ImageFile
from agent.hypervisor.instance_files import make_dirs
from agent.model import BootRequest, ImageRequest

log = structlog.get_logger("agent.images")

_ATTEMPTS = 4
_RETRY_DELAY_S = 0.5
_HASH_BLOCK = 1 << 20


class ImageError(HypervisorError):
    """An image could not be fetched or failed verification (reported with the spawn)."""


@dataclass(frozen=True)
class Chunk:
    data: bytes
    offset: int
    size_bytes: int  # of the whole image


class ImageSource(Protocol):
    def download(self, name: str, offset: int) -> AsyncIterator[Chunk]:
        """The image's bytes from `offset` on; raises on transport errors."""
        ...

    async def close(self) -> None: ...


class ImageCache:
    def __init__(
        self,
        state_dir: Path,
        source: ImageSource,
        *,
        max_age: float,
        in_use: Callable[[], set[str]] = set,
    ) -> None:
        self.root = state_dir / "images"
        self._partial = self.root / "partial"
        self._source = source
        self._max_age = max_age
        self._in_use = in_use  # checksums instances on disk still use
        self._downloads: dict[str, asyncio.Task[ImageFile]] = {}
        self._held: Counter[str] = Counter()
        self.downloads_started = 0  # for tests and logs: how many transfers really ran

    def path(self, checksum: str) -> Path:
        return self.root / checksum

    # -- fetching ---------------------------------------------------------------------------

    async def prepare(self, boot: BootRequest) -> BootFiles:
        """Fetch what a spawn boots and hold it until release()."""

        async def fetch(ref: ImageRequest | None) -> ImageFile | None:
            return None if ref is None else await self.fetch(ref)

        root, kernel, ramdisk = await asyncio.gather(
            fetch(boot.root_image), fetch(boot.kernel), fetch(boot.ramdisk)
        )
        result = BootFiles(root_image=root, kernel=kernel, ramdisk=ramdisk, kernel_args=boot.kernel_args)
        self._held.update(f.checksum_sha256 for f in result.images())
        return result

    def release(self, boot: BootFiles) -> None:
        self._held.subtract(f.checksum_sha256 for f in boot.images())
        self._held = +self._held  # drop zero counts

    async def fetch(self, ref: ImageRequest) -> ImageFile:
        checksum = _valid_checksum(ref)
        target = self.path(checksum)
        if await asyncio.to_thread(_touch, target):
            return ImageFile(path=target, disk_format=ref.disk_format, checksum_sha256=checksum)
        task = self._downloads.get(checksum)
        if task is None:
            task = asyncio.create_task(self._download(ref, checksum), name=f"image-download:{checksum[:12]}")
            self._downloads[checksum] = task
            task.add_done_callback(lambda _t: self._downloads.pop(checksum, None))
        # Shielded: one waiting spawn being cancelled must not abort the others' download.
        path = (await asyncio.shield(task)).path
        return ImageFile(path=path, disk_format=ref.disk_format, checksum_sha256=checksum)

    async def _download(self, ref: ImageRequest, checksum: str) -> ImageFile:
        self.downloads_started += 1
        await asyncio.to_thread(make_dirs, self.root)
        await asyncio.to_thread(make_dirs, self._partial)
        partial = self._partial / checksum
        started = time.monotonic()
        last_error = ""
        for attempt in range(_ATTEMPTS):
            try:
                await self._transfer(ref, partial)
                break
            except ImageError:
                raise
            except Exception as exc:  # the transport's errors: resume from what arrived
                last_error = str(exc) or repr(exc)
                log.warning(
                    "image.download_interrupted", image=ref.name, attempt=attempt + 1, error=last_error
                )
                await asyncio.sleep(_RETRY_DELAY_S * (attempt + 1))
        else:
            raise ImageError(f"cannot download {ref.name}: {last_error}")
        digest = await asyncio.to_thread(_sha256_of, partial)
        if digest != checksum:
            await asyncio.to_thread(partial.unlink, True)
            raise ImageError(f"{ref.name}: sha256 {digest} does not match the expected {checksum}")
        target = self.path(checksum)
        await asyncio.to_thread(os.chmod, partial, 0o644)
        await asyncio.to_thread(os.replace, partial, target)
        log.info(
            "image.cached",
            image=ref.name,
            sha256=checksum,
            bytes=target.stat().st_size,
            seconds=round(time.monotonic() - started, 3),
        )
        return ImageFile(path=target, disk_format=ref.disk_format, checksum_sha256=checksum)

    async def _transfer(self, ref: ImageRequest, partial: Path) -> None:
        """Append the missing bytes to `partial`; returns when it holds the whole image."""
        expected = ref.size_bytes
        out, offset = await asyncio.to_thread(_open_partial, partial, expected)
        try:
            if expected and offset == expected:
                return
            async for chunk in self._source.download(ref.name, offset):
                if chunk.offset != offset:
                    raise ImageError(f"{ref.name}: the controller sent offset {chunk.offset}, not {offset}")
                if chunk.size_bytes:
                    if expected and chunk.size_bytes != expected:
                        raise ImageError(
                            f"{ref.name}: the controller has {chunk.size_bytes} bytes, the command {expected}"
                        )
                    expected = chunk.size_bytes
                await asyncio.to_thread(_write, out, chunk.data)
                offset += len(chunk.data)
                if expected and offset > expected:
                    raise ImageError(f"{ref.name}: more than the {expected} bytes announced")
        finally:
            await asyncio.to_thread(out.close)
        if expected and offset != expected:
            raise ConnectionError(f"stream ended at {offset} of {expected} bytes")

    # -- sweeping ---------------------------------------------------------------------------

    async def sweep(self) -> list[str]:
        """Remove images no instance uses and nobody touched for max_age; returns checksums."""
        keep = set(self._held) | set(self._downloads)
        keep |= await asyncio.to_thread(self._in_use)
        removed = await asyncio.to_thread(self._sweep_sync, keep, time.time() - self._max_age)
        if removed:
            log.info("image.swept", removed=removed)
        return removed

    def _sweep_sync(self, keep: set[str], older_than: float) -> list[str]:
        removed = []
        for directory in (self.root, self._partial):
            for entry in _files(directory):
                if entry.name in keep:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat().st_mtime < older_than:
                        entry.unlink()
                        removed.append(entry.name)
        return removed

    async def run_sweeper(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except OSError as exc:
                log.warning("image.sweep_failed", error=str(exc))

    async def close(self) -> None:
        tasks = list(self._downloads.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await self._source.close()


def _valid_checksum(ref: ImageRequest) -> str:
    checksum = ref.checksum_sha256.strip().lower()
    if len(checksum) != 64 or any(c not in "0123456789abcdef" for c in checksum):
        raise ImageError(f"{ref.name or 'image'}: no valid sha256 to verify it (is its data uploaded?)")
    return checksum


def _touch(path: Path) -> bool:
    """Mark a cached image as used now; False if it is not cached."""
    try:
        os.utime(path)
        return True
    except FileNotFoundError:
        return False


def _open_partial(partial: Path, expected: int) -> tuple[IO[bytes], int]:
    """Open a partial download to append to, and how many bytes it already has."""
    offset = partial.stat().st_size if partial.exists() else 0
    if expected and offset > expected:
        offset = 0  # not this image's bytes after all
    out = open(partial, "r+b" if offset else "wb")  # noqa: SIM115 (closed by the caller)
    out.truncate(offset)
    out.seek(offset)
    return out, offset


def _write(out: IO[bytes], data: bytes) -> None:
    out.write(data)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _files(directory: Path) -> Iterable[Path]:
    try:
        return [p for p in directory.iterdir() if p.is_file()]
    except FileNotFoundError:
        return []
