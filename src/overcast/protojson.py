"""Proto3 JSON for the bus messages, without google.protobuf.json_format's cost.

Every spawn command and lifecycle event crosses RabbitMQ as canonical proto3 JSON. With
`json_format` that costs ~125 µs per message to write (ParseDict into a message, then
MessageToJson) and as much to read: at thousands of placements a second that was more CPU than
the placements themselves. This module produces and reads the same JSON straight from plain
dicts for messages made of the field kinds the bus uses (strings, bools, integers, enums,
nested messages, Timestamps, string maps):

- `dumps(cls, fields)`: what `MessageToJson(ParseDict(fields, cls()), indent=None)` returns,
  as bytes (`fields` as ParseDict takes them: proto field names or JSON names; int64 as int
  or decimal string; enums by name; Timestamps as RFC 3339 strings: `rfc3339(datetime)`). Map
  entries keep the dict's order (json_format's follows the map's internal order: the same JSON
  object).
- `loads(body, cls)`: what `json_format.Parse(body, cls(), ignore_unknown_fields=True)`
  returns.

Anything the fast path is not sure about (another field kind, a value in a form it does not
take, a null, a duplicate field, text that is not a JSON object) is handed to json_format, so
results and error messages are json_format's own; tests/unit/test_protojson.py compares the two
on generated messages.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from google.protobuf import json_format, timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)

_INT32 = (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32)
_UINT32 = (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32)
_INT64 = (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64)
_UINT64 = (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64)
_RANGES = {
    **{t: (-(2**31), 2**31 - 1) for t in _INT32},
    **{t: (0, 2**32 - 1) for t in _UINT32},
    **{t: (-(2**63), 2**63 - 1) for t in _INT64},
    **{t: (0, 2**64 - 1) for t in _UINT64},
}
_DECIMAL = re.compile(r"-?[0-9]+\Z")
_TIMESTAMP = timestamp_pb2.Timestamp.DESCRIPTOR.full_name


class _Slow(Exception):
    """The fast path cannot vouch for this input: json_format decides."""


class _Field:
    __slots__ = ("hi", "json_name", "kind", "lo", "name", "names", "number", "numbers", "presence", "schema")

    def __init__(self, f: FieldDescriptor) -> None:
        self.name = f.name
        self.json_name = f.json_name
        self.number = f.number
        self.presence = f.has_presence
        self.lo, self.hi = _RANGES.get(f.type, (0, 0))
        self.names: dict[str, int] = {}
        self.numbers: dict[int, str] = {}
        self.schema: _Schema | None = None
        self.kind = _kind(f)
        if self.kind == "enum":
            self.names = {v.name: v.number for v in f.enum_type.values}
            self.numbers = {v.number: v.name for v in reversed(f.enum_type.values)}  # first name wins
        elif self.kind == "message":
            self.schema = _schema(f.message_type)


def _kind(f: FieldDescriptor) -> str:
    if f.is_repeated:
        entry = f.message_type
        is_string_map = (
            entry is not None
            and entry.GetOptions().map_entry
            and all(entry.fields_by_name[k].type == FieldDescriptor.TYPE_STRING for k in ("key", "value"))
        )
        return "string_map" if is_string_map else "other"
    if f.type == FieldDescriptor.TYPE_STRING:
        return "string"
    if f.type == FieldDescriptor.TYPE_BOOL:
        return "bool"
    if f.type in _INT32 or f.type in _UINT32:
        return "int32"
    if f.type in _INT64 or f.type in _UINT64:
        return "int64"
    if f.type == FieldDescriptor.TYPE_ENUM and not f.enum_type.is_closed:
        return "enum"
    if f.type == FieldDescriptor.TYPE_MESSAGE:
        if f.message_type.full_name == _TIMESTAMP:
            return "timestamp"
        if not f.message_type.full_name.startswith("google.protobuf."):
            return "message"
    return "other"  # floats, bytes, repeated fields, other well-known types: json_format


class _Schema:
    def __init__(self) -> None:
        self.fields: dict[str, _Field] = {}  # by proto name and by JSON name

    def fill(self, d: Descriptor) -> None:
        for fd in d.fields:
            f = _Field(fd)
            self.fields[f.name] = f
            self.fields[f.json_name] = f


_SCHEMAS: dict[str, _Schema] = {}


def _schema(d: Descriptor) -> _Schema:
    s = _SCHEMAS.get(d.full_name)
    if s is None:
        s = _SCHEMAS[d.full_name] = _Schema()  # before filling: a recursive message finds itself
        s.fill(d)
    return s


# --- writing ----------------------------------------------------------------------------------


def dumps(cls: type[Message], fields: Mapping[str, Any]) -> bytes:
    """Canonical proto3 JSON of the message `fields` describe (see the module docstring)."""
    try:
        js = _encode(_schema(cls.DESCRIPTOR), fields)
    except _Slow:
        message = json_format.ParseDict(fields, cls())
        return json_format.MessageToJson(message, indent=None).encode()
    return json.dumps(js).encode()


def _encode(schema: _Schema, fields: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(fields, Mapping):
        raise _Slow
    found: list[tuple[int, _Field, Any]] = []
    for key, value in fields.items():
        f = schema.fields.get(key)
        if f is None or value is None:
            raise _Slow
        found.append((f.number, f, value))
    found.sort(key=lambda t: t[0])  # json_format writes fields in field-number order
    out: dict[str, Any] = {}
    last = -1
    for number, f, value in found:
        if number == last:
            raise _Slow  # the same field twice (by both names)
        last = number
        js = _encode_value(f, value)
        if js is not _OMIT:
            out[f.json_name] = js
    return out


_OMIT = object()


_SCALARS = frozenset(("string", "bool", "int32", "int64", "enum"))


def _scalar(f: _Field, value: Any) -> Any:
    """A string, bool, integer or enum field's value as a str, bool, int or enum number, when
    it is given in a form json_format reads the same way (else _Slow)."""
    kind, t = f.kind, type(value)
    if kind == "string":
        ok = t is str
    elif kind == "bool":
        ok = t is bool
    elif kind == "enum":
        ok = t is str and value in f.names
        value = f.names.get(value) if ok else value
    else:  # int32, int64 (the latter also as a decimal string, as JSON writes it)
        if t is str and kind == "int64" and _DECIMAL.match(value):
            value, t = int(value), int
        ok = t is int and f.lo <= value <= f.hi
    if not ok:
        raise _Slow
    return value


def _encode_value(f: _Field, value: Any) -> Any:
    kind, t = f.kind, type(value)
    if kind in _SCALARS:
        v = _scalar(f, value)
        if not v and not f.presence:
            return _OMIT  # a default value without presence is not written
        if kind == "int64":
            return str(v)
        return f.numbers[v] if kind == "enum" else v
    if kind == "message":
        assert f.schema is not None
        return _encode(f.schema, value)
    if kind == "timestamp":
        if t is not str:
            raise _Slow
        return _timestamp_text(value)
    if kind == "string_map":
        if not isinstance(value, Mapping) or not all(
            type(k) is str and type(v) is str for k, v in value.items()
        ):
            raise _Slow
        return dict(value) if value else _OMIT
    raise _Slow


@functools.lru_cache(maxsize=4096)
def _timestamp_text(text: str) -> str:
    ts = timestamp_pb2.Timestamp()
    try:
        ts.FromJsonString(text)
    except ValueError:
        raise _Slow from None
    return ts.ToJsonString()


@functools.lru_cache(maxsize=4096)
def rfc3339(value: datetime) -> str:
    """A Timestamp field's JSON text for `value` (as json_format writes it)."""
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts.ToJsonString()


# --- reading ----------------------------------------------------------------------------------


def loads(body: bytes | str, cls: type[M]) -> M:
    """The message in `body` (unknown fields ignored), as json_format.Parse reads it; its
    errors (json_format.ParseError) for what is not a valid message of `cls`."""
    try:
        obj = json.loads(body)
        return cls(**_decode(_schema(cls.DESCRIPTOR), obj))
    except (_Slow, ValueError, TypeError):
        message = cls()
        json_format.Parse(body, message, ignore_unknown_fields=True)
        return message


def _decode(schema: _Schema, obj: Any) -> dict[str, Any]:
    if type(obj) is not dict:
        raise _Slow
    out: dict[str, Any] = {}
    for key, value in obj.items():
        f = schema.fields.get(key)
        if f is None:
            continue  # unknown: ignored
        if value is None or f.name in out:
            raise _Slow
        out[f.name] = _decode_value(f, value)
    return out


def _decode_value(f: _Field, value: Any) -> Any:
    kind, t = f.kind, type(value)
    if kind in _SCALARS:
        return _scalar(f, value)
    if kind == "message":
        assert f.schema is not None
        return _decode(f.schema, value)
    if kind == "timestamp":
        if t is not str:
            raise _Slow
        ts = timestamp_pb2.Timestamp()
        ts.FromJsonString(value)  # ValueError: json_format says what is wrong
        return ts
    if kind == "string_map":
        if t is not dict or not all(type(v) is str for v in value.values()):
            raise _Slow
        return value
    raise _Slow
