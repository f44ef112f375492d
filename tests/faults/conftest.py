"""The fault tests' services: a PostgreSQL and a RabbitMQ of their own (devcluster.faults.services),
which the tests stop and start under a running cluster. They are stopped when the session
ends, however it ends: this fixture's finalizer, and atexit and signal handlers for a run that
is interrupted; a run killed outright has its servers stopped by the next one."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from devcluster.faults.services import PrivateServices, ServiceError


@pytest.fixture(scope="session")
def services(request: pytest.FixtureRequest) -> Iterator[PrivateServices]:
    try:
        private = PrivateServices()
    except ServiceError as exc:
        if os.environ.get("OVERCAST_REQUIRE_FAULTS"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    request.addfinalizer(private.close)
    try:
        private.start()
    except ServiceError as exc:
        pytest.fail(str(exc))
    yield private
