"""Session-wide real servers. Each test session works in a fresh database."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import settings

from tests.support.servers import Mosquitto, empty_database, postgres_server
from tests.support.watchdog import pytest_configure, pytest_timeout_set_timer

__all__ = ["pytest_configure", "pytest_timeout_set_timer"]  # hooks of the watchdog

# No time limit per example: a loaded machine (three test workers on two cores) made a
# 4 ms example take 510 ms, and a timing is no test of behaviour here.
settings.register_profile("heatlink", deadline=None)
settings.load_profile("heatlink")


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Modules to workers whole, the plants at 900x one at a time (tests/support/scheduling)."""
    from tests.support.scheduling import ByModule

    return ByModule(config, log)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
async def database_url(postgres_url: str) -> AsyncIterator[str]:
    """A fresh, empty database for this test session."""
    async with empty_database(postgres_url) as url:
        yield url


@pytest.fixture
async def fresh_database_url(postgres_url: str) -> AsyncIterator[str]:
    """An empty database for one test that needs its own (restarts, migrations)."""
    async with empty_database(postgres_url) as url:
        yield url


@pytest.fixture(scope="session")
def mqtt_url() -> Iterator[str]:
    given = os.environ.get("HEATLINK_TEST_MQTT_URL")
    if given:
        yield given
        return
    broker = Mosquitto()
    broker.start()
    try:
        yield broker.url
    finally:
        broker.close()


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    """A broker of this test's own, for tests that restart it."""
    broker = Mosquitto()
    broker.start()
    try:
        yield broker
    finally:
        broker.close()
