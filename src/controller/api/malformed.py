"""Requests that are not the protobuf message their method takes → INVALID_ARGUMENT.

gRPC decodes a request with the method's deserializer before any handler runs; when that
fails (bytes that are not a protobuf, a string field that is not UTF-8, a truncated frame),
grpcio ends the call `UNKNOWN` ("Unexpected DecodeError") for a unary or server-streaming
method, and a handler that reads a stream sees the DecodeError as if it were its own bug
(`INTERNAL`, `api.bug`). The caller sent garbage; the answer is `INVALID_ARGUMENT` saying
what was expected.

`MalformedRequests` is a server interceptor that gives every method a deserializer that
never raises DecodeError:
- unary and server-streaming methods get a `Malformed` marker instead of the request, and a
  behaviour that ends such a call `INVALID_ARGUMENT` before the handler runs;
- client- and bidirectional-streaming methods (the image upload, the agents' stream) read
  their messages as they go, so the decoding raises `MalformedMessage`, an
  `InvalidArgument` their handlers already end the call with (`controller.api.errors`).
The wrapped handler is built once per method, not per call.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import structlog
from google.protobuf.message import DecodeError

from controller.domain.errors import FieldViolation, InvalidArgument

log = structlog.get_logger(__name__)

Deserializer = Callable[[bytes], Any]


class MalformedMessage(InvalidArgument):
    """A message of a stream that is not the protobuf message the method takes."""

    reason = "MALFORMED_MESSAGE"


def _expected(deserializer: Deserializer) -> str:
    """The full name of the message `deserializer` decodes (a generated `FromString`)."""
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return str(getattr(descriptor, "full_name", "") or "the method's request message")


def describe(method: str, expected: str, exc: Exception) -> str:
    return (
        f"{method}: the request is not a valid {expected} ({exc}); send a {expected} "
        "serialized as protobuf binary"
    )


class Malformed:
    """What a unary request that did not decode is replaced with."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _marking(method: str, deserializer: Deserializer) -> Deserializer:
    expected = _expected(deserializer)

    def decode(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError as exc:
            return Malformed(describe(method, expected, exc))

    return decode


def _raising(method: str, deserializer: Deserializer) -> Deserializer:
    expected = _expected(deserializer)

    def decode(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError as exc:
            message = describe(method, expected, exc)
            raise MalformedMessage([FieldViolation("request", message)], message) from None

    return decode


async def _refuse(method: str, request: Malformed, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    log.info("api.malformed_request", method=method, error=request.message)
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)


def _unary_unary(method: str, behaviour: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def guarded(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        if isinstance(request, Malformed):
            await _refuse(method, request, context)
        return await behaviour(request, context)

    return guarded


def _unary_stream(method: str, behaviour: Callable[..., Any]) -> Callable[..., Any]:
    if not inspect.isasyncgenfunction(behaviour):
        return _unary_unary(method, behaviour)  # it writes its responses through the context

    async def guarded(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        if isinstance(request, Malformed):
            await _refuse(method, request, context)
        async for response in behaviour(request, context):
            yield response

    return guarded


def guard(method: str, handler: Any) -> Any:  # grpc.RpcMethodHandler declares no attributes
    """`handler` with a request deserializer that never raises DecodeError (module docstring).
    A handler without a deserializer (raw bytes) or with a synchronous behaviour is left as it
    is."""
    decode = handler.request_deserializer
    if decode is None:
        return handler
    serialize = handler.response_serializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _unary_unary(method, handler.unary_unary), _marking(method, decode), serialize
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _unary_stream(method, handler.unary_stream), _marking(method, decode), serialize
        )
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(handler.stream_unary, _raising(method, decode), serialize)
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(
            handler.stream_stream, _raising(method, decode), serialize
        )
    return handler


class MalformedRequests(grpc.aio.ServerInterceptor):
    """The server interceptor: every method's handler through `guard`, once per method."""

    def __init__(self) -> None:
        self._guarded: dict[str, tuple[Any, Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler  # an unknown method: UNIMPLEMENTED, as without the interceptor
        method = handler_call_details.method
        known = self._guarded.get(method)
        if known is None or known[0] is not handler:
            known = self._guarded[method] = (handler, guard(method.lstrip("/"), handler))
        guarded: grpc.RpcMethodHandler = known[1]
        return guarded
