"""Session-wide real servers. Each test session works in a fresh database."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from tests.support.servers import Mosquitto, postgres_server, with_database


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
async def database_url(postgres_url: str) -> AsyncIterator[str]:
    """A fresh, empty database for this test session."""
    name = f"heatlink_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield with_database(postgres_url, name)
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def fresh_database_url(postgres_url: str) -> AsyncIterator[str]:
    """An empty database for one test that needs its own (restarts, migrations)."""
    name = f"heatlink_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield with_database(postgres_url, name)
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


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
