"""The `Uplink` contract (gateway/protocols.py), run against every implementation: the
real `HttpUplink` against the real service, the `FailoverUplink` over a stopped replica and
the real service (so the contract is the one of whichever replica answers), and the fakes
the forwarder's tests use.

What the forwarder relies on: sending a batch again under its id is safe (the answer is
the first one, replayed, and nothing is stored twice); a reading already stored counts as
a duplicate under a new batch id; readiness is an answer, never an exception."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from gateway.protocols import Delivered, Uplink
from gateway.testing import FlakyUplink, RecordingUplink
from gateway.uplink_failover import FailoverUplink
from gateway.uplink_http import HttpUplink
from heatlink.testing import FakeClock
from heatlink.wire import Reading
from services.access.principal import Role
from services.settings import Settings
from services.storage.local_postgres import free_port
from tests.support.servers import empty_database
from tests.support.service import make_token, running_app

T0 = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)
SERIES = "glomfjord/smoltfarm/tank1/temp"

GATEWAY = "glomfjord-gw1"
IMPLEMENTATIONS = ["http", "failover", "recording", "flaky"]

MakeUplink = Callable[[], Awaitable[Uplink]]


@pytest.fixture(scope="module")
async def real_service(postgres_url: str) -> AsyncIterator[tuple[str, str]]:
    """The service's URL and a token of the gateway."""
    async with empty_database(postgres_url) as url:
        settings = Settings(database_url=url, retention_days=30)
        async with running_app(settings, clock=FakeClock(T0)) as service:
            yield service.url, await make_token(url, "glomfjord-smelter", Role.GATEWAY,
                                                gateway=GATEWAY)


@pytest.fixture(scope="module")
def http_uplink_factory(real_service: tuple[str, str]) -> MakeUplink:
    url, token = real_service

    async def make() -> Uplink:
        return HttpUplink(url, GATEWAY, token)

    return make


@pytest.fixture(scope="module")
def failover_uplink_factory(real_service: tuple[str, str]) -> MakeUplink:
    """A replica that refuses connections (nothing listens on its port) listed first."""
    url, token = real_service
    stopped = f"http://127.0.0.1:{free_port()}"

    async def make() -> Uplink:
        return FailoverUplink([(stopped, HttpUplink(stopped, GATEWAY, token)),
                               (url, HttpUplink(url, GATEWAY, token))])

    return make


async def _recording() -> Uplink:
    return RecordingUplink()


async def _flaky_with_nothing_scripted() -> Uplink:
    return FlakyUplink(script=[])


@pytest.fixture(params=IMPLEMENTATIONS)
def make_uplink(request: pytest.FixtureRequest) -> MakeUplink:
    if request.param in ("http", "failover"):
        factory: MakeUplink = request.getfixturevalue(f"{request.param}_uplink_factory")
        return factory
    return {"recording": _recording, "flaky": _flaky_with_nothing_scripted}[request.param]


def readings(first_s: int, count: int) -> list[Reading]:
    return [Reading(SERIES, T0 - timedelta(minutes=30) + timedelta(seconds=first_s + i), 12.0)
            for i in range(count)]


async def test_a_batch_sent_again_is_answered_as_before_and_stored_once(
        make_uplink: MakeUplink, request: pytest.FixtureRequest) -> None:
    uplink = await make_uplink()
    name = request.node.callspec.id
    # Readings of their own: the real implementations share one database.
    batch = readings(10 * IMPLEMENTATIONS.index(name), 3)
    batch_id = f"contract-{name}"
    try:
        first = await uplink.send(batch_id, batch)
        again = await uplink.send(batch_id, batch)
        other = await uplink.send(f"{batch_id}-new-id", batch)
    finally:
        await uplink.close()
    assert isinstance(first, Delivered)
    assert (first.result.accepted, first.result.replayed) == (3, False)
    assert isinstance(again, Delivered)
    assert (again.result.accepted, again.result.replayed) == (3, True)
    assert isinstance(other, Delivered)
    assert (other.result.accepted, other.result.duplicates) == (0, 3)


async def test_readiness_is_an_answer(make_uplink: MakeUplink) -> None:
    uplink = await make_uplink()
    try:
        assert await uplink.ready() is True
    finally:
        await uplink.close()
