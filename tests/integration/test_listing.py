"""ListServers with a filter and an order, and WatchServers resumed from a token, through the
client and the CLI. The servers are rows written straight into the cluster's database
(devcluster.server_rows: unplaced, no agent involved) in a project of the test's own."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

from client import AsyncClient
from client.errors import InvalidArgument
from devcluster.processes import Cluster
from devcluster.server_rows import insert_fleet
from overcast.v1 import server_pb2, server_pb2_grpc

from .test_cli import CLI, overcast

C = server_pb2.ServerChange


@pytest.fixture
async def project(cluster_db: asyncpg.Pool) -> AsyncIterator[str]:
    """300 servers: web-000000 … db-000299 (even web, odd db), 3 ERROR, 6 BUILDING, 21
    STOPPED, the rest ACTIVE; env prod (web) or dev (db); deleted afterwards."""
    name = f"lst-{uuid.uuid4().hex[:8]}"
    async with cluster_db.acquire() as conn:
        await insert_fleet(conn, name, 300, hosts=0)
    yield name
    await cluster_db.execute(
        "UPDATE instances SET vm_state = 'DELETED', deleted_at = now() WHERE project = $1", name
    )


async def test_filtered_ordered_pages(api: AsyncClient, project: str) -> None:
    web_error = await api.list_servers(project, filter='vm_state = ERROR AND name = "web-*"', page_size=2)
    assert [s.name.rsplit("/", 1)[1] for s in web_error] == ["web-000000", "web-000100", "web-000200"]
    prod = await api.list_servers(project, filter="metadata.env = prod", order_by="name desc", page_size=40)
    names = [s.name for s in prod]
    assert len(names) == 150 and names == sorted(names, reverse=True)
    newest = await api.list_servers(project, filter="NOT vm_state = ACTIVE", order_by="create_time desc")
    assert len(newest) == 30
    assert [s.create_time.ToDatetime() for s in newest] == sorted(
        (s.create_time.ToDatetime() for s in newest), reverse=True
    )
    # The typed filters still work, alone and with a filter.
    assert len(await api.list_servers(project, vm_state="BUILDING")) == 6
    assert len(await api.list_servers(project, vm_state="BUILDING", filter="metadata.env = dev")) == 3


async def test_bad_filters_and_foreign_page_tokens_are_refused_with_what_to_fix(
    cluster: Cluster, api: AsyncClient, project: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await api.list_servers(project, filter="state = ACTIVE")
    assert caught.value.field_violations == [
        (
            "filter",
            "at character 1: unknown field 'state': filter on vm_state, host, server_group, "
            "scaling_group, name, metadata.KEY",
        )
    ]
    with pytest.raises(InvalidArgument, match="order by one of"):
        await api.list_servers(project, order_by="update_time")
    async with grpc.aio.insecure_channel(cluster.endpoint) as channel:  # one page, to reuse its token
        list_page = server_pb2_grpc.ServerServiceStub(channel).ListServers
        first = await list_page(
            server_pb2.ListServersRequest(
                parent=f"projects/{project}", page_size=10, filter="vm_state = ACTIVE"
            )
        )
        assert first.next_page_token and first.resume_token
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await list_page(
                server_pb2.ListServersRequest(
                    parent=f"projects/{project}", page_token=first.next_page_token, filter="vm_state = ERROR"
                )
            )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "keep the same filters across pages" in (refused.value.details() or "")


async def _until_synced(stream: AsyncIterator[server_pb2.ServerChange]) -> list[server_pb2.ServerChange]:
    seen = []
    async for change in stream:
        if change.kind == C.KIND_SYNCED:
            seen.append(change)
            return seen
        seen.append(change)
    raise AssertionError("the watch ended before SYNCED")


async def test_a_resumed_watch_gets_only_what_changed(api: AsyncClient, project: str) -> None:
    prod = "metadata.env = prod"
    first = api.watch_servers(project, filter=prod)
    snapshot = await _until_synced(first)
    await first.aclose()
    assert len(snapshot) == 151 and {c.kind for c in snapshot[:-1]} == {C.KIND_INITIAL}
    token = snapshot[-1].resume_token

    await api.update_server_metadata("web-000010", {"env": "prod", "x": "1"}, project)  # still matches
    await api.update_server_metadata("web-000012", {"env": "dev"}, project)  # leaves the filter
    await api.update_server_metadata("db-000013", {"env": "prod"}, project)  # joins it

    resumed = api.watch_servers(project, filter=prod, resume_token=token)
    changes = await _until_synced(resumed)
    got = {(c.kind, c.server.name.rsplit("/", 1)[1]) for c in changes[:-1]}
    assert got == {
        (C.KIND_CHANGED, "web-000010"),
        (C.KIND_REMOVED, "web-000012"),
        (C.KIND_CHANGED, "db-000013"),
    }
    # Live changes follow, each with a point to resume from after it.
    await api.update_server_metadata("web-000014", {"env": "prod", "y": "2"}, project)
    live = await anext(resumed)
    await resumed.aclose()
    assert (live.kind, live.server.name.rsplit("/", 1)[1]) == (C.KIND_CHANGED, "web-000014")
    after_live = api.watch_servers(project, filter=prod, resume_token=live.resume_token)
    assert [c.kind for c in await _until_synced(after_live)] == [C.KIND_SYNCED]
    await after_live.aclose()

    with pytest.raises(InvalidArgument, match="resume with the same filter"):
        await _until_synced(api.watch_servers(project, filter="vm_state = ACTIVE", resume_token=token))


def test_cli_lists_with_a_filter_and_watches(cluster: Cluster, project: str) -> None:
    listed = overcast(
        cluster,
        "-o",
        "json",
        "server",
        "list",
        "-p",
        project,
        "--filter",
        "vm_state = ERROR",
        "--order-by",
        "name desc",
    )
    assert listed.returncode == 0, listed.stderr
    assert [s["name"].rsplit("/", 1)[1] for s in json.loads(listed.stdout)] == [
        "web-000200",
        "web-000100",
        "web-000000",
    ]
    bad = overcast(cluster, "server", "list", "-p", project, "--filter", "vm_state = NOPE")
    assert bad.returncode == 2 and "vm_state is one of" in bad.stderr

    env = {**os.environ, "OVERCAST_ENDPOINT": cluster.endpoint}
    with subprocess.Popen(
        [CLI, "server", "watch", "-p", project, "--filter", "vm_state = ERROR"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as watch:
        assert watch.stdout is not None
        lines = [watch.stdout.readline() for _ in range(4)]
        watch.terminate()
    assert [line.split()[1] for line in lines[:3]] == ["now"] * 3
    assert "vm_state=ERROR" in lines[0] and lines[3].split()[1] == "synced"
