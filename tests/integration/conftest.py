from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from client import AsyncClient
from devcluster.processes import Cluster

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
