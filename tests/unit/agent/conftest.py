"""Fixtures for agent unit tests: real libvirt test driver, a fake AgentGateway, RabbitMQ."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from agent_testkit import FakeGateway

from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from agent.hypervisor.testdriver import uri_for, write_node_file


@pytest.fixture(autouse=True)
async def no_leftovers() -> AsyncIterator[None]:
    """Every test must leave no task and no libvirt worker thread behind."""
    before = asyncio.all_tasks()
    yield
    current = asyncio.current_task()

    def leftovers() -> list[asyncio.Task[object]]:
        return [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]

    for _ in range(100):
        if not leftovers():
            break
        await asyncio.sleep(0.01)
    assert not leftovers(), f"tasks left behind: {leftovers()}"
    threads = [t.name for t in threading.enumerate() if t.name.startswith("libvirt")]
    assert not threads, f"libvirt threads left behind: {threads}"


@pytest.fixture
def node_file(tmp_path: Path) -> Path:
    return write_node_file(tmp_path / "host-1.xml", cpus=32, memory_gib=64)


@pytest.fixture
async def hypervisor(node_file: Path) -> AsyncIterator[LibvirtHypervisor]:
    hv = await LibvirtHypervisor.open(uri_for(node_file), stop_timeout=0.5, stop_poll_interval=0.05)
    try:
        yield hv
    finally:
        await hv.close()


@pytest.fixture
def new_uid() -> Callable[[], str]:
    return lambda: str(uuid.uuid4())


@pytest.fixture
async def gateway() -> AsyncIterator[FakeGateway]:
    fake = FakeGateway()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def bus_prefix() -> str:
    return f"test-agent-{uuid.uuid4().hex[:10]}"
