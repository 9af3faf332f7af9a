"""Real servers for the tests: TimescaleDB and Mosquitto on free ports of 127.0.0.1.

Where ``HEATLINK_TEST_DATABASE_URL`` or ``HEATLINK_TEST_MQTT_URL`` is set, that server is
used instead of starting one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import paho.mqtt.client as mqtt
import pytest

from demo.broker import BrokerTls, BrokerUser, LocalMosquitto, wait_for_port
from heatlink.broker_url import parse_broker_url
from services.storage.local_postgres import LocalPostgres, find_install


def require_timescaledb() -> bool:
    return os.environ.get("HEATLINK_REQUIRE_TIMESCALEDB") == "1"


@contextmanager
def postgres_server() -> Iterator[str]:
    """URL of a server (maintenance database) for the test session."""
    given = os.environ.get("HEATLINK_TEST_DATABASE_URL")
    if given:
        yield given
        return
    install = find_install(want_timescaledb=True)
    if install is None:
        raise RuntimeError("no PostgreSQL found: run deploy/timescaledb/install-rootfs.sh "
                           "or set HEATLINK_TEST_DATABASE_URL")
    if require_timescaledb() and not install.timescaledb:
        raise RuntimeError("HEATLINK_REQUIRE_TIMESCALEDB=1 but no TimescaleDB install was found")
    server = LocalPostgres(install, f"test-{uuid.uuid4().hex[:8]}", durable=False)
    try:
        server.start()
        yield server.url
    finally:
        server.destroy()


@contextmanager
def own_postgres_server() -> Iterator[LocalPostgres]:
    """A server of one test's own, for tests that stop and start it. Durable settings: an
    immediate stop must not lose a transaction that was acknowledged. Skips where the tests
    use a server of the user's (HEATLINK_TEST_DATABASE_URL), which is not ours to stop."""
    if os.environ.get("HEATLINK_TEST_DATABASE_URL"):
        pytest.skip("stops its database server: needs one started by the tests")
    install = find_install(want_timescaledb=True)
    if install is None:
        raise RuntimeError("no PostgreSQL found: run deploy/timescaledb/install-rootfs.sh")
    server = LocalPostgres(install, f"test-{uuid.uuid4().hex[:8]}", durable=True)
    server.start()
    try:
        yield server
    finally:
        server.destroy()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@asynccontextmanager
async def empty_database(postgres_url: str) -> AsyncIterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    name = f"heatlink_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield with_database(postgres_url, name)
    finally:
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def broker_login(client: mqtt.Client, url: str) -> tuple[str, int]:
    """Give a plain paho client the login in ``url`` (the test broker is closed: anonymous
    clients are refused); (host, port) to connect to."""
    address = parse_broker_url(url)
    if address.username:
        client.username_pw_set(address.username, address.password)
    return address.host, address.port


Mosquitto = LocalMosquitto
__all__ = ["BrokerTls", "BrokerUser", "Mosquitto", "broker_login", "empty_database",
           "postgres_server", "require_timescaledb", "wait_for_port", "with_database"]
