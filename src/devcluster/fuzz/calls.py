"""One fuzzed call, as raw bytes over a generic channel (identity serializers): the payload
goes out exactly as drawn, valid protobuf or not, and the answer comes back undecoded.

A server-streaming call is read for a moment (`STREAM_S`) and then cut by the caller: a
watch that stays open is an answer too (`Outcome.open`). Only the status the *server* ended
a call with is judged; a call the caller cut short, or whose deadline the caller set, says
nothing about the server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import grpc

from devcluster.fuzz.surface import Method

UNARY_S = 15.0  # a unary call answered later than this hung: judged as DEADLINE_EXCEEDED
STREAM_S = 0.15  # how long a server stream is read before the caller cuts it
MAX_MESSAGE = 64 << 20

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.enable_retries", 0),
]


@dataclass(frozen=True)
class Outcome:
    code: grpc.StatusCode
    details: str
    responses: list[bytes]
    open: bool = False  # a stream still open when the caller cut it (its code is the caller's)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.code == grpc.StatusCode.OK and not self.open

    def __str__(self) -> str:
        state = "open (cut by the caller)" if self.open else self.code.name
        return f"{state}: {self.details!r} after {self.seconds:.2f} s, {len(self.responses)} responses"


def code_of(exc: grpc.RpcError) -> grpc.StatusCode:
    code: grpc.StatusCode = cast(grpc.Call, exc).code()  # what grpc raises is also a grpc.Call
    return code


def details_of(exc: grpc.RpcError) -> str:
    details: str | None = cast(grpc.Call, exc).details()
    return details or ""


def send(channel: grpc.Channel, method: Method, payload: bytes | list[bytes]) -> Outcome:
    started = time.monotonic()
    messages = payload if isinstance(payload, list) else [payload]
    try:
        if method.client_streaming and not method.server_streaming:
            one = channel.stream_unary(method.path)(iter(messages), timeout=UNARY_S)
            return Outcome(grpc.StatusCode.OK, "", [one], seconds=time.monotonic() - started)
        if not method.client_streaming and not method.server_streaming:
            one = channel.unary_unary(method.path)(messages[0], timeout=UNARY_S)
            return Outcome(grpc.StatusCode.OK, "", [one], seconds=time.monotonic() - started)
        if method.client_streaming:
            call = channel.stream_stream(method.path)(iter(messages), timeout=STREAM_S)
        else:
            call = channel.unary_stream(method.path)(messages[0], timeout=STREAM_S)
        return _read(call, started)
    except grpc.RpcError as exc:
        return Outcome(code_of(exc), details_of(exc), [], seconds=time.monotonic() - started)


def _read(call: Iterator[bytes], started: float) -> Outcome:
    responses: list[bytes] = []
    try:
        for r in call:
            responses.append(r)
    except grpc.RpcError as exc:
        code = code_of(exc)
        if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED) and (
            time.monotonic() - started >= STREAM_S * 0.9
        ):
            # The caller's own deadline: the stream was open and healthy until then.
            return Outcome(code, "", responses, open=True, seconds=time.monotonic() - started)
        return Outcome(code, details_of(exc), responses, seconds=time.monotonic() - started)
    return Outcome(grpc.StatusCode.OK, "", responses, seconds=time.monotonic() - started)
