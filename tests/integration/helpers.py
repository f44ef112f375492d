from __future__ import annotations

import time
from pathlib import Path

from client import AsyncClient
from overcast.v1 import common_pb2, server_pb2


def short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


async def active_server(api: AsyncClient, name: str, flavor: str = "m1.tiny") -> server_pb2.Server:
    """Create a server and wait until it is ACTIVE (failing with its fault otherwise)."""
    await api.create_server(name, flavor=flavor, image="cirros")
    server = await api.wait_for_server(name, timeout=30)
    assert server is not None, f"{name} disappeared"
    assert server.vm_state == common_pb2.VM_STATE_ACTIVE, f"{name}: {server.fault}"
    return server


def children(pid: int) -> list[int]:
    """The child processes of `pid`."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def child_running(parent: int, module: str, timeout: float = 20.0, *, other_than: int = 0) -> int:
    """The pid of the child of `parent` that runs `python -m <module>` (waiting for one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in children(parent):
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if module.encode() in cmdline and child != other_than and alive(child):
                return child
        time.sleep(0.1)
    raise AssertionError(f"process {parent} runs no {module}")
