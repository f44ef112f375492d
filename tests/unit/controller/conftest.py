"""Fixtures for the controller tests that use the real PostgreSQL: a fresh, migrated database
of each test's own, dropped afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from controller.storage import database
from devcluster import isolation


@pytest.fixture
async def db_url() -> AsyncIterator[str]:
    name = f"overcast_test_{isolation.new_run_id()}_unit"
    url = isolation.database_url(name)
    await database.ensure_database(url)
    await database.migrate(url)
    try:
        yield url
    finally:
        await isolation.drop_database(name)


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await database.open_pool(db_url, min_size=1, max_size=4)
    try:
        yield p
    finally:
        await p.close()
