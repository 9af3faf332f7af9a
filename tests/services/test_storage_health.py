"""StorageHealth on its own: what counts as an outage, told once each way, probed until
back. The database is a closed port here; the whole story against a real server that is
stopped and started is in test_storage_outage.py."""

from __future__ import annotations

import asyncio
import logging
import threading

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from services.storage.health import StorageHealth, unavailable_reason
from services.storage.local_postgres import free_port


async def refused() -> BaseException:
    """A real refusal, raised where asyncpg raises it."""
    try:
        await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{free_port()}/x", timeout=5)
    except Exception as exc:
        return exc
    raise AssertionError("nothing listens there, yet it connected")


async def test_a_refused_connection_through_asyncpg_is_an_outage() -> None:
    assert unavailable_reason(await refused()) == "connection_refused"


@pytest.mark.parametrize(("exc", "reason"), [
    # asyncpg's own: the server says it is starting, stopping or gone
    (asyncpg.CannotConnectNowError("the database system is starting up"),
     "starting_or_stopping"),
    (asyncpg.AdminShutdownError("terminating connection due to administrator command"),
     "shutting_down"),
    (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
     "connection_lost"),
    (asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"),
     "connection_lost"),
    (asyncpg.TooManyConnectionsError("sorry, too many clients already"),
     "too_many_connections"),
    # what a pooled connection said in a failover, its protocol still consuming the error
    # of the server that died
    (asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in "
                                 "progress"), "connection_broken"),
    # not outages: a fault of ours, or an error that did not come through asyncpg
    (asyncpg.UniqueViolationError("duplicate key"), None),
    (asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
     None),
    (asyncpg.InternalClientError("unknown error in protocol implementation"), None),
    (ConnectionRefusedError("a socket of something else"), None),
    (FileNotFoundError("static file"), None),
    (ValueError("a bug"), None),
])
def test_what_counts_as_unreachable(exc: BaseException, reason: str | None) -> None:
    assert unavailable_reason(exc) == reason


class Steps:
    """A sleep that lets the test decide when the probe's next round comes."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[None] = asyncio.Queue()
        self.asked: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.asked.append(delay_s)
        await self.queue.get()


class Database:
    def __init__(self, reachable: bool = False) -> None:
        self.reachable = reachable
        self.probes = 0
        self.checked = asyncio.Event()

    async def probe(self) -> None:
        self.probes += 1
        self.checked.set()
        if not self.reachable:
            raise await refused()


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


async def test_an_outage_is_told_once_each_way_counted_always_and_probed_until_back(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="services.storage.health")
    registry = CollectorRegistry()
    steps = Steps()
    clock = iter([100.0, 112.5])
    health = StorageHealth(registry=registry, probe_s=0.5, sleep=steps,
                           monotonic=lambda: next(clock))
    database = Database()
    health.start_probing_with(database.probe)
    assert health.up
    assert value(registry, "heatlink_storage_up") == 1

    for _ in range(3):
        assert health.failed(await refused(), "GET /v1/series")
    assert not health.failed(ValueError("a bug"), "GET /v1/series")
    assert not health.up
    assert value(registry, "heatlink_storage_up") == 0
    assert value(registry, "heatlink_storage_unavailable_total",
                 reason="connection_refused") == 3

    # Two rounds still down, then back: each round waits probe_s first.
    for _ in range(2):
        database.checked.clear()
        steps.queue.put_nowait(None)
        await database.checked.wait()
    database.reachable = True
    database.checked.clear()
    steps.queue.put_nowait(None)
    await database.checked.wait()
    await asyncio.sleep(0)  # the probe's task takes the news
    assert health.up
    assert value(registry, "heatlink_storage_up") == 1
    assert steps.asked == [0.5, 0.5, 0.5]
    # The probe's own failures are not operations that met the outage.
    assert value(registry, "heatlink_storage_unavailable_total",
                 reason="connection_refused") == 3
    lost = [r for r in caplog.records if "storage unavailable" in r.getMessage()]
    back = [r for r in caplog.records if "storage is back" in r.getMessage()]
    assert len(lost) == 1
    assert "first met by GET /v1/series" in lost[0].getMessage()
    assert len(back) == 1
    assert "after 12.5 s; 3 operations" in back[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info and r.name == "services.storage.health"]
    await health.stop()


async def test_a_report_from_another_thread_starts_the_probe_on_the_service_loop() -> None:
    """The alert worker runs on a loop and thread of its own."""
    health = StorageHealth(registry=CollectorRegistry(), probe_s=0.0)
    database = Database(reachable=True)
    health.start_probing_with(database.probe)
    error = await refused()
    reported = threading.Thread(target=health.failed, args=(error, "alert worker"))
    reported.start()
    reported.join()
    await database.checked.wait()
    await asyncio.sleep(0)
    assert health.up
    await health.stop()


async def test_asyncpg_pool_tracebacks_of_an_outage_are_left_to_storage_health(
        caplog: pytest.LogCaptureFixture) -> None:
    """asyncpg's pool logs a traceback per failed reconnect of its idle floor."""
    health = StorageHealth(registry=CollectorRegistry())
    health.start_probing_with(Database(reachable=True).probe)
    pool_log = logging.getLogger("asyncpg.pool")
    error = await refused()
    pool_log.warning("Failed to restore the pool connection floor; retrying",
                     exc_info=(type(error), error, error.__traceback__))
    pool_log.warning("something else")
    assert [r.getMessage() for r in caplog.records if r.name == "asyncpg.pool"] == [
        "something else"]
    await health.stop()
