"""What goes on the wire: a well-formed message, or bytes that are not one.

A payload is the serialized request; most are well formed (`messages`), the rest are
malformed in the ways a broken client or a hostile one sends them: random bytes, a valid
message truncated, with a byte flipped or garbage appended, a string field holding invalid
UTF-8, a length prefix running past the end, a field with a wire type its number does not
have, a group that never ends. Unknown fields that decode are well formed (proto3 keeps and
ignores them) and are sent too.
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

from devcluster.fuzz.vocabulary import weighted


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _tag(number: int, wire_type: int) -> bytes:
    return _varint((number << 3) | wire_type)


def _length_delimited(number: int, data: bytes) -> bytes:
    return _tag(number, 2) + _varint(len(data)) + data


def crafted(descriptor: Descriptor) -> list[bytes]:
    """Malformed encodings aimed at this message's own fields."""
    out = [
        b"\xff" * 10,  # a varint that never ends
        _tag(1, 2) + _varint(1000) + b"short",  # a length past the end
        _tag(1, 3),  # a group that never ends
        _tag(1, 4),  # an end-group tag without its start
        _tag(0, 0) + b"\x00",  # field number 0
        _tag(1, 6) + b"\x00",  # wire type 6 does not exist
        _tag(1, 5) + b"\x00",  # a fixed32 cut short
    ]
    for f in descriptor.fields:
        if f.type == FieldDescriptor.TYPE_STRING:
            out.append(_length_delimited(f.number, b"\xff\xfe\xc0\xaf"))  # not UTF-8
            out.append(_length_delimited(f.number, b"ok" + b"\xed\xa0\x80"))  # a surrogate
        elif f.type == FieldDescriptor.TYPE_MESSAGE:
            out.append(_length_delimited(f.number, b"\x0a\x05ab"))  # its content malformed
        else:
            out.append(_length_delimited(f.number, b"\x01\x02"))  # packed, or a wrong wire type
    # An unknown field of every wire type, well formed: to be ignored.
    out.append(_tag(9999, 0) + _varint(5) + _tag(9998, 2) + _varint(3) + b"abc")
    return out


def mutated(message: st.SearchStrategy[Message]) -> st.SearchStrategy[bytes]:
    def mutate(data: bytes, how: int, at: int, junk: bytes) -> bytes:
        if not data:
            return junk
        i = at % len(data)
        if how == 0:
            return data[:i]  # truncated
        if how == 1:
            return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]  # a byte flipped
        if how == 2:
            return data + junk  # garbage after the message
        return data[:i] + junk + data[i:]  # garbage inside

    return st.builds(
        mutate,
        message.map(lambda m: m.SerializeToString()),
        st.integers(0, 3),
        st.integers(0, 2**16),
        st.binary(min_size=1, max_size=16),
    )


def payloads(
    descriptor: Descriptor, wild: st.SearchStrategy[Message], plausible: st.SearchStrategy[Message]
) -> st.SearchStrategy[bytes]:
    """Two in five plausible (valid words, small numbers: to get past validation), two wild
    (any value of every field), one malformed."""
    return weighted(
        (2, plausible.map(lambda m: m.SerializeToString())),
        (2, wild.map(lambda m: m.SerializeToString())),
        (1, st.one_of(
            st.binary(max_size=256),
            st.sampled_from(crafted(descriptor)),
            mutated(wild),
            st.builds(bytes, st.just(17 << 20)),  # past the controller's 16 MiB receive limit
        )),
    )  # fmt: skip
