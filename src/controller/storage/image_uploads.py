"""The database side of an image upload: a lease on the image for the upload's duration.

The lease holds the image's UPLOAD_LOCK (see image_locks) on a dedicated connection: while it
is held no other upload or delete of that image can start, on any replica; if the uploading
controller dies, its connection and the lock go with it, and the next upload takes the image
over from SAVING.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import structlog

from controller.domain.errors import FailedPrecondition, NotFound, Unavailable
from controller.domain.model import Image, ImageStatus
from controller.storage import database, rows
from controller.storage.catalog import IMAGE_COLUMNS
from controller.storage.image_locks import lock_data, try_lock_upload, unlock_data

log = structlog.get_logger(__name__)


class PgUploadLease:
    """An image in SAVING, owned by this upload until `activate` or the end of the lease."""

    def __init__(self, conn: asyncpg.Connection, image: Image, stale: bool) -> None:
        self._conn = conn
        self.image = image
        self.stale = stale  # a dead upload left the image SAVING; its leftovers may remain
        self.activated = False

    @asynccontextmanager
    async def data_lock(self, checksum: str) -> AsyncIterator[None]:
        await lock_data(self._conn, checksum)
        try:
            yield
        finally:
            await unlock_data(self._conn, checksum)

    async def activate(self, size_bytes: int, checksum: str, virtual_size_bytes: int) -> Image:
        row = await self._conn.fetchrow(
            f"UPDATE images SET status = $2, size_bytes = $3, checksum_sha256 = $4,"
            f" virtual_size_bytes = $5, version = version + 1"
            f" WHERE id = $1 AND status = $6 RETURNING {IMAGE_COLUMNS}",
            self.image.id,
            ImageStatus.ACTIVE.value,
            size_bytes,
            checksum,
            virtual_size_bytes,
            ImageStatus.SAVING.value,
        )
        if row is None:  # the lease keeps deletes and other uploads out: this is a bug
            raise RuntimeError(f"images/{self.image.id} left SAVING during its upload")
        self.activated = True
        self.image = rows.image(row)
        return self.image

    async def release(self) -> None:
        """Without activation the upload failed: back to QUEUED, as if it never began."""
        if self.activated:
            return
        await self._conn.execute(
            "UPDATE images SET status = $2, size_bytes = 0, checksum_sha256 = '',"
            " virtual_size_bytes = 0, version = version + 1 WHERE id = $1 AND status = $3",
            self.image.id,
            ImageStatus.QUEUED.value,
            ImageStatus.SAVING.value,
        )


class PgImageUploads:
    def __init__(self, database_url: str) -> None:
        self._url = database_url

    @asynccontextmanager
    async def lease(self, image_id: str) -> AsyncIterator[PgUploadLease]:
        """QUEUED (or SAVING left by a dead upload) → SAVING, then QUEUED again unless activated."""
        try:
            conn = await database.connect(self._url)
        except (OSError, asyncpg.PostgresError) as exc:
            raise Unavailable(f"the image database is unreachable ({exc}): retry the upload") from exc
        try:
            if not await try_lock_upload(conn, image_id):
                raise FailedPrecondition(
                    f"images/{image_id} is being uploaded or deleted by another request: "
                    "wait for it to finish",
                    reason="IMAGE_BUSY",
                )
            lease = await self._begin(conn, image_id)
            try:
                yield lease
            finally:
                try:
                    await lease.release()
                except (asyncpg.PostgresError, OSError) as exc:
                    # The lock dies with the connection: the next upload takes the image over.
                    log.warning("image.release_failed", image=image_id, error=str(exc))
        finally:
            await conn.close()  # the session lock goes with the connection

    async def _begin(self, conn: asyncpg.Connection, image_id: str) -> PgUploadLease:
        async with conn.transaction():
            status = await conn.fetchval("SELECT status FROM images WHERE id = $1 FOR UPDATE", image_id)
            if status is None:
                raise NotFound(f"images/{image_id}")
            if status not in (ImageStatus.QUEUED.value, ImageStatus.SAVING.value):
                raise FailedPrecondition(
                    f"images/{image_id} is {status}: its data is already stored and cannot change; "
                    "create a new image for other data",
                    reason="IMAGE_NOT_QUEUED",
                )
            row = await conn.fetchrow(
                f"UPDATE images SET status = $2, version = version + 1 WHERE id = $1"
                f" RETURNING {IMAGE_COLUMNS}",
                image_id,
                ImageStatus.SAVING.value,
            )
        assert row is not None  # the row is locked
        stale = status == ImageStatus.SAVING.value
        if stale:
            log.warning("image.upload_taken_over", image=image_id)
        return PgUploadLease(conn, rows.image(row), stale)
