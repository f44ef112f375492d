"""The fuzz kit (devcluster.fuzz) covers every public RPC: a new RPC fails here until its
status table entry says what it may answer, and the strategies, derived from the
descriptors, must draw requests for every method's message (a new field type the kit does
not know fails here too). tests/integration/test_fuzz.py then asserts each was exercised."""

from __future__ import annotations

import pytest
from grpc_health.v1 import health_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devcluster.fuzz import expected, messages, payloads, surface, vocabulary

METHODS = [*surface.committed_methods(), *surface._methods(health_pb2.DESCRIPTOR.services_by_name["Health"])]


def test_every_public_method_has_a_status_table_entry_and_no_entry_is_stale() -> None:
    paths = {m.path for m in METHODS}
    missing = sorted(paths - set(expected.ALLOWED))
    assert not missing, f"decide what these may answer in devcluster/fuzz/expected.py: {missing}"
    stale = sorted(set(expected.ALLOWED) - paths)
    assert not stale, f"entries for methods that no longer exist: {stale}"
    for path, codes in expected.ALLOWED.items():
        assert not codes & expected.NEVER, path


def test_every_service_the_protos_define_is_fuzzed() -> None:
    assert {m.service for m in METHODS} >= set(surface.committed_services())
    assert len(surface.committed_services()) >= 6


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.path)
def test_the_strategies_draw_requests_for_every_method(method: surface.Method) -> None:
    wild = messages.Strategies()
    plausible = messages.Strategies(vocabulary.Vocabulary(plausible=True))
    drawn = payloads.payloads(method.input, wild.message(method.input), plausible.message(method.input))

    @settings(max_examples=15, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(drawn, st.data())
    def draws(data: bytes, _: st.DataObject) -> None:
        assert isinstance(data, bytes)

    draws()
    exemplar = messages.exemplar(method.input, vocabulary.Vocabulary(plausible=True), 1)
    assert exemplar.DESCRIPTOR.full_name == method.input.full_name


def test_lifecycle_order_puts_creates_first_and_deletes_last() -> None:
    ordered = [m.name for m in surface.in_lifecycle_order(METHODS)]
    creates = [i for i, n in enumerate(ordered) if n.startswith("Create")]
    deletes = [i for i, n in enumerate(ordered) if n.startswith("Delete")]
    others = [i for i, n in enumerate(ordered) if not n.startswith(("Create", "Delete"))]
    assert max(creates) < min(others) and max(others) < min(deletes)


def test_a_status_quoting_too_much_or_saying_nothing_is_a_problem() -> None:
    import grpc

    path = "/overcast.v1.ServerService/GetServer"
    assert expected.problem(path, grpc.StatusCode.NOT_FOUND, "projects/p/servers/s not found") is None
    assert "UNKNOWN" in str(expected.problem(path, grpc.StatusCode.UNKNOWN, "Unexpected DecodeError"))
    assert "INTERNAL" in str(expected.problem(path, grpc.StatusCode.INTERNAL, "a bug"))
    assert "without a message" in str(expected.problem(path, grpc.StatusCode.INVALID_ARGUMENT, ""))
    limit = "Stream removed (received metadata size exceeds hard limit (value length 602691 vs. 16384))"
    assert "metadata limit" in str(expected.problem(path, grpc.StatusCode.RESOURCE_EXHAUSTED, limit))
