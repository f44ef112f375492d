"""docker-compose.yml brought up for real: images built from the Dockerfile (bases from Debian
packages, as no registry is reachable here), the stack started with podman-compose, a server
created through the containerised controller and run by a containerised agent, then all of it
torn down. scripts/containers.py holds the how; this checks what a user would."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from client import Client
from overcast.v1 import common_pb2

# The first run on a machine builds two Debian base images and the image itself (libvirt-python
# compiles): minutes, not the suite's default two.
pytestmark = [pytest.mark.containers, pytest.mark.timeout(1200)]
REPO = Path(__file__).resolve().parents[2]


def _containers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("containers", REPO / "scripts" / "containers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[ModuleType, str]]:
    if os.geteuid() != 0:
        if os.environ.get("OVERCAST_REQUIRE_CONTAINERS"):
            pytest.fail("the container test needs root (podman, mmdebstrap)")
        pytest.skip("needs root: podman and mmdebstrap run rootful here")
    containers = _containers()
    port = _free_port()
    containers.build()
    try:
        containers.up(api_port=port)
        yield containers, f"127.0.0.1:{port}"
    finally:
        containers.down()


def test_compose_stack_runs_a_server(stack: tuple[ModuleType, str]) -> None:
    containers, endpoint = stack
    with Client(endpoint, project="compose", timeout=10) as api:
        assert api.health() == "SERVING"
        hosts = {h.name: h for h in api.list_hosts()}
        assert {"hosts/host-1", "hosts/host-2"} <= set(hosts)
        assert all(hosts[f"hosts/host-{i}"].state == common_pb2.HOST_STATE_UP for i in (1, 2))
        api.create_image("cirros", "qcow2")
        created = api.create_server("web-1", flavor="m1.small", image="cirros")
        active = api.wait_for_server(created.name, timeout=60)
        assert active.vm_state == common_pb2.VM_STATE_ACTIVE and active.host in hosts

    # The agents run as non-root and the image has no compiler.
    probe = subprocess.run(
        ["podman", "run", "--rm", containers.APP_IMAGE, "sh", "-c", "id -u; command -v gcc cc || true"],
        env=containers.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    uid, *compilers = probe.stdout.split()
    assert uid != "0" and compilers == []


def test_torn_down_leaves_nothing(stack: tuple[ModuleType, str]) -> None:
    containers, _ = stack
    containers.down()
    left = subprocess.run(
        ["podman", "ps", "-a", "-q", "--filter", f"label=io.podman.compose.project={containers.PROJECT}"],
        env=containers.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    volumes = subprocess.run(
        ["podman", "volume", "ls", "-q", "--filter", f"label=io.podman.compose.project={containers.PROJECT}"],
        env=containers.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert left.stdout.split() == [] and volumes.stdout.split() == []
