"""A controller and one agent on qemu:///system, booting the tiny guest for real.

The cluster is per module (a test may kill its agent); the guest images are uploaded through
the controller's ImageService like a user would, and the agent downloads them from there.
Whatever the agent left in libvirt is destroyed and undefined afterwards, found by its owner
mark, so parallel runs on one machine never touch each other's domains.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import libvirt
import pytest

from client import AsyncClient
from devcluster.processes import Cluster
from tests.conftest import ClusterFactory
from tests.e2e.qemu_env import QEMU_URI, QemuEnv, qemu_env, remove_tree, traversable_tmpdir

PROJECT = "e2e"
OWNER_NAMESPACE = "https://overcast.dev/xmlns/libvirt/owner/1"


@dataclass
class QemuCluster:
    cluster: Cluster
    host_id: str
    state_dir: Path
    env: QemuEnv

    @property
    def agent_admin(self) -> str:
        return self.cluster.agent_admin[self.host_id]

    def restart_agent(self) -> None:
        self.cluster.start_agent(self.host_id, qemu_state_dir=self.state_dir)
        self.cluster.wait_hosts_up([self.host_id], timeout=60)


def remove_domains_of(owner: str) -> list[str]:
    """Destroy and undefine every domain `owner` defined; returns their names."""
    removed = []
    conn = libvirt.open(QEMU_URI)
    try:
        for dom in conn.listAllDomains(0):
            try:
                mark = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, OWNER_NAMESPACE)
            except libvirt.libvirtError:
                continue
            if f">{owner}<" not in mark:
                continue
            if dom.isActive():
                dom.destroy()
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
            removed.append(dom.name())
    finally:
        conn.close()
    return removed


@pytest.fixture(scope="module")
def qemu_cluster(
    clusters: ClusterFactory, run_id: str, request: pytest.FixtureRequest
) -> Iterator[QemuCluster]:
    env = qemu_env()
    label = f"qemu_{request.module.__name__.rsplit('.', 1)[-1].removeprefix('test_')}"
    cluster = clusters(label)
    host_id = f"qemu-{run_id}"
    state_dir = traversable_tmpdir(f"overcast-e2e-{run_id}-")
    # A module may start its controller with flags of its own (CONTROLLER_ARGS) and choose the
    # metrics interval of controller and agent (METRICS_INTERVAL, seconds).
    cluster.metrics_interval = getattr(request.module, "METRICS_INTERVAL", cluster.metrics_interval)
    try:
        cluster.start_controller(*getattr(request.module, "CONTROLLER_ARGS", ()))
        cluster.wait_controller()
        cluster.start_agent(host_id, qemu_state_dir=state_dir)
        cluster.wait_hosts_up([host_id], timeout=60)
        yield QemuCluster(cluster=cluster, host_id=host_id, state_dir=state_dir, env=env)
    finally:
        # Processes, domains and files first: the database and bus cleanup that follows
        # talks to services that may be the reason a test failed.
        unclean = cluster.stop()
        remove_domains_of(host_id)
        remove_tree(state_dir)
        clusters.teardown(cluster)
        cluster.controllers.clear()
        cluster.agents.clear()
    assert not unclean, f"processes did not shut down cleanly: {unclean}"


@pytest.fixture(scope="module")
async def qapi(qemu_cluster: QemuCluster) -> AsyncIterator[AsyncClient]:
    """A client with the tiny guest uploaded: images/tiny boots vmlinuz + initrd with the
    16 MiB root disk; images/tiny-selfoff is the same guest told to power itself off."""
    env = qemu_cluster.env
    async with AsyncClient(qemu_cluster.cluster.endpoint, timeout=60) as api:
        await api.upload_image("tiny-kernel", env.kernel.path, "aki")
        await api.upload_image("tiny-initrd", env.initrd.path, "ari")
        await api.upload_image(
            "tiny",
            env.root.path,
            "qcow2",
            kernel_image="images/tiny-kernel",
            ramdisk_image="images/tiny-initrd",
            kernel_args="overcast.tick=2",
        )
        await api.upload_image(
            "tiny-selfoff",
            env.root.path,
            "qcow2",
            kernel_image="images/tiny-kernel",
            ramdisk_image="images/tiny-initrd",
            kernel_args="overcast.poweroff=2",
        )
        yield api
