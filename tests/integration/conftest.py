from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

from client import AsyncClient
from controller.storage import database
from devcluster.processes import Cluster

from .scaling import Groups

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
async def api(cluster: Cluster) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(cluster.endpoint, timeout=15) as c:
        if not [i async for i in _images(c)]:
            await c.create_image("cirros", "qcow2")
        yield c


async def _images(c: AsyncClient) -> AsyncIterator[object]:
    for image in await c.list_images():
        yield image


@pytest.fixture(scope="session")
async def scaling(cluster: Cluster, api: AsyncClient) -> AsyncIterator[Groups]:
    """ScalingGroupService on the shared cluster (tests/integration/scaling.py); `api` makes
    sure the image templates name (cirros) exists."""
    async with grpc.aio.insecure_channel(cluster.endpoint) as channel:
        yield Groups(channel)


@pytest.fixture(scope="session")
async def cluster_db(cluster: Cluster) -> AsyncIterator[asyncpg.Pool]:
    """The shared cluster's own database, for what only the controller's internals do (the
    autoscaler's writes, members with a scaling group)."""
    pool = await database.open_pool(cluster.database_url, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()
