"""Bad input at scale: every public RPC a running controller lists, random and malformed
requests drawn from the protobuf descriptors (devcluster.fuzz), sent from outside to a real
controller with two test-driver agents.

It holds when no call is answered a code its method may not answer (never UNKNOWN or
INTERNAL: devcluster.fuzz.expected), no error comes without a message, every process still
runs and logged no bug, every public method was exercised, nothing exists that no accepted
call created, and once everything the fuzz created is deleted through the API, the database,
the hypervisors and the image store hold what they held before.

Derandomized (the same requests every run) unless `--hypothesis-seed=N` is given;
OVERCAST_FUZZ_EXAMPLES sets the requests per method (docs/testing.md: running it longer).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator

import grpc
import pytest

from client import Client
from devcluster.fuzz import calls, campaign, inventory, surface
from devcluster.processes import Cluster
from tests.conftest import ClusterFactory

EXAMPLES = int(os.environ.get("OVERCAST_FUZZ_EXAMPLES", "50"))
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
