"""Shared fixtures. Integration tests start real controller and agent processes against the
real PostgreSQL, RabbitMQ and libvirt test driver; every cluster gets a database and a bus
prefix of its own, removed afterwards, so runs never see each other's data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster import isolation as services
from devcluster.processes import Cluster


@pytest.fixture(scope="session")
def run_id() -> str:
    return services.new_run_id()


class ClusterFactory:
    def __init__(self, run_id: str, root: Path) -> None:
        self._run_id = run_id
        self._root = root
        self.made: list[Cluster] = []

    def __call__(self, label: str) -> Cluster:
        name = f"overcast_test_{self._run_id}_{label}"
        workdir = self._root / label
        workdir.mkdir(parents=True, exist_ok=True)
        cluster = Cluster(
            workdir=workdir,
            database_url=services.database_url(name),
            bus_prefix=f"overcast-test-{self._run_id}-{label}",
            amqp_url=services.AMQP_URL,
        )
        self.made.append(cluster)
        return cluster

    def teardown(self, cluster: Cluster) -> list[str]:
        unclean = cluster.stop()
        db = cluster.database_url.rsplit("/", 1)[1]
        services.cleanup([db], cluster.bus_prefix, list(cluster.agents))
        return unclean


@pytest.fixture(scope="session")
def clusters(run_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterFactory]:
    factory = ClusterFactory(run_id, tmp_path_factory.mktemp("clusters"))
    yield factory
    for c in factory.made:
        if c.controllers or c.agents:
            factory.teardown(c)


@pytest.fixture(scope="session")
def cluster(clusters: ClusterFactory) -> Iterator[Cluster]:
    """One controller and three agents (host-1: 16 vcpus/32 GiB, host-2, host-3 alike)."""
    c = clusters("main")
    c.start_controller()
    c.wait_controller()
    for h in ("host-1", "host-2", "host-3"):
        c.start_agent(h)
    c.wait_hosts_up(["host-1", "host-2", "host-3"])
    yield c
    unclean = clusters.teardown(c)
    c.controllers.clear()
    c.agents.clear()
    assert not unclean, f"processes did not shut down cleanly: {unclean}"


@pytest.fixture(autouse=True)
def _stop_clusters_made_by_the_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """A cluster a test starts itself is stopped (and its database dropped) when the test
    ends, so clusters do not pile up connections on the shared PostgreSQL; clusters of
    module- or session-scoped fixtures are made before this runs and are left alone."""
    if "clusters" not in request.fixturenames:
        yield
        return
    factory: ClusterFactory = request.getfixturevalue("clusters")
    before = len(factory.made)
    yield
    for c in factory.made[before:]:
        if c.controllers or c.agents:
            factory.teardown(c)
            c.controllers.clear()
            c.agents.clear()
