"""Flavors and images in PostgreSQL (image uploads: image_uploads.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import asyncpg

from controller.domain.errors import AlreadyExists, EtagMismatch, FailedPrecondition, NotFound
from controller.domain.model import Flavor, Image
from controller.domain.requests import RequestRecord
from controller.storage import image_locks, request_ids, rows
from controller.storage.rows import Conn

FLAVOR_COLUMNS = "id, vcpus, memory_mib, disk_gib, description, version, created_at"
IMAGE_COLUMNS = (
    "id, disk_format, min_disk_gib, min_memory_mib, status, size_bytes, checksum_sha256,"
    " properties, version, created_at, kernel_image, ramdisk_image, kernel_args,"
    " virtual_size_bytes"
)


class PgCatalogStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def find_request(self, kind: Literal["flavor", "image"], request_id: str) -> RequestRecord | None:
        return await request_ids.find(self._pool, kind, "", request_id)

    async def create_flavor(
        self, flavor: Flavor, request_id: str | None, params: Mapping[str, Any] | None = None
    ) -> Flavor:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                if request_id:
                    await request_ids.remember(conn, "flavor", "", request_id, f"flavors/{flavor.id}", params)
                row = await conn.fetchrow(
                    f"INSERT INTO flavors (id, vcpus, memory_mib, disk_gib, description, request_id)"
                    f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {FLAVOR_COLUMNS}",
                    flavor.id,
                    flavor.vcpus,
                    flavor.memory_mib,
                    flavor.disk_gib,
                    flavor.description,
                    request_id,
                )
        except asyncpg.UniqueViolationError as exc:
            raise AlreadyExists(f"flavors/{flavor.id}") from exc
        if row is None:  # INSERT ... RETURNING always yields the row
            raise RuntimeError(f"inserting flavors/{flavor.id} returned no row")
        return rows.flavor(row)

    async def get_flavor(self, flavor_id: str) -> Flavor:
        row = await self._pool.fetchrow(f"SELECT {FLAVOR_COLUMNS} FROM flavors WHERE id = $1", flavor_id)
        if row is None:
            raise NotFound(f"flavors/{flavor_id}")
        return rows.flavor(row)

    async def list_flavors(self, *, after: str | None, limit: int) -> list[Flavor]:
        found = await self._pool.fetch(
            f"SELECT {FLAVOR_COLUMNS} FROM flavors WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2",
            after,
            limit,
        )
        return [rows.flavor(r) for r in found]

    async def delete_flavor(self, flavor_id: str, etag: str) -> None:
        # Servers copy the flavor's sizes at create time, so a flavor in use may go.
        async with self._pool.acquire() as conn, conn.transaction():
            version = await conn.fetchval("SELECT version FROM flavors WHERE id = $1 FOR UPDATE", flavor_id)
            if version is None:
                raise NotFound(f"flavors/{flavor_id}")
            if etag and etag != str(version):
                raise EtagMismatch(f"flavors/{flavor_id}", etag, str(version))
            await conn.execute("DELETE FROM flavors WHERE id = $1", flavor_id)

    async def create_image(
        self, image: Image, request_id: str | None, params: Mapping[str, Any] | None = None
    ) -> Image:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                if request_id:
                    await request_ids.remember(conn, "image", "", request_id, f"images/{image.id}", params)
                row = await conn.fetchrow(
                    f"INSERT INTO images (id, disk_format, min_disk_gib, min_memory_mib, status,"
                    f" properties, request_id, kernel_image, ramdisk_image, kernel_args)"
                    f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {IMAGE_COLUMNS}",
                    image.id,
                    image.disk_format,
                    image.min_disk_gib,
                    image.min_memory_mib,
                    image.status.value,
                    image.properties,
                    request_id,
                    image.kernel_image,
                    image.ramdisk_image,
                    image.kernel_args,
                )
        except asyncpg.UniqueViolationError as exc:
            raise AlreadyExists(f"images/{image.id}") from exc
        if row is None:  # INSERT ... RETURNING always yields the row
            raise RuntimeError(f"inserting images/{image.id} returned no row")
        return rows.image(row)

    async def get_image(self, image_id: str) -> Image:
        row = await self._pool.fetchrow(f"SELECT {IMAGE_COLUMNS} FROM images WHERE id = $1", image_id)
        if row is None:
            raise NotFound(f"images/{image_id}")
        return rows.image(row)

    async def list_images(self, *, after: str | None, limit: int) -> list[Image]:
        found = await self._pool.fetch(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2",
            after,
            limit,
        )
        return [rows.image(r) for r in found]

    async def delete_image(
        self,
        image_id: str,
        etag: str,
        on_last_copy: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """Delete the image unless something uses it; `on_last_copy(checksum)` runs (under the
        checksum's lock) when no other image has the same data, to remove the file."""
        async with self._pool.acquire() as conn:
            for _ in range(3):
                checksum = await conn.fetchval("SELECT checksum_sha256 FROM images WHERE id = $1", image_id)
                if checksum is None:
                    raise NotFound(f"images/{image_id}")
                if checksum:
                    await image_locks.lock_data(conn, checksum)
                try:
                    deleted, remaining = await self._delete_image_row(conn, image_id, etag, checksum)
                    if deleted and checksum and not remaining and on_last_copy is not None:
                        await on_last_copy(checksum)
                finally:
                    if checksum:
                        await image_locks.unlock_data(conn, checksum)
                if deleted:
                    return
        raise FailedPrecondition(f"images/{image_id} keeps changing: retry", reason="IMAGE_BUSY")

    async def _delete_image_row(
        self, conn: Conn, image_id: str, etag: str, checksum: str
    ) -> tuple[bool, int]:
        """(deleted, images still holding `checksum`); not deleted when its data changed since
        the caller read `checksum` (an upload finished in between)."""
        async with conn.transaction():
            row = await conn.fetchrow(
                "SELECT version, checksum_sha256 FROM images WHERE id = $1 FOR UPDATE", image_id
            )
            if row is None:
                raise NotFound(f"images/{image_id}")
            if row["checksum_sha256"] != checksum:
                return False, 0
            if etag and etag != str(row["version"]):
                raise EtagMismatch(f"images/{image_id}", etag, str(row["version"]))
            name = f"images/{image_id}"
            users = await conn.fetchval(
                "SELECT count(*) FROM instances WHERE deleted_at IS NULL AND (image_id = $1"
                " OR boot->'kernel'->>'name' = $2 OR boot->'ramdisk'->>'name' = $2)",
                image_id,
                name,
            )
            if users:
                raise FailedPrecondition(
                    f"{name} is used by {users} server(s): delete them first", reason="IMAGE_IN_USE"
                )
            dependants = await conn.fetch(
                "SELECT id FROM images WHERE kernel_image = $1 OR ramdisk_image = $1 ORDER BY id LIMIT 5",
                image_id,
            )
            if dependants:
                which = ", ".join(f"images/{r['id']}" for r in dependants)
                raise FailedPrecondition(
                    f"{name} is the kernel or ramdisk of {which}: delete those first",
                    reason="IMAGE_IN_USE",
                )
            if not await image_locks.try_lock_upload_xact(conn, image_id):
                raise FailedPrecondition(
                    f"{name} is being uploaded: wait for the upload to finish", reason="IMAGE_BUSY"
                )
            await conn.execute("DELETE FROM images WHERE id = $1", image_id)
            remaining = 0
            if checksum:
                remaining = await conn.fetchval(
                    "SELECT count(*) FROM images WHERE checksum_sha256 = $1", checksum
                )
        return True, remaining
