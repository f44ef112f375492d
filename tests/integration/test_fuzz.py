"""Bad input at scale. First every public RPC a running controller lists, random and malformed
requests drawn from the protobuf descriptors (devcluster.fuzz), sent from outside to a real
controller with two test-driver agents.

It holds when no call is answered a code its method may not answer (never UNKNOWN or
INTERNAL: devcluster.fuzz.expected), no error comes without a message, every process still
runs and logged no bug, every public method was exercised, nothing exists that no accepted
call created, and once everything the fuzz created is deleted through the API, the database,
the hypervisors and the image store hold what they held before.

Derandomized (the same requests every run) unless `--hypothesis-seed=N` is given;
OVERCAST_FUZZ_EXAMPLES sets the requests per method (docs/testing.md: running it longer).

Then garbage on the agents' gateway (not public: fuzzed apart), on the same cluster.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator

import grpc
import pytest

from client import Client
from devcluster.fuzz import calls, campaign, inventory, surface
from devcluster.processes import Cluster
from overcast.agent.v1 import agent_pb2
from overcast.v1 import common_pb2
from tests.conftest import ClusterFactory

EXAMPLES = int(os.environ.get("OVERCAST_FUZZ_EXAMPLES", "60"))
HOSTS = ("host-1", "host-2")
# A bug (logged where it happened), a crash, an exception nobody handled.
BUG_LINES = re.compile(
    r"\b(api\.bug|\w+\.crashed)\b|Task exception was never retrieved|Exception in callback"
)


@pytest.fixture(scope="module")
def fuzzed(clusters: ClusterFactory) -> Iterator[Cluster]:
    """A cluster of its own: the fuzz disables hosts, deletes flavors and images."""
    c = clusters("fuzz")
    c.start_controller()
    c.wait_controller()
    for h in HOSTS:
        c.start_agent(h)
    c.wait_hosts_up(list(HOSTS))
    with Client(c.endpoint, timeout=15) as api:
        api.create_image("cirros", "qcow2")
    yield c
    unclean = clusters.teardown(c)
    c.controllers.clear()
    c.agents.clear()
    assert not unclean, f"processes did not shut down cleanly: {unclean}"


def _seed(config: pytest.Config) -> int | None:
    value = config.getoption("hypothesis_seed", default=None)
    return None if value is None else int(value)


def _alive(c: Cluster) -> str | None:
    for p in [*c.controllers, *c.agents.values()]:
        if not p.running:
            return f"{p.name} exited:\n{p.log_tail(30)}"
    return None


def _bugs(c: Cluster) -> list[str]:
    found = []
    for p in [*c.controllers, *c.agents.values()]:
        for line in p.log_path.read_text(errors="replace").splitlines():
            if BUG_LINES.search(line):
                found.append(f"{p.name}: {line[:400]}")
    return found


@pytest.mark.timeout(900)
def test_every_public_rpc_survives_random_and_malformed_requests(
    fuzzed: Cluster, request: pytest.FixtureRequest
) -> None:
    c = fuzzed
    with grpc.insecure_channel(c.endpoint, options=calls.CHANNEL_OPTIONS) as channel:
        methods = surface.in_lifecycle_order(surface.public_methods(channel))
        listed = {m.service for m in methods}
        missing = set(surface.committed_services()) - listed
        assert not missing, f"services the protos define but the controller does not list: {missing}"

        def snapshot() -> inventory.Snapshot:
            return inventory.take(c.database_url, c.agent_admin, c.image_store)

        before = snapshot()
        started = time.monotonic()
        seed = _seed(request.config)
        fuzz = campaign.Campaign(channel, examples=EXAMPLES, seed=seed, alive=lambda: _alive(c))
        report = fuzz.run(methods)
        seconds = time.monotonic() - started
        print(f"\n{len(methods)} methods, {EXAMPLES} requests each, {seconds:.0f} s\n{report.table()}")

        assert not report.failures, "\n\n".join(f"{path}:\n{text}" for path, text in report.failures.items())
        not_exercised = {m.path for m in methods} - report.exercised
        assert not not_exercised, f"public methods the fuzz never called: {sorted(not_exercised)}"
        assert _alive(c) is None, _alive(c)
        assert not _bugs(c), "\n".join(_bugs(c))

        now = snapshot()
        stray = inventory.unaccounted(before, now, fuzz.ledger)
        assert not stray, f"made by calls that were not accepted (or by nobody): {stray}"
        after = inventory.clean_up(channel, before, snapshot, fuzz.ledger.deleted)
        left = inventory.differences(before, after, fuzz.ledger.deleted)
        assert not left, "after deleting what the fuzz created:\n" + "\n".join(left)
        assert not _bugs(c), "\n".join(_bugs(c))


CONNECT = "/overcast.agent.v1.AgentGateway/Connect"


def _register(host_id: str) -> bytes:
    inventory = agent_pb2.HostInventory(
        host_id=host_id, hostname=host_id, arch="x86_64", vcpus=4, memory_mib=4096, disk_gib=10
    )
    return agent_pb2.AgentMessage(register=agent_pb2.Register(inventory=inventory)).SerializeToString()


def _stream(channel: grpc.Channel, frames: list[bytes], linger: float = 1.0) -> tuple[str, list[str]]:
    """Send raw `frames` on an agent stream (then stay `linger` s): how the controller ended it
    ("OK" if it did not before the caller hung up) and the kinds of what it sent."""

    def sent() -> Iterator[bytes]:
        for frame in frames:
            yield frame
            time.sleep(0.1)
        time.sleep(linger)

    got: list[str] = []
    try:
        for raw in channel.stream_stream(CONNECT)(sent(), timeout=15):
            got.append(str(agent_pb2.ControllerMessage.FromString(raw).WhichOneof("kind")))
    except grpc.RpcError as exc:
        return f"{calls.code_of(exc).name}: {calls.details_of(exc)}", got
    return "OK", got


def test_garbage_on_an_agent_stream_ends_that_stream_only(fuzzed: Cluster) -> None:
    """Invalid protobuf frames (first or after Register), a second Register, a report and an
    event for servers nobody knows: each stream ends with a code and a message or goes on,
    is logged, and the real agents' streams and the controller live on."""
    c = fuzzed
    report = agent_pb2.AgentMessage(
        seq=1,
        report=agent_pb2.CommandReport(
            command_id=str(uuid.uuid4()),
            op=agent_pb2.COMMAND_OP_START,
            instance_uid=str(uuid.uuid4()),
            ok=True,
            power_state=common_pb2.POWER_STATE_RUNNING,
        ),
    ).SerializeToString()
    event = agent_pb2.AgentMessage(
        domain_event=agent_pb2.DomainEvent(
            domain=agent_pb2.DomainStatus(instance_uid=str(uuid.uuid4()), power_state=1)
        )
    ).SerializeToString()
    with grpc.insecure_channel(c.endpoint) as channel:
        status, got = _stream(channel, [b"\xff\xff\xff"])
        assert (
            status.startswith("INVALID_ARGUMENT") and "not a valid overcast.agent.v1.AgentMessage" in status
        )
        assert got == []
        status, got = _stream(channel, [_register("rogue-1"), b"\x0a\x05ab"])
        assert status.startswith("INVALID_ARGUMENT") and "AgentMessage" in status, status
        assert got == ["registered"]
        status, got = _stream(channel, [_register("rogue-2"), _register("rogue-3")])
        assert status.startswith("FAILED_PRECONDITION") and "registered host 'rogue-2' already" in status
        status, got = _stream(channel, [_register("rogue-4"), report, event])
        # Accepted and ignored: an agent resends a report until it is accepted, so refusing
        # one nothing can apply would cut the agent off for good (controller.api.agents).
        assert (status, got) == ("OK", ["registered", "accepted"])
        status, got = _stream(channel, [b"", _register("rogue-5")])  # an empty first message
        assert status.startswith("INVALID_ARGUMENT") and "first message must be Register" in status

    log = c.controllers[0].log_path.read_text(errors="replace")
    assert re.search(r"agent\.refused .*not a valid overcast\.agent\.v1\.AgentMessage", log)
    assert re.search(r"agent\.disconnected .*host=rogue-1 .*INVALID_ARGUMENT", log)
    assert re.search(r"agent\.disconnected .*host=rogue-2 .*FAILED_PRECONDITION", log)
    assert _alive(c) is None, _alive(c)
    assert not _bugs(c), "\n".join(_bugs(c))
    c.wait_hosts_up(list(HOSTS), timeout=10)  # the real agents' streams are untouched
