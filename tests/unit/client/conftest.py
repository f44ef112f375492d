"""Fixtures for the client tests (the fake controller lives in client_fakes.py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from client_fakes import FakeController


@pytest.fixture
def fake() -> Iterator[FakeController]:
    controller = FakeController()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def dead_endpoint() -> str:
    """An address nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"
