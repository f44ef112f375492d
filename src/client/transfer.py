"""Image data in and out, shared by the sync and async clients.

An upload reads the file twice: once to compute its sha256 (announced in the first message,
so the controller can refuse corrupted data), once to stream it in chunks. A download writes a
temporary file next to the target, verifies the sha256 and only then renames it into place.
Progress is reported as `on_progress(phase, done_bytes, total_bytes)`, phase "checksum",
"upload" or "download".
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import BinaryIO

from overcast.v1 import image_pb2

from .errors import DataLoss, InvalidArgument

CHUNK_BYTES = 1024 * 1024
# Deadline of a transfer: the call timeout plus one second per MiB (at least 1 MiB/s).
SECONDS_PER_BYTE = 1.0 / (1024 * 1024)

OnProgress = Callable[[str, int, int], None]


def transfer_timeout(base: float, size_bytes: int) -> float:
    return base + size_bytes * SECONDS_PER_BYTE


def file_size(path: str | os.PathLike[str]) -> int:
    """The size of a regular file; a missing or unreadable one is an InvalidArgument."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise InvalidArgument(
            f"cannot read {p}: {exc.strerror or exc}", field_violations=[("file", "an image file to upload")]
        ) from exc
    if not p.is_file():
        raise InvalidArgument(f"{p} is not a regular file", field_violations=[("file", "an image file")])
    if st.st_size == 0:
        raise InvalidArgument(f"{p} is empty", field_violations=[("file", "an image file with data")])
    return st.st_size


def _open(path: str | os.PathLike[str]) -> BinaryIO:
    try:
        return Path(path).open("rb")
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror or exc}") from exc


def file_sha256(path: str | os.PathLike[str], size: int, on_progress: OnProgress | None = None) -> str:
    digest = hashlib.sha256()
    done = 0
    with _open(path) as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
            done += len(chunk)
            if on_progress is not None:
                on_progress("checksum", done, size)
    return digest.hexdigest()


def upload_requests(
    name: str,
    path: str | os.PathLike[str],
    size: int,
    checksum: str,
    on_progress: OnProgress | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Generator[image_pb2.UploadImageDataRequest, None, None]:
    """The header message, then the file in chunks (exactly `size` bytes: a file that grew
    since it was hashed is cut there, one that shrank ends early; the controller refuses both)."""
    yield image_pb2.UploadImageDataRequest(name=name, size_bytes=size, checksum_sha256=checksum)
    sent = 0
    with _open(path) as f:
        while sent < size:
            chunk = f.read(min(chunk_bytes, size - sent))
            if not chunk:
                return
            yield image_pb2.UploadImageDataRequest(chunk=chunk)
            sent += len(chunk)
            if on_progress is not None:
                on_progress("upload", sent, size)


class DownloadFile:
    """Receives the chunks of one image into `path`, verified before it appears there."""

    def __init__(self, path: str | os.PathLike[str], image: image_pb2.Image) -> None:
        self.path = Path(path)
        self.image = image
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        self._file: BinaryIO | None = None
        self._hash = hashlib.sha256()
        self.received = 0

    def open(self) -> None:
        try:
            self._file = self._tmp.open("wb")
        except OSError as exc:
            raise InvalidArgument(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def write(self, chunk: image_pb2.ImageDataChunk) -> None:
        if self._file is None:
            raise RuntimeError("DownloadFile.open() first")
        if chunk.offset != self.received:
            raise DataLoss(f"the controller sent bytes from {chunk.offset}, expected {self.received}")
        self._file.write(chunk.data)
        self._hash.update(chunk.data)
        self.received += len(chunk.data)

    def finish(self) -> None:
        if self._file is None:
            raise RuntimeError("DownloadFile.open() first")
        self._file.close()
        self._file = None
        want = self.image.checksum_sha256
        if self.received != self.image.size_bytes or self._hash.hexdigest() != want:
            self.discard()
            raise DataLoss(
                f"{self.image.name}: received {self.received} bytes with sha256 "
                f"{self._hash.hexdigest()}, expected {self.image.size_bytes} bytes with sha256 {want}"
            )
        os.replace(self._tmp, self.path)

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._tmp.unlink(missing_ok=True)
