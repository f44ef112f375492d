"""Image data on disk, content-addressed: one file per sha256, shared by every image with
the same bytes.

    ROOT/sha256/ab/abcdef…   the data of every image whose checksum is abcdef…
    ROOT/tmp/IMAGE.UUID.part an upload in progress (hashed while written)

An upload is written to a temporary file in the same filesystem and renamed into place only
once it is complete and verified, so a reader never sees half an image. File calls block:
they run in a worker thread. Controller replicas must share ROOT (e.g. over NFS).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from pathlib import Path
from typing import BinaryIO

from controller.domain.errors import FailedPrecondition
from controller.domain.image_format import HEADER_BYTES

_CHECKSUM = re.compile(r"^[0-9a-f]{64}$")


class FileUpload:
    """One upload being written: its size, its sha256 so far and its first bytes."""

    def __init__(self, path: Path, store: FileImageStore) -> None:
        self.path = path
        self._store = store
        self._file: BinaryIO | None = path.open("xb")
        self._hash = hashlib.sha256()
        self.size = 0
        self.head = b""

    def _write(self, chunk: bytes) -> None:
        if self._file is None:
            raise RuntimeError(f"{self.path} is closed")
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)
        if len(self.head) < HEADER_BYTES:
            self.head += chunk[: HEADER_BYTES - len(self.head)]

    async def write(self, chunk: bytes) -> None:
        await asyncio.to_thread(self._write, chunk)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def _commit(self, checksum: str) -> None:
        if self._file is None:
            raise RuntimeError(f"{self.path} is closed")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        final = self._store.path(checksum)
        final.parent.mkdir(parents=True, exist_ok=True)
        # Same checksum, same bytes: replacing an existing copy changes nothing a reader sees
        # (an open file keeps its old inode).
        os.replace(self.path, final)
        _fsync_dir(final.parent)

    async def commit(self, checksum: str) -> None:
        """Move the verified data into place as the file of `checksum`."""
        await asyncio.to_thread(self._commit, checksum)

    def _discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)

    async def discard(self) -> None:
        """Forget the upload (nothing once committed)."""
        if self._file is not None or self.path.exists():
            await asyncio.to_thread(self._discard)


class FileReader:
    def __init__(self, file: BinaryIO) -> None:
        self._file = file

    def _read(self, offset: int, size: int) -> bytes:
        self._file.seek(offset)
        return self._file.read(size)

    async def read(self, offset: int, size: int) -> bytes:
        return await asyncio.to_thread(self._read, offset, size)

    async def close(self) -> None:
        await asyncio.to_thread(self._file.close)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root.absolute()
        self._data = self.root / "sha256"
        self._tmp = self.root / "tmp"

    def prepare(self) -> None:
        """Create the directories (at startup: fail early if ROOT is not writable)."""
        self._data.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path(self, checksum: str) -> Path:
        if not _CHECKSUM.fullmatch(checksum):
            raise ValueError(f"{checksum!r} is not a sha256 hex digest")
        return self._data / checksum[:2] / checksum

    async def begin(self, image_id: str) -> FileUpload:
        def create() -> FileUpload:
            self._tmp.mkdir(parents=True, exist_ok=True)
            return FileUpload(self._tmp / f"{image_id}.{uuid.uuid4().hex}.part", self)

        return await asyncio.to_thread(create)

    async def discard_partials(self, image_id: str) -> int:
        """Remove the leftovers of an upload of `image_id` whose controller died; how many."""

        def discard() -> int:
            found = list(self._tmp.glob(f"{glob_escape(image_id)}.*.part"))
            for p in found:
                p.unlink(missing_ok=True)
            return len(found)

        return await asyncio.to_thread(discard)

    async def has(self, checksum: str) -> bool:
        return await asyncio.to_thread(self.path(checksum).is_file)

    async def open(self, checksum: str) -> FileReader:
        try:
            file = await asyncio.to_thread(self.path(checksum).open, "rb")
        except FileNotFoundError as exc:
            raise FailedPrecondition(
                f"the data of sha256 {checksum} is missing from the image store {self.root}",
                reason="IMAGE_DATA_MISSING",
            ) from exc
        return FileReader(file)

    async def remove(self, checksum: str) -> None:
        # The prefix directory stays: a concurrent upload may be renaming a file into it.
        await asyncio.to_thread(self.path(checksum).unlink, missing_ok=True)


def glob_escape(text: str) -> str:
    # Image ids hold only [a-z0-9._-], none of which glob treats specially; escape anyway.
    return re.sub(r"([*?\[])", r"[\1]", text)
