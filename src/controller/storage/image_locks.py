"""PostgreSQL advisory locks that keep image rows and image files consistent across replicas.

- UPLOAD_LOCK (per image id): held by an upload for its whole duration (a session lock on the
  uploader's own connection, so it dies with a crashed controller); a delete takes it for its
  transaction, so the two never overlap.
- DATA_LOCK (per sha256): serialises "this file is now used" (finishing an upload) against
  "this file is no longer used" (deleting the last image with that checksum).
"""

from __future__ import annotations

from controller.storage.rows import Conn

# pg_advisory_lock(namespace int4, key int4): one namespace per kind of lock.
UPLOAD_LOCK = 0x0C0A_0301  # key: hashtext(image id)
DATA_LOCK = 0x0C0A_0302  # key: hashtext(sha256)


async def try_lock_upload(conn: Conn, image_id: str) -> bool:
    """Session lock: released by `unlock_upload` or when the connection closes."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1, hashtext($2))", UPLOAD_LOCK, image_id))


async def try_lock_upload_xact(conn: Conn, image_id: str) -> bool:
    """Whether no upload of `image_id` is running (then none can start until commit)."""
    return bool(
        await conn.fetchval("SELECT pg_try_advisory_xact_lock($1, hashtext($2))", UPLOAD_LOCK, image_id)
    )


async def lock_data(conn: Conn, checksum: str) -> None:
    await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", DATA_LOCK, checksum)


async def unlock_data(conn: Conn, checksum: str) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1, hashtext($2))", DATA_LOCK, checksum)
