"""overcast.protojson against google.protobuf.json_format, on generated messages of every type
the protos define: the same JSON written, the same messages read, the same errors."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from overcast import protojson
from overcast.agent.v1 import agent_pb2
from overcast.v1 import events_pb2, host_pb2, image_pb2, server_pb2

MODULES = (agent_pb2, events_pb2, host_pb2, image_pb2, server_pb2)
TYPES = [GetMessageClass(d) for m in MODULES for d in m.DESCRIPTOR.message_types_by_name.values()]
TEXT = ["", "a", "web-1", 'quote " and \\ back', "é ü ✓", "\x00\x1f ctl", "💥", "x" * 300]
INTS = [0, 1, -1, 7, 2**31 - 1, -(2**31), 2**32 - 1, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1]


def _value(f: FieldDescriptor, rng: random.Random, depth: int) -> Any:
    if f.is_repeated and f.message_type is not None and f.message_type.GetOptions().map_entry:
        return {
            rng.choice(TEXT) + str(i): _value(f.message_type.fields_by_name["value"], rng, depth)
            for i in range(rng.randrange(4))
        }
    if f.is_repeated:
        return [_scalar_or_message(f, rng, depth) for _ in range(rng.randrange(3))]
    return _scalar_or_message(f, rng, depth)


def _scalar_or_message(f: FieldDescriptor, rng: random.Random, depth: int) -> Any:
    t = f.type
    if t == FieldDescriptor.TYPE_STRING:
        return rng.choice(TEXT)
    if t == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if t == FieldDescriptor.TYPE_ENUM:
        return rng.choice(f.enum_type.values).name
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return rng.choice([0.0, 0.5, 1.25, 1e10, -3.0])
    if t == FieldDescriptor.TYPE_BYTES:
        return "AAEC"
    if t == FieldDescriptor.TYPE_MESSAGE:
        if f.message_type.full_name == "google.protobuf.Timestamp":
            at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(
                seconds=rng.randrange(10**8), microseconds=rng.choice([0, 1000, 123456, 7])
            )
            return at.isoformat().replace("+00:00", "Z")
        if depth > 2:
            return {}
        return _fields(f.message_type, rng, depth + 1)
    lo, hi = protojson._RANGES[t]
    n = rng.choice([n for n in INTS if lo <= n <= hi])
    if (
        f.type in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64)
        and rng.random() < 0.5
    ):
        return str(n)
    return n


def _fields(d: Descriptor, rng: random.Random, depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    oneofs: set[str] = set()
    for f in d.fields:
        wkt = f.message_type is not None and f.message_type.full_name.startswith("google.protobuf.")
        if rng.random() < 0.3 or (wkt and f.message_type.full_name != "google.protobuf.Timestamp"):
            continue
        if f.containing_oneof is not None:
            if f.containing_oneof.name in oneofs:
                continue
            oneofs.add(f.containing_oneof.name)
        out[f.json_name if rng.random() < 0.3 else f.name] = _value(f, rng, depth)
    return out


def _reference(cls: type[Message], fields: dict[str, Any]) -> bytes:
    return json_format.MessageToJson(json_format.ParseDict(fields, cls()), indent=None).encode()


@pytest.mark.parametrize("seed", range(40))
def test_written_json_is_json_formats(seed: int) -> None:
    rng = random.Random(seed)
    for cls in TYPES:
        fields = _fields(cls.DESCRIPTOR, rng)
        assert json.loads(protojson.dumps(cls, fields)) == json.loads(_reference(cls, fields)), (cls, fields)


@pytest.mark.parametrize("seed", range(40))
def test_read_messages_are_json_formats(seed: int) -> None:
    rng = random.Random(seed)
    for cls in TYPES:
        body = json.loads(_reference(cls, _fields(cls.DESCRIPTOR, rng)))
        if rng.random() < 0.5:
            body["someNewerField"] = {"ignored": [1, 2]}  # unknown fields are ignored
        text = json.dumps(body)
        expected = cls()
        json_format.Parse(text, expected, ignore_unknown_fields=True)
        assert protojson.loads(text, cls) == expected


def test_spawn_command_is_byte_for_byte_json_formats(monkeypatch: pytest.MonkeyPatch) -> None:
    spawn = {
        "command_id": "4acbe5a4-7037-4b3a-9d0a-73a3255d4810",
        "op": "COMMAND_OP_SPAWN",
        "instance_uid": "46d3d3c0-5577-46b4-8f71-fdfba6406cd7",
        "instance_name": "projects/demo/servers/web-1",
        "vcpus": 2,
        "memory_mib": "4096",
        "disk_gib": "0",
        "image": "images/cirros",
        "metadata": {"sim.cpu": "0.5"},
        "kernel_args": "",
        "issued_at": "2026-11-21T16:08:21.385332Z",
        "root_image": {
            "name": "images/cirros",
            "disk_format": "qcow2",
            "size_bytes": "123",
            "checksum_sha256": "ab",
        },
    }
    reference = _reference(agent_pb2.AgentCommand, spawn)
    parsed = agent_pb2.AgentCommand()
    json_format.Parse(reference, parsed)

    def slow(*_a: object, **_k: object) -> None:
        raise AssertionError("the bus's messages must not need json_format")

    for name in ("Parse", "ParseDict", "MessageToJson"):
        monkeypatch.setattr(protojson.json_format, name, slow)
    ours = protojson.dumps(agent_pb2.AgentCommand, spawn)
    assert ours == reference
    assert b'"diskGib"' not in ours and b'"kernelArgs"' not in ours  # defaults are left out
    assert protojson.loads(ours, agent_pb2.AgentCommand) == parsed


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'"a string"',
        b'{"vcpus": "two"}',
        b'{"vcpus": 1.5}',
        b'{"vcpus": 4294967296}',
        b'{"memoryMib": "12a"}',
        b'{"op": "LAUNCH"}',
        b'{"op": 99}',
        b'{"commandId": 5}',
        b'{"commandId": "a", "command_id": "b"}',
        b'{"metadata": {"a": 1}}',
        b'{"metadata": []}',
        b'{"issuedAt": "yesterday"}',
        b'{"issuedAt": 5}',
        b'{"rootImage": "x"}',
        b'{"rootImage": {"sizeBytes": true}}',
        b'{"vcpus": null, "image": null}',
        b"\xff\xfe",
    ],
)
def test_bad_bodies_get_json_formats_answer(body: bytes) -> None:
    expected = agent_pb2.AgentCommand()
    try:
        json_format.Parse(body, expected, ignore_unknown_fields=True)
    except Exception as exc:  # whatever json_format says, we must say
        with pytest.raises(type(exc)) as raised:
            protojson.loads(body, agent_pb2.AgentCommand)
        assert str(raised.value) == str(exc)
    else:
        assert protojson.loads(body, agent_pb2.AgentCommand) == expected


def test_bad_fields_get_json_formats_answer() -> None:
    for fields in ({"vcpus": "two"}, {"no_such_field": 1}, {"op": "LAUNCH"}, {"issued_at": "yesterday"}):
        with pytest.raises(json_format.ParseError) as expected:
            _reference(agent_pb2.AgentCommand, fields)
        with pytest.raises(json_format.ParseError) as raised:
            protojson.dumps(agent_pb2.AgentCommand, fields)
        assert str(raised.value) == str(expected.value)
