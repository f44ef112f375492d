"""Connecting to PostgreSQL: create the database when missing, apply migrations, open a pool."""

from __future__ import annotations

import importlib.resources
import json
import re
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog

log = structlog.get_logger(__name__)

# Any fixed 64-bit number works; it only has to differ from the other locks we take.
MIGRATION_LOCK = 0x0C_0A57_0001


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("jsonb", "json"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def ensure_database(url: str) -> None:
    """Create the database named in `url` if it does not exist (safe when raced)."""
    parts = urlsplit(url)
    dbname = parts.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z0-9_]+", dbname):
        raise ValueError(f"database name {dbname!r} must be letters, digits and underscores")
    admin = urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(admin)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", dbname):
            return
        try:
            await conn.execute(f'CREATE DATABASE "{dbname}"')
            log.info("database.created", database=dbname)
        except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
            pass  # another controller created it first
    finally:
        await conn.close()


def _migrations() -> list[tuple[int, str, str]]:
    files = importlib.resources.files("controller.storage") / "migrations"
    found = []
    for f in files.iterdir():
        m = re.match(r"^(\d{4})_.*\.sql$", f.name)
        if m:
            found.append((int(m.group(1)), f.name, f.read_text()))
    return sorted(found)


async def migrate(url: str) -> list[str]:
    """Apply the migrations not yet applied; returns their names.

    A session advisory lock serialises controllers that start at once: the second waits,
    then finds everything applied.
    """
    conn = await asyncpg.connect(url)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in _migrations():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
            applied.append(name)
            log.info("database.migrated", migration=name)
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    finally:
        await conn.close()
    return applied


async def open_pool(url: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, init=_init_connection)
    assert pool is not None
    return pool


async def connect(url: str) -> asyncpg.Connection:
    """A dedicated connection (LISTEN, leadership locks) outside the pool."""
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    return conn
