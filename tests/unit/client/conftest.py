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


@pytest.fixture(autouse=True)
def no_client_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the configuration or the OVERCAST_* variables of whoever runs it."""
    monkeypatch.setenv("OVERCAST_CLIENT_CONFIG", str(tmp_path_factory.mktemp("cfg") / "config.yaml"))
    for var in ("OVERCAST_CONTEXT", "OVERCAST_ENDPOINT", "OVERCAST_PROJECT"):
        monkeypatch.delenv(var, raising=False)
