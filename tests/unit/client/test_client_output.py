from __future__ import annotations

import json

from client_fakes import server

from client.cli import output
from overcast.v1 import common_pb2, host_pb2, image_pb2


def test_enum_labels_have_no_prefixes() -> None:
    assert output.enum_label(common_pb2.VmState, common_pb2.VM_STATE_ACTIVE) == "ACTIVE"
    assert output.enum_label(common_pb2.TaskState, common_pb2.TASK_STATE_SPAWNING) == "SPAWNING"
    assert output.enum_label(common_pb2.TaskState, common_pb2.TASK_STATE_UNSPECIFIED) == "-"
    assert output.enum_label(common_pb2.PowerState, common_pb2.POWER_STATE_RUNNING) == "RUNNING"
    assert output.enum_label(image_pb2.ImageStatus, image_pb2.IMAGE_STATUS_ACTIVE) == "ACTIVE"
    assert output.enum_label(common_pb2.VmState, 99) == "99"


def test_server_row_uses_short_ids() -> None:
    row = output.server_row(
        server(
            "web-1",
            common_pb2.VM_STATE_ERROR,
            power=common_pb2.POWER_STATE_UNSPECIFIED,
            host="",
            fault="no valid host",
        )
    )
    assert row == ("web-1", "ERROR", "-", "-", "-", "m1.small", "cirros", "no valid host")


def test_host_row() -> None:
    host = host_pb2.Host(
        name="hosts/h1",
        vcpus=32,
        vcpus_used=4,
        memory_mib=1024,
        memory_mib_used=512,
        enabled=False,
        state=common_pb2.HOST_STATE_UP,
    )
    row = output.host_row(host)
    assert row[:5] == ("h1", "UP", "no", "4/32", "512MiB/1GiB")
    assert row[-1] == "-"  # no heartbeat yet


def test_plain_table_is_aligned() -> None:
    text = output.plain_table(("NAME", "STATE"), [("a-long-name", "ACTIVE"), ("b", "-")])
    assert text.splitlines() == [
        "NAME         STATE",
        "a-long-name  ACTIVE",
        "b            -",
    ]


def test_json_is_canonical_and_parseable() -> None:
    one = json.loads(output.to_json(server("web-1")))
    assert one["name"] == "projects/demo/servers/web-1"
    assert one["vmState"] == "VM_STATE_ACTIVE"  # canonical proto3 JSON: full names
    assert one["taskState"] == "TASK_STATE_UNSPECIFIED"  # fields always present
    many = json.loads(output.to_json([server("a"), server("b")]))
    assert [s["name"].rsplit("/", 1)[1] for s in many] == ["a", "b"]
    assert json.loads(output.to_json([])) == []


def test_details_rows() -> None:
    s = server("web-1")
    s.metadata.update({"b": "2", "a": "1"})
    rows = dict(output.detail_rows(s))
    assert rows["vm_state"] == "ACTIVE"
    assert rows["metadata"] == "a=1, b=2"
    assert rows["create_time"] == "-"
    assert rows["fault"] == "-"
