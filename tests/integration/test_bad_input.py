"""Bad input gets the right status code and a message that says what to fix; never INTERNAL."""

from __future__ import annotations

import uuid

import grpc
import pytest

from client import AsyncClient, OvercastError
from overcast.v1 import common_pb2, server_group_pb2, server_pb2, server_pb2_grpc
from overcast.v1 import scaling_group_pb2 as sg

from .helpers import active_server
from .scaling import Groups, cpu_policy, template, unique

IA, NF, FP = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
)


async def expect(
    code: grpc.StatusCode, call: object, *, field: str | None = None, says: str = ""
) -> OvercastError:
    with pytest.raises(OvercastError) as info:
        await call  # type: ignore[misc]
    err = info.value
    assert err.code == code, f"{err.code}: {err.message}"
    if field is not None:
        fields = [f for f, _ in err.field_violations]
        assert field in fields, f"no violation on {field}: {err.field_violations}"
    assert says in err.message
    return err


async def test_unknown_flavor_or_image(api: AsyncClient) -> None:
    await expect(
        NF, api.create_server("x-flavor", flavor="m9.nope", image="cirros"), says="flavors/m9.nope not found"
    )
    await expect(
        NF,
        api.create_server("x-image", flavor="m1.tiny", image="no-such-image"),
        says="images/no-such-image not found",
    )


@pytest.mark.parametrize(
    ("vcpus", "memory_mib", "disk_gib", "field"),
    [
        (0, 512, 1, "flavor.vcpus"),
        (-4, 512, 1, "flavor.vcpus"),
        (1, -1, 1, "flavor.memory_mib"),
        (1, 0, 1, "flavor.memory_mib"),
        (1, 512, -10, "flavor.disk_gib"),
        (100_000, 512, 1, "flavor.vcpus"),
        (1, 2**40, 1, "flavor.memory_mib"),
        (1, 512, 2**40, "flavor.disk_gib"),
    ],
)
async def test_zero_negative_or_absurd_sizes(
    api: AsyncClient, vcpus: int, memory_mib: int, disk_gib: int, field: str
) -> None:
    await expect(
        IA,
        api.create_flavor(
            f"bad{uuid.uuid4().hex[:6]}", vcpus=vcpus, memory_mib=memory_mib, disk_gib=disk_gib
        ),
        field=field,
    )


@pytest.mark.parametrize(
    "server_id", ["Upper", "has_underscore", "-leading-hyphen", "1starts-with-digit", "a" * 64, ""]
)
async def test_malformed_server_ids(api: AsyncClient, server_id: str) -> None:
    await expect(IA, api.create_server(server_id, flavor="m1.tiny", image="cirros"), field="server_id")


async def test_malformed_resource_names(api: AsyncClient, cluster: object) -> None:
    await expect(IA, api.get_server("servers/web-1"), field="name")
    await expect(IA, api.get_server("projects/demo/servers/a/b"), field="name")
    await expect(IA, api.get_host("hosts/bad host"), field="name")
    await expect(NF, api.get_server("never-created"), says="not found")
    await expect(NF, api.disable_host("no-such-host"), says="hosts/no-such-host not found")


async def test_strings_over_their_limits(api: AsyncClient) -> None:
    await expect(
        IA,
        api.create_server("meta-big", flavor="m1.tiny", image="cirros", metadata={"k": "v" * 5000}),
        field="server.metadata['k']",
    )
    too_many = {f"k{i}": "v" for i in range(65)}
    await expect(
        IA,
        api.create_server("meta-many", flavor="m1.tiny", image="cirros", metadata=too_many),
        field="server.metadata",
    )
    await expect(
        IA,
        api.create_server("req-big", flavor="m1.tiny", image="cirros", request_id="r" * 200),
        field="request_id",
    )
    await expect(IA, api.disable_host("host-1", reason="x" * 2000), field="reason")


async def test_every_violation_is_reported_at_once(api: AsyncClient) -> None:
    err = await expect(IA, api.create_server("Bad Name", flavor="flavors/", image="x/y"))
    fields = {f for f, _ in err.field_violations}
    assert {"server_id", "server.flavor", "server.image"} <= fields


async def test_bad_page_token_and_size(cluster: object, api: AsyncClient) -> None:
    endpoint = cluster.endpoint  # type: ignore[attr-defined]
    async with grpc.aio.insecure_channel(endpoint) as ch:
        stub = server_pb2_grpc.ServerServiceStub(ch)
        for req, field in [
            (server_pb2.ListServersRequest(parent="projects/demo", page_token="garbage"), "page_token"),
            (server_pb2.ListServersRequest(parent="projects/demo", page_size=-1), "page_size"),
            (server_pb2.ListServersRequest(parent="nope"), "parent"),
            # deleted servers are not kept for listing: not offered, rather than always empty
            (
                server_pb2.ListServersRequest(parent="projects/demo", vm_state=common_pb2.VM_STATE_DELETED),
                "vm_state",
            ),
            (server_pb2.ListServersRequest(parent="projects/demo", vm_state=99), "vm_state"),
        ]:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.ListServers(req, timeout=10)
            assert info.value.code() == IA
            assert field in info.value.details()
        first = await stub.ListServers(
            server_pb2.ListServersRequest(parent="projects/demo", page_size=1), timeout=10
        )
        if first.next_page_token:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.ListServers(
                    server_pb2.ListServersRequest(
                        parent="projects/demo", page_size=1, page_token=first.next_page_token, vm_state=2
                    ),
                    timeout=10,
                )
            assert info.value.code() == IA and "different query" in info.value.details()


async def test_illegal_transitions(api: AsyncClient) -> None:
    server = await active_server(api, f"illegal-{uuid.uuid4().hex[:6]}")
    await expect(FP, api.start_server(server.name), says="allowed from STOPPED")
    await expect(grpc.StatusCode.ABORTED, api.stop_server(server.name, etag="999"), says="has changed")
    await expect(FP, api.delete_image("cirros"), says="used by")
    await api.delete_server(server.name)
    assert await api.wait_for_server(server.name, timeout=30) is None
    await expect(NF, api.start_server(server.name))


async def test_duplicate_names(api: AsyncClient) -> None:
    server = await active_server(api, f"dup-{uuid.uuid4().hex[:6]}")
    await expect(
        grpc.StatusCode.ALREADY_EXISTS,
        api.create_server(server.name.rsplit("/", 1)[1], flavor="m1.tiny", image="cirros"),
    )
    await expect(
        grpc.StatusCode.ALREADY_EXISTS, api.create_flavor("m1.tiny", vcpus=1, memory_mib=512, disk_gib=1)
    )
    await expect(IA, api.create_image(f"img{uuid.uuid4().hex[:4]}", "vmdk"), field="image.disk_format")
    await api.delete_server(server.name)


async def test_host_failure_policy_and_evacuation(api: AsyncClient) -> None:
    await expect(
        IA,
        api.create_server("x-policy", flavor="m1.tiny", image="cirros", host_failure_policy=99),
        field="server.host_failure_policy",
        says="HOST_FAILURE_POLICY_EVACUATE",
    )
    server = await active_server(api, f"policy-{uuid.uuid4().hex[:6]}")
    assert server.host_failure_policy == server_pb2.HOST_FAILURE_POLICY_NONE and server.generation == 1
    await expect(IA, api.set_host_failure_policy(server.name, 99), field="server.host_failure_policy")
    updated = await api.set_host_failure_policy(server.name, "evacuate")
    assert updated.host_failure_policy == server_pb2.HOST_FAILURE_POLICY_EVACUATE
    assert updated.metadata == server.metadata and int(updated.etag) == int(server.etag) + 1
    await expect(FP, api.evacuate_host(server.host), says="is UP")
    await expect(NF, api.evacuate_host("hosts/no-such-host"))
    await expect(IA, api.evacuate_host("hosts/Bad Host"))
    await api.delete_server(server.name)


# ---- scaling groups --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"min_size": 5, "max_size": 3}, "scaling_group.min_size", "min_size 5 > max_size 3"),
        ({"max_size": 0}, "scaling_group.max_size", "0 is out of range 1-10000 (required"),
        (
            {"min_size": 1, "max_size": 3, "desired_size": 7},
            "scaling_group.desired_size",
            "7 is outside [min_size 1, max_size 3]",
        ),
        ({"policies": [cpu_policy(0)]}, "scaling_group.policies[0].target_tracking.target", "above 0"),
        ({"policies": [cpu_policy(120)]}, "scaling_group.policies[0].target_tracking.target", "at most 100"),
        (
            {
                "policies": [
                    sg.ScalingPolicy(
                        name="q", target_tracking=sg.TargetTrackingPolicy(metric="custom/q", target=-1)
                    )
                ]
            },
            "scaling_group.policies[0].target_tracking.target",
            "above 0",
        ),
        (
            {
                "policies": [
                    sg.ScalingPolicy(
                        name="m", target_tracking=sg.TargetTrackingPolicy(metric="memory", target=5)
                    )
                ]
            },
            "scaling_group.policies[0].target_tracking.metric",
            "use 'cpu_utilization' or 'custom/'",
        ),
        ({"template": sg.ServerTemplate(image="images/cirros")}, "scaling_group.template.flavor", "required"),
        (
            {"template": sg.ServerTemplate(flavor="flavors/m1.tiny")},
            "scaling_group.template.image",
            "required",
        ),
        ({"template": None}, "scaling_group.template", "required"),
        ({"scale_in_rule": 42}, "scaling_group.scale_in_rule", "'42' is not one of NEWEST_FIRST"),
        (
            {"scheduled_actions": [sg.ScheduledAction(name="n", schedule="0 8 * *", desired_size=1)]},
            "scaling_group.scheduled_actions[0].schedule",
            "5 fields",
        ),
    ],
)
async def test_scaling_groups_that_cannot_work(
    scaling: Groups, fields: dict[str, object], field: str, says: str
) -> None:
    await expect(IA, scaling.create(unique("bad"), **fields), field=field, says=says)


async def test_scaling_group_ids_and_names(scaling: Groups) -> None:
    await expect(IA, scaling.create("Web_1"), field="scaling_group_id")
    await expect(IA, scaling.create("a" * 60), field="scaling_group_id", says="at most 55 characters")
    await expect(IA, scaling.get("scalingGroups/web"), field="name")
    await expect(NF, scaling.get("projects/demo/scalingGroups/never-made"), says="not found")
    await expect(IA, scaling.list(page_token="garbage"), field="page_token")


async def test_a_scaling_template_must_boot_as_create_server_would(scaling: Groups, api: AsyncClient) -> None:
    await expect(
        NF, scaling.create(unique("bad"), template=template(flavor="flavors/m9.nope")), says="flavors/m9.nope"
    )
    await expect(
        NF, scaling.create(unique("bad"), template=template(image="images/nope")), says="images/nope"
    )
    big = f"big{uuid.uuid4().hex[:6]}"
    await api.create_image(big, "qcow2", min_memory_mib=1_000_000)
    await expect(
        FP,
        scaling.create(unique("bad"), template=template(image=f"images/{big}")),
        says="choose a larger flavor",
    )
    await api.delete_image(big)


async def test_scaling_group_updates_sizes_and_metrics_that_cannot_work(scaling: Groups) -> None:
    group = await scaling.create(
        unique("upd"),
        min_size=1,
        max_size=3,
        template=template(placement_policy=server_group_pb2.SERVER_GROUP_POLICY_AFFINITY),
    )
    for paths, says in [(["size"], "not an updatable field"), (["members"], "output only"), ([], "required")]:
        await expect(
            IA, scaling.update(sg.ScalingGroup(name=group.name), paths), field="update_mask", says=says
        )
    moved = sg.ScalingGroup(
        name=group.name,
        template=template(placement_policy=server_group_pb2.SERVER_GROUP_POLICY_ANTI_AFFINITY),
    )
    await expect(
        IA,
        scaling.update(moved, ["template"]),
        field="scaling_group.template.placement_policy",
        says="cannot change",
    )
    await expect(
        IA,
        scaling.update(sg.ScalingGroup(name=group.name, min_size=4), ["min_size"]),
        field="scaling_group.min_size",
    )
    # Outside the group's current bounds: the same request works once they allow it (AIP-193).
    await expect(FP, scaling.set_desired(group.name, 9), says="change min_size or max_size")
    await expect(
        IA, scaling.record(group.name, "cpu_utilization", 1), field="metric", says="measured by the agents"
    )
    await expect(IA, scaling.record(group.name, "rps", 1), field="metric", says="custom/")
    await expect(
        IA, scaling.record(group.name, "custom/rps", 1, member="projects/demo/servers/nobody"), field="member"
    )
    await scaling.delete(group.name)
