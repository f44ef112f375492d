"""Hypothesis strategies for any protobuf message, derived from its descriptor alone.

Every field type: integers of every width (their extremes, zero, -1 and small values most
often), floats with NaN and the infinities, bools, strings (the field's vocabulary, see
`vocabulary`, beside arbitrary, empty, huge and odd unicode), bytes, enums with numbers no
enum defines, nested messages (to `MAX_DEPTH`), repeated fields (few elements, or more than
any limit allows), maps, oneofs (none or one member set, as on the wire), proto3 `optional`
fields, and the well-known types with invalid values: Timestamps and Durations out of their
range or with nanos outside 0-999,999,999, FieldMasks whose paths name real fields of the
message beside them and bogus ones.

A new message, field or RPC needs nothing here: the strategies follow the descriptors.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

from devcluster.fuzz import vocabulary
from devcluster.fuzz.vocabulary import weighted

MAX_DEPTH = 5  # messages nested deeper are left empty (ScalingGroup → policies → step → steps)
FEW = 4  # elements of a repeated field, usually
MANY = (65, 80)  # sometimes: past the limits (64 metadata items, 50 scheduled actions...)

F = FieldDescriptor

_INT_RANGES: dict[int, tuple[int, int]] = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
    F.TYPE_FIXED64: (0, 2**64 - 1),
}

# Timestamp and Duration: seconds within ±10,000 years are valid, nanos within 0-999,999,999.
_SECONDS_EDGES = [
    0,
    1,
    -1,
    59,
    86_400,
    315_576_000_000,
    315_576_000_001,
    -315_576_000_001,
    2**63 - 1,
    -(2**63),
]
_NANOS_EDGES = [0, 1, 999_999_999, 1_000_000_000, -1, -999_999_999, 2**31 - 1, -(2**31)]


def integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    edges = sorted(
        {v for v in (lo, hi, 0, 1, -1, 2, 2**31 - 1, 2**31, 2**32, 2**53 + 1, -(2**31)) if lo <= v <= hi}
    )
    return weighted(
        (4, st.integers(max(lo, -4), min(hi, 20))), (2, st.sampled_from(edges)), (1, st.integers(lo, hi))
    )


def floats(width: Literal[32, 64]) -> st.SearchStrategy[float]:
    big, tiny = (3.4e38, 1e-45) if width == 32 else (1.7e308, 5e-324)
    edges = [0.0, -0.0, 1.0, -1.0, 0.5, 100.0, big, -big, tiny, float("nan"), float("inf"), float("-inf")]
    return st.one_of(st.sampled_from(edges), st.floats(width=width))


def _is_synthetic(field: FieldDescriptor) -> bool:
    """A proto3 `optional` field's oneof is no real choice."""
    o = field.containing_oneof
    return o is not None and len(o.fields) == 1 and o.name == f"_{field.name}"


def _is_map(field: FieldDescriptor) -> bool:
    t = field.message_type
    return t is not None and t.GetOptions().map_entry


def _field_paths(descriptor: Descriptor, depth: int = 2, prefix: str = "") -> list[str]:
    """The paths of a message's fields (nested `depth` levels): what a FieldMask may name."""
    paths = []
    for f in descriptor.fields:
        path = f"{prefix}{f.name}"
        paths.append(path)
        if f.message_type is not None and not _is_map(f) and depth > 1 and not f.is_repeated:
            paths += _field_paths(f.message_type, depth - 1, f"{path}.")
    return paths


def field_mask_paths(owner: Descriptor) -> list[str]:
    """Paths a FieldMask in `owner` might name: the fields of `owner`'s other message fields
    (UpdateServerRequest.update_mask → server's fields), each alone, then bogus ones."""
    real: list[str] = []
    for f in owner.fields:
        t = f.message_type
        if t is not None and not _is_map(f) and not t.full_name.startswith("google.protobuf."):
            real += _field_paths(t)
    return real


class Strategies:
    """Strategies per message descriptor, built once each (they are immutable)."""

    def __init__(self, words: vocabulary.Vocabulary | None = None) -> None:
        self._words = words or vocabulary.Vocabulary()
        self._plausible = self._words.plausible

    def message(self, descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
        return self._message(descriptor, min(depth, MAX_DEPTH))

    @functools.cache  # noqa: B019  # one Strategies per run, few descriptors
    def _message(self, descriptor: Descriptor, depth: int) -> st.SearchStrategy[Message]:
        cls: Callable[[], Message] = message_factory.GetMessageClass(descriptor)
        known = self._well_known(descriptor, cls)
        if known is not None:
            return known
        if depth >= MAX_DEPTH:
            return st.builds(cls)
        # How many fields a message sets is drawn per message: a request missing what it needs
        # is refused at its first check, one setting every optional reference (a kernel
        # image, a server group) at the check of each; both kinds, and between. Shrinking
        # leaves fields out.
        variants = [self._fields(cls, descriptor, depth, present) for present in (1, 3, 7)]
        return weighted(*[(1, v) for v in variants])

    def _fields(
        self, cls: Callable[[], Message], descriptor: Descriptor, depth: int, present: int
    ) -> st.SearchStrategy[Message]:
        """Each field set `present` times in `present` + 1, a oneof's members alike."""
        parts = []
        for f in descriptor.fields:
            if f.containing_oneof is None or _is_synthetic(f):
                value = st.tuples(st.just(f.name), self._field(f, descriptor, depth))
                parts.append(weighted((1, st.none()), (present, value)))
        for o in descriptor.oneofs:
            if len(o.fields) == 1 and _is_synthetic(o.fields[0]):
                continue
            members = [st.tuples(st.just(f.name), self._field(f, descriptor, depth)) for f in o.fields]
            parts.append(weighted((1, st.none()), *[(present, m) for m in members]))
        return st.builds(functools.partial(_build, cls, descriptor), st.tuples(*parts))

    def _field(self, f: FieldDescriptor, owner: Descriptor, depth: int) -> st.SearchStrategy[Any]:
        if f.message_type is not None and _is_map(f):
            entry = f.message_type
            key_f, value_f = entry.fields_by_name["key"], entry.fields_by_name["value"]
            keys = self._single(key_f, owner, depth, role="key")
            values = self._single(value_f, owner, depth)
            few = st.dictionaries(keys, values, max_size=2 if self._plausible else FEW)
            if key_f.type != F.TYPE_STRING or self._plausible:
                return few
            return weighted((6, few), (1, st.integers(*MANY).map(_Many)))
        one = self._single(f, owner, depth)
        if f.is_repeated:
            if self._plausible:
                return st.lists(one, max_size=2)
            many = st.lists(one, max_size=FEW)
            if f.message_type is None:
                many = weighted((6, many), (1, st.lists(one, min_size=MANY[0], max_size=MANY[1])))
            return many
        return one

    def _single(
        self, f: FieldDescriptor, owner: Descriptor, depth: int, role: str = ""
    ) -> st.SearchStrategy[Any]:
        t = f.type
        if t in _INT_RANGES:
            lo, hi = _INT_RANGES[t]
            special = self._words.integers(f.name, owner, lo, hi)
            return special if special is not None else integers(lo, hi)
        if t in (F.TYPE_DOUBLE, F.TYPE_FLOAT) and self._plausible:
            return st.floats(0, 100)
        if t == F.TYPE_DOUBLE:
            return floats(64)
        if t == F.TYPE_FLOAT:
            return floats(32)
        if t == F.TYPE_BOOL:
            return st.booleans()
        if t == F.TYPE_STRING:
            return self._words.text(f.name if not role else f"{owner.name}.{role}", owner)
        if t == F.TYPE_BYTES:
            return st.binary(max_size=64) if self._plausible else vocabulary.binary()
        if t == F.TYPE_ENUM and f.enum_type is not None:
            numbers = [v.number for v in f.enum_type.values]
            if self._plausible:
                return st.sampled_from([n for n in numbers if n] or numbers)
            return weighted((5, st.sampled_from(numbers)), (1, integers(-(2**31), 2**31 - 1)))
        if t in (F.TYPE_MESSAGE, F.TYPE_GROUP) and f.message_type is not None:
            if f.message_type.full_name == "google.protobuf.FieldMask":
                return self._field_mask(owner, f.message_type)
            return self.message(f.message_type, depth + 1)
        raise ValueError(f"{f.full_name}: no strategy for field type {t}")

    def _field_mask(self, owner: Descriptor, mask: Descriptor) -> st.SearchStrategy[Message]:
        cls = message_factory.GetMessageClass(mask)  # the pool's own FieldMask class
        real = field_mask_paths(owner)
        if self._plausible and real:
            return st.lists(st.sampled_from(real), min_size=1, max_size=2).map(lambda paths: cls(paths=paths))
        path = st.one_of(
            st.sampled_from(real) if real else st.nothing(),
            st.sampled_from(vocabulary.BOGUS_PATHS),
            vocabulary.any_text(),
        )
        return st.lists(path, max_size=FEW).map(lambda paths: cls(paths=paths))

    def _well_known(
        self, descriptor: Descriptor, cls: Callable[..., Message]
    ) -> st.SearchStrategy[Message] | None:
        name = descriptor.full_name
        if name in ("google.protobuf.Timestamp", "google.protobuf.Duration") and self._plausible:
            return st.builds(cls, seconds=st.integers(0, 3600), nanos=st.just(0))
        if name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
            seconds = weighted(
                (4, st.integers(0, 100_000)),
                (1, st.sampled_from(_SECONDS_EDGES)),
                (1, st.integers(-(2**63), 2**63 - 1)),
            )
            nanos = weighted(
                (4, st.just(0)), (1, st.sampled_from(_NANOS_EDGES)), (1, st.integers(-(2**31), 2**31 - 1))
            )
            return st.builds(cls, seconds=seconds, nanos=nanos)
        if name == "google.protobuf.Empty":
            return st.builds(cls)
        return None


class _Many(int):
    """A map with this many entries, each with its value's default (past any limit)."""


def _build(
    cls: Callable[[], Message], descriptor: Descriptor, values: tuple[tuple[str, Any] | None, ...]
) -> Message:
    m = cls()
    for chosen in values:
        if chosen is not None:
            _assign(m, descriptor.fields_by_name[chosen[0]], chosen[1])
    return m


def _assign(m: Message, f: FieldDescriptor, value: Any) -> None:
    target = getattr(m, f.name)
    if f.message_type is not None and _is_map(f):
        value_f = f.message_type.fields_by_name["value"]
        if isinstance(value, _Many):
            for i in range(value):
                if value_f.message_type is not None:
                    target[f"k{i}"].SetInParent()
                else:
                    target[f"k{i}"] = value_f.default_value
            return
        for k, v in value.items():
            if value_f.message_type is not None:
                target[k].CopyFrom(v)
            else:
                target[k] = v
    elif f.is_repeated:
        if f.message_type is not None:
            for v in value:
                target.add().CopyFrom(v)
        else:
            target.extend(value)
    elif f.message_type is not None:
        target.CopyFrom(value)
    else:
        setattr(m, f.name, value)


def exemplar(descriptor: Descriptor, words: vocabulary.Vocabulary, pick: int, depth: int = 0) -> Message:
    """A plausible request built without drawing: the `pick`-th valid word of every field that
    has a vocabulary, 64 for other integers (a count, or a size in MiB or GiB that every
    lower bound allows), the first non-zero enum value, a minute for durations; nothing in
    repeated fields and maps. The first requests of every method's run (Hypothesis' explicit
    examples): a create that is accepted, so that what follows has something to act on."""
    m: Message = message_factory.GetMessageClass(descriptor)()
    if depth >= 3:
        return m
    for f in descriptor.fields:
        if f.is_repeated or (f.containing_oneof is not None and not _is_synthetic(f)):
            continue
        value: Any = None
        if f.type == F.TYPE_STRING:
            valid, _ = words.words(f.name, descriptor)
            value = valid[pick % len(valid)] if valid else None
        elif f.type in _INT_RANGES:
            special = vocabulary.Vocabulary().integers(f.name, descriptor, *_INT_RANGES[f.type])
            value = 1 if special is not None else 64
        elif f.type == F.TYPE_ENUM and f.enum_type is not None:
            value = next((v.number for v in f.enum_type.values if v.number), None)
        elif f.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
            value = 1.0
        elif f.message_type is not None:
            name = f.message_type.full_name
            if name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
                getattr(m, f.name).seconds = 60
            elif not name.startswith("google.protobuf."):
                getattr(m, f.name).CopyFrom(exemplar(f.message_type, words, pick, depth + 1))
        if value is not None:
            setattr(m, f.name, value)
    return m
