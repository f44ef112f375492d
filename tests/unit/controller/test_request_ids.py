"""Request ids (issue 14, defect 3): a retry gets what the first create made, the same id with
other parameters is refused naming them, and ids are remembered until a retention period
after what they made is gone. The rule (controller.domain.requests) on its own, then the
services on the real PostgreSQL stores."""

from __future__ import annotations

import asyncio
import dataclasses

import asyncpg
import pytest

from controller.domain.errors import AlreadyExists, FailedPrecondition
from controller.domain.model import CommandOp, Image, VmState
from controller.domain.requests import (
    REQUEST_ID_RESOURCE_DELETED,
    REQUEST_ID_REUSED,
    RequestIdReused,
    RequestRecord,
    check_retry,
    differing,
    parameters,
)
from controller.services.catalog import CatalogService
from controller.services.server_groups import ServerGroupService
from controller.services.servers import CreateServer, ServerService
from controller.storage import database, request_ids, upkeep
from controller.storage.catalog import PgCatalogStore
from controller.storage.instances import PgInstanceStore
from controller.storage.server_groups import PgServerGroupStore


def create(server_id: str = "r1", **changes: object) -> CreateServer:
    req = CreateServer(
        parent="projects/demo",
        server_id=server_id,
        flavor="flavors/m1.tiny",
        image="images/cirros",
        metadata={"role": "web"},
        request_id="req-1",
    )
    return dataclasses.replace(req, **changes)  # type: ignore[arg-type]


# ---- the rule ---------------------------------------------------------------------------------


def test_every_field_of_the_request_but_its_id_is_a_parameter() -> None:
    given = parameters(create(kernel_args="console=ttyS0"))
    assert given == {
        "parent": "projects/demo",
        "server_id": "r1",
        "flavor": "flavors/m1.tiny",
        "image": "images/cirros",
        "metadata": {"role": "web"},
        "kernel_args": "console=ttyS0",  # the other optional fields are at their defaults
    }
    # Every field of CreateServer but request_id is covered: none is forgotten by hand.
    names = {f.name for f in dataclasses.fields(CreateServer)} - {"request_id"}
    assert names == set(parameters(create(**{n: "x" for n in names if n != "metadata"}, metadata={"k": "v"})))


def test_a_field_added_to_a_request_joins_the_comparison_by_itself() -> None:
    """A field added to CreateServer later (as scaling_group was): no code here changes."""
    extended = dataclasses.make_dataclass(
        "CreateServerNext",
        [("boot_priority", str, dataclasses.field(default=""))],
        bases=(CreateServer,),
        frozen=True,
    )
    old = parameters(create())  # remembered before the field existed
    same = extended(**dataclasses.asdict(create()))
    assert differing(old, parameters(same)) == []  # at its default: the same request
    other = extended(**dataclasses.asdict(create()), boot_priority="high")
    assert differing(old, parameters(other)) == ["boot_priority"]


def test_the_same_id_with_other_parameters_is_refused_naming_them() -> None:
    record = RequestRecord("projects/demo/servers/r1", parameters(create()))
    check_retry("req-1", record, parameters(create()))  # the same request: no error
    with pytest.raises(RequestIdReused) as refused:
        check_retry("req-1", record, parameters(create("r2", metadata={})), lambda f: f"server.{f}")
    assert isinstance(refused.value, AlreadyExists) and refused.value.reason == REQUEST_ID_REUSED
    assert refused.value.message == (
        "request_id 'req-1' was already used to create projects/demo/servers/r1 with other"
        " parameters (server.metadata, server.server_id differ): a different request needs a new"
        " request_id"
    )
    assert dict(refused.value.metadata) == {
        "request_id": "req-1",
        "resource": "projects/demo/servers/r1",
        "fields": "server.metadata,server.server_id",
    }


def test_ids_remembered_before_their_parameters_compare_as_the_same_request() -> None:
    assert differing(None, parameters(create("anything"))) == []


# ---- the services on PostgreSQL --------------------------------------------------------------


@pytest.fixture
async def servers(pool: asyncpg.Pool) -> ServerService:
    catalog = PgCatalogStore(pool)
    await catalog.create_image(Image("cirros", "qcow2"), None)
    return ServerService(PgInstanceStore(pool), catalog, PgServerGroupStore(pool))


async def test_a_retry_gets_the_first_server_and_another_request_is_refused(
    servers: ServerService, pool: asyncpg.Pool
) -> None:
    first = await servers.create(create())
    assert (await servers.create(create())).uid == first.uid
    with pytest.raises(RequestIdReused, match=r"\(server.flavor, server_id differ\)"):
        await servers.create(create("r2", flavor="flavors/m1.small"))
    assert await pool.fetchval("SELECT count(*) FROM instances") == 1


async def test_a_retry_racing_its_first_call_gets_the_same_server(
    servers: ServerService, pool: asyncpg.Pool
) -> None:
    made = await asyncio.gather(*(servers.create(create()) for _ in range(8)))
    assert len({i.uid for i in made}) == 1
    assert await pool.fetchval("SELECT count(*) FROM instances") == 1
    refused = await asyncio.gather(
        *(servers.create(create(f"other-{n}", request_id="req-2")) for n in range(4)), return_exceptions=True
    )
    created = [r for r in refused if not isinstance(r, Exception)]
    assert len(created) == 1  # one of the four made it; the others reused its id
    assert all(isinstance(r, RequestIdReused) for r in refused if isinstance(r, Exception))


async def test_an_id_outlives_its_server_for_the_retention_then_is_forgotten(
    servers: ServerService, pool: asyncpg.Pool
) -> None:
    first = await servers.create(create())
    await servers.act(first.name, CommandOp.DELETE, "")  # never placed: deleted at once
    again = await servers.create(create())
    assert again.uid == first.uid and again.vm_state is VmState.DELETED  # the first result, as it is
    with pytest.raises(RequestIdReused):
        await servers.create(create("r2"))
    gone_at = await pool.fetchval("SELECT gone_at FROM request_ids WHERE request_id = 'req-1'")
    assert gone_at is not None  # set by the trigger when the server was deleted

    async with pool.acquire() as conn:
        assert await request_ids.purge(conn, retention_s=3600) == 0  # within the retention
        await conn.execute("UPDATE request_ids SET gone_at = now() - interval '2 hours'")
        assert await request_ids.purge(conn, retention_s=3600) == 1
    fresh = await servers.create(create("r2"))  # the id is free again: a new request
    assert fresh.uid != first.uid and fresh.vm_state is VmState.BUILDING


async def test_live_servers_keep_their_ids_whatever_their_age(
    servers: ServerService, pool: asyncpg.Pool
) -> None:
    await servers.create(create())
    await pool.execute("UPDATE request_ids SET created_at = now() - interval '30 days'")
    async with pool.acquire() as conn:
        assert await request_ids.purge(conn, retention_s=60) == 0
    with pytest.raises(RequestIdReused):
        await servers.create(create("r2"))


async def test_flavors_refuse_a_reused_id_and_say_when_theirs_was_deleted(pool: asyncpg.Pool) -> None:
    flavors = CatalogService(PgCatalogStore(pool))
    first = await flavors.create_flavor("f1", 2, 1024, 10, "", "req-f")
    assert await flavors.create_flavor("f1", 2, 1024, 10, "", "req-f") == first
    with pytest.raises(RequestIdReused, match=r"\(flavor.vcpus, flavor_id differ\)"):
        await flavors.create_flavor("f2", 4, 1024, 10, "", "req-f")
    await flavors.delete_flavor("flavors/f1", "")
    with pytest.raises(FailedPrecondition) as gone:
        await flavors.create_flavor("f1", 2, 1024, 10, "", "req-f")
    assert gone.value.reason == REQUEST_ID_RESOURCE_DELETED
    assert "created flavors/f1, which has since been deleted" in gone.value.message


async def test_server_groups_refuse_a_reused_id(pool: asyncpg.Pool) -> None:
    groups = ServerGroupService(PgServerGroupStore(pool))
    first = await groups.create("projects/demo", "g1", "ANTI_AFFINITY", "req-g")
    assert (await groups.create("projects/demo", "g1", "ANTI_AFFINITY", "req-g")).name == first.name
    with pytest.raises(RequestIdReused, match=r"\(server_group.policy, server_group_id differ\)"):
        await groups.create("projects/demo", "g2", "AFFINITY", "req-g")
    # Request ids belong to a project: another project may use the same one.
    other = await groups.create("projects/other", "g2", "AFFINITY", "req-g")
    assert other.name == "projects/other/serverGroups/g2"
    await groups.delete(first.name, "")
    assert await pool.fetchval(
        "SELECT gone_at IS NOT NULL FROM request_ids WHERE project = 'demo' AND request_id = 'req-g'"
    )


async def test_table_upkeep_forgets_ids_past_their_retention_even_without_vacuuming(
    servers: ServerService, pool: asyncpg.Pool, db_url: str
) -> None:
    old = await servers.create(create("old", request_id="req-old"))
    await servers.act(old.name, CommandOp.DELETE, "")
    await servers.create(create("kept", request_id="req-kept"))
    await pool.execute(
        "UPDATE request_ids SET gone_at = now() - interval '25 hours' WHERE gone_at IS NOT NULL"
    )
    conn = await database.connect(db_url)
    try:
        upkeep_round = asyncio.ensure_future(
            upkeep.keep_tables(conn, 60, vacuum=False, request_id_retention_s=24 * 3600)
        )
        for _ in range(100):
            if await pool.fetchval("SELECT count(*) FROM request_ids") == 1:
                break
            await asyncio.sleep(0.05)
        upkeep_round.cancel()
        await asyncio.gather(upkeep_round, return_exceptions=True)
    finally:
        await conn.close()
    assert await pool.fetch("SELECT request_id FROM request_ids") == [("req-kept",)]
