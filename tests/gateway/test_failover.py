"""Item 4 of issue 17: a gateway with several service URLs moves on when one replica fails,
and no batch is lost or stored twice.

The policy is checked with the fakes (which replica gets a batch, what the forwarder hears
when none takes it, what a configuration may say); then with two real `heatlink serve`
processes on one database: the same batch sent to both at once is stored once, and one
replica killed during steady ingest through a real gateway costs no reading and doubles none.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from gateway.config import ConfigError, parse_config
from gateway.protocols import Delivered, NotAuthorised, RetryLater
from gateway.runner import Gateway
from gateway.testing import FlakyUplink, InMemorySource
from gateway.uplink_failover import FailoverUplink
from gateway.uplink_http import HttpUplink
from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.loader import EXAMPLE_CLUSTER, load_cluster
from heatlink.wire import Reading
from services.access.principal import Role
from tests.gateway.support import (
    config_for,
    eventually,
    mqtt_source,
    running,
    steady_feed,
    stored_counts,
)
from tests.support.replicas import service_replicas
from tests.support.service import ServiceProcess, make_token
from tests.support.waiting import until

T0 = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)
GATEWAY = "glomfjord-gw1"
SERIES = sorted(ClusterIndex(load_cluster(EXAMPLE_CLUSTER)).gateway_series(GATEWAY))
TICK_S = 0.05
Key = tuple[str, datetime]


def some(n: int) -> list[Reading]:
    return [Reading("a", T0 + timedelta(seconds=i), float(i)) for i in range(n)]


# ---- the policy, with fakes ---------------------------------------------------------------


async def test_a_failing_replica_passes_the_batch_to_the_next_which_then_keeps_it() -> None:
    a = FlakyUplink([RetryLater("connection: ConnectError", outage=True)])
    b = FlakyUplink([])
    uplink = FailoverUplink([("http://a", a), ("http://b", b)])

    first = await uplink.send("b1", some(3))
    assert isinstance(first, Delivered)
    assert first.result.accepted == 3
    assert uplink.current == "http://b"
    assert uplink.stats.failovers_total == {"http://a": 1}

    # Sticky: the next batch goes straight to b, a is not asked again while b answers.
    await uplink.send("b2", some(2))
    assert [batch for batch, _ in a.attempts] == ["b1"]
    assert [batch for batch, _ in b.attempts] == ["b1", "b2"]


async def test_an_answer_every_replica_would_give_is_not_retried_elsewhere() -> None:
    refused = NotAuthorised(401, "token revoked")
    a = FlakyUplink([refused])
    b = FlakyUplink([])
    uplink = FailoverUplink([("http://a", a), ("http://b", b)])

    assert await uplink.send("b1", some(1)) == refused
    assert b.attempts == []
    assert uplink.current == "http://a"


async def test_when_no_replica_takes_the_batch_the_forwarder_hears_one_retry_later() -> None:
    a = FlakyUplink([RetryLater("http_503", 5.0, outage=True)], readiness=[False])
    b = FlakyUplink([RetryLater("http_503", 2.0, outage=True)], readiness=[True])
    uplink = FailoverUplink([("http://a", a), ("http://b", b)])

    outcome = await uplink.send("b1", some(1))
    # The shortest Retry-After of the two, an outage, the first replica's reason.
    assert outcome == RetryLater("http_503", 2.0, outage=True)
    assert uplink.stats.failovers_total == {"http://a": 1, "http://b": 1}
    # Readiness of any replica ends the forwarder's wait, and that replica goes next.
    assert await uplink.ready()
    assert uplink.current == "http://b"


async def test_a_replica_that_refuses_connections_gives_no_retry_after_to_wait_for() -> None:
    a = FlakyUplink([RetryLater("http_503", 30.0, outage=True)])
    b = FlakyUplink([RetryLater("connection: ConnectError", outage=True)])
    outcome = await FailoverUplink([("http://a", a), ("http://b", b)]).send("b1", some(1))
    assert outcome == RetryLater("http_503", None, outage=True)


def test_one_url_still_configures_a_gateway_and_several_are_tried_in_order(
        tmp_path: Path) -> None:
    one = config_for(tmp_path, [mqtt_source("mqtt://127.0.0.1:9")], url="http://a:8000/")
    assert one.uplink.service_urls() == ["http://a:8000"]
    several = config_for(tmp_path, [mqtt_source("mqtt://127.0.0.1:9")], url="http://a:8000",
                         urls=["http://b:8000", "http://a:8000"])
    assert several.uplink.service_urls() == ["http://a:8000", "http://b:8000"]
    only_list = config_for(tmp_path, [mqtt_source("mqtt://127.0.0.1:9")],
                           url=None, urls=["https://b"])
    assert only_list.uplink.service_urls() == ["https://b"]

    base = one.model_dump(mode="json")
    base["uplink"].pop("url")
    with pytest.raises(ConfigError, match="url"):
        parse_config(base)
    base["uplink"]["urls"] = ["ftp://nope"]
    with pytest.raises(ConfigError, match="urls"):
        parse_config(base)


# ---- two real replicas on one database -----------------------------------------------------


@pytest.fixture
async def replicas(fresh_database_url: str
                   ) -> AsyncIterator[tuple[list[ServiceProcess], str, str]]:
    """Two `heatlink serve` processes on one database, and a token of the gateway."""
    token = await make_token(fresh_database_url, "glomfjord-smelter", Role.GATEWAY,
                             gateway=GATEWAY, name=f"failover-{uuid.uuid4().hex[:6]}")
    # A frozen replica's open transaction is ended by the database after 5 s.
    async with service_replicas(fresh_database_url, 2, env={
            "HEATLINK_IDLE_IN_TRANSACTION_TIMEOUT_S": "5"}) as processes:
        yield processes, fresh_database_url, token


async def stored(database_url: str, since: datetime) -> dict[Key, int]:
    return await stored_counts(database_url, SERIES, since)


def typical(key: str) -> float:
    """A value inside every series' physical range (temperatures, flows, power, energy)."""
    return 12.0 if "temp" in key else 100.0


@pytest.mark.slow
async def test_the_same_batch_sent_to_two_replicas_at_once_is_stored_once(
        replicas: tuple[list[ServiceProcess], str, str]) -> None:
    processes, database_url, token = replicas
    now = datetime.now(UTC).replace(microsecond=0)
    batch = [Reading(key, now - timedelta(seconds=i), typical(key))
             for key in SERIES for i in range(200)]
    uplinks = [HttpUplink(p.url, GATEWAY, token) for p in processes]
    try:
        answers = await asyncio.gather(*(u.send("same-batch-1", batch) for u in uplinks))
    finally:
        for uplink in uplinks:
            await uplink.close()

    assert all(isinstance(a, Delivered) for a in answers), answers
    results = [a.result for a in answers if isinstance(a, Delivered)]
    # One replica stored it; the other waited on the batch id and answered its result.
    assert sorted(r.replayed for r in results) == [False, True]
    assert all(r.accepted == len(batch) and r.duplicates == 0 for r in results)
    rows = await stored(database_url, now - timedelta(hours=1))
    assert len(rows) == len(batch)
    assert set(rows.values()) == {1}
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM ingest_batches WHERE batch_id = $1",
                                   "same-batch-1") == 1
        assert await conn.fetchval("SELECT count(*) FROM quarantine") == 0
    finally:
        await conn.close()


async def feed(source: InMemorySource, fed: list[Reading], stop: asyncio.Event) -> None:
    await steady_feed(source, fed, stop, series=SERIES, value_of=typical,
                      start=datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1),
                      tick_s=TICK_S)


@contextlib.asynccontextmanager
async def gateway_running(tmp_path: Path, urls: list[str], token: str,
                          source: InMemorySource) -> AsyncIterator[Gateway]:
    # A two-minute backoff: any resume within the test came from moving on, not waiting.
    config = config_for(tmp_path, [mqtt_source("mqtt://127.0.0.1:9")], url=None, urls=urls,
                        token=token, retry={"initial_s": 120, "max_s": 120},
                        batch_max_readings=300)
    async with running(config, sources=[source]) as gateway:
        yield gateway


@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill", "stop"])
async def test_a_replica_killed_during_steady_ingest_loses_and_doubles_nothing(
        replicas: tuple[list[ServiceProcess], str, str], tmp_path: Path, how: str) -> None:
    """`kill`: SIGKILL, possibly in the middle of a batch; `stop`: SIGTERM, the replica
    finishes what it has and refuses new connections."""
    processes, database_url, token = replicas
    first, second = processes
    source = InMemorySource()
    fed: list[Reading] = []
    stop_feeding = asyncio.Event()
    async with gateway_running(tmp_path, [first.url, second.url], token, source) as gateway:
        stats = gateway.forwarder.stats
        feeder = asyncio.create_task(feed(source, fed, stop_feeding))
        await eventually(lambda: stats.readings_out_total > 20 * len(SERIES), timeout_s=60,
                         what="readings flowing through the first replica")
        assert gateway.uplink_stats.current == first.url

        before_kill = stats.readings_out_total
        await asyncio.to_thread(first.kill if how == "kill" else first.stop)
        await eventually(lambda: gateway.uplink_stats.current == second.url, timeout_s=30,
                         what="the gateway moved to the second replica")
        await eventually(lambda: stats.readings_out_total > before_kill + 20 * len(SERIES),
                         timeout_s=60, what="steady ingest through the second replica")
        stop_feeding.set()
        await feeder
        fed_total = len(fed)
        await eventually(lambda: stats.readings_out_total + stats.duplicates_total >= fed_total,
                         timeout_s=60, what="the backlog delivered")
        # The forwarder counts a batch out when the service answers, and then ends its
        # transaction in the buffer: the last one may still be on its way out.
        async def emptied() -> bool:
            return await gateway.buffer.depth() == 0
        await until(emptied, "the buffer empty", timeout_s=10)

        assert gateway.uplink_stats.failovers_total[first.url] >= 1
        # Moving on needed no wait: the two-minute backoff never ran out.
        assert stats.resumes_total["backoff"] == 0
        assert stats.rejected_total == {}
        assert stats.conflicts_total == 0
        assert gateway.buffer.dropped_total == 0

    expected = {(r.series, r.ts) for r in fed}
    assert len(expected) == len(fed)
    rows = await stored(database_url, min(ts for _, ts in expected))
    missing = expected - set(rows)
    assert not missing, f"{len(missing)} of {len(expected)} readings missing"
    assert set(rows) == expected
    assert set(rows.values()) == {1}
    # Every reading was answered exactly once as stored: none counted twice by the gateway.
    assert stats.readings_out_total == len(expected)
    assert stats.duplicates_total == 0
    print(f"\nfailover ({how}): {len(expected)} readings fed, {len(rows)} stored, "
          f"{stats.readings_out_total} acknowledged; {dict(stats.batches_total)}")


@pytest.mark.slow
async def test_a_frozen_replica_is_passed_over_and_what_it_held_is_stored_once(
        replicas: tuple[list[ServiceProcess], str, str], tmp_path: Path) -> None:
    """SIGSTOP: the replica holds its connections (and perhaps a batch half stored) and
    answers nothing, as a hung process or a partitioned host does. The gateway's request
    times out and the batch goes to the other replica (which, if the frozen one had begun
    storing it, waits until the database ends that transaction); when the frozen one thaws,
    the batch is stored once."""
    processes, database_url, token = replicas
    first, second = processes
    source = InMemorySource()
    fed: list[Reading] = []
    stop_feeding = asyncio.Event()
    config = config_for(tmp_path, [mqtt_source("mqtt://127.0.0.1:9")], url=None,
                        urls=[first.url, second.url], token=token, timeout_s=2.0,
                        retry={"initial_s": 0.2, "max_s": 1.0}, batch_max_readings=300)
    gateway = Gateway(config, sources=[source])
    task = asyncio.create_task(gateway.run(), name="gateway")
    stats = gateway.forwarder.stats
    assert first.process is not None
    try:
        await gateway.started.wait()
        feeder = asyncio.create_task(feed(source, fed, stop_feeding))
        await eventually(lambda: stats.readings_out_total > 20 * len(SERIES), timeout_s=60,
                         what="readings flowing through the first replica")
        first.process.send_signal(signal.SIGSTOP)
        try:
            frozen_out = stats.readings_out_total
            moved_s = await eventually(lambda: gateway.uplink_stats.current == second.url,
                                       timeout_s=30, what="the gateway moved on")
            progressed_s = await eventually(
                lambda: stats.readings_out_total > frozen_out + 20 * len(SERIES),
                timeout_s=30, what="ingest through the second replica while the first is "
                "frozen")
            print(f"\nfrozen replica: moved on after {moved_s:.1f} s, steady again after "
                  f"{progressed_s:.1f} s")
        finally:
            first.process.send_signal(signal.SIGCONT)
        stop_feeding.set()
        await feeder
        await eventually(lambda: stats.readings_out_total + stats.duplicates_total >= len(fed),
                         timeout_s=60, what="the backlog delivered")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    expected = {(r.series, r.ts) for r in fed}
    rows = await stored(database_url, min(ts for _, ts in expected))
    assert set(rows) == expected
    assert set(rows.values()) == {1}
    assert stats.duplicates_total == 0
    assert stats.conflicts_total == 0


@pytest.mark.slow
async def test_a_batch_held_by_a_hung_replica_is_stored_by_another_once_the_database_ends_it(
        replicas: tuple[list[ServiceProcess], str, str]) -> None:
    """The frozen replica of the test above, at the worst moment, made certain: a session
    with the service's settings claims a batch id and then says nothing more. The other
    replica, sent the same batch, waits on that claim until the database ends the idle
    transaction (`HEATLINK_IDLE_IN_TRANSACTION_TIMEOUT_S`, 5 s here), then stores it."""
    processes, database_url, token = replicas
    hung = await asyncpg.connect(database_url, server_settings={
        "idle_in_transaction_session_timeout": "5000"})
    batch_id = "held-by-a-hung-replica"
    try:
        await hung.execute("BEGIN")
        await hung.execute("INSERT INTO ingest_batches (gateway, batch_id, result)"
                           " VALUES ($1, $2, '{}')", GATEWAY, batch_id)
        now = datetime.now(UTC).replace(microsecond=0)
        batch = [Reading(key, now - timedelta(seconds=1), typical(key)) for key in SERIES]
        uplink = HttpUplink(processes[1].url, GATEWAY, token, timeout_s=30)
        try:
            answer = await uplink.send(batch_id, batch)
        finally:
            await uplink.close()
        assert isinstance(answer, Delivered), answer
        assert answer.result.accepted == len(batch)
        assert not answer.result.replayed
        with pytest.raises((asyncpg.InterfaceError, asyncpg.PostgresError)):
            await hung.execute("COMMIT")  # the database ended it: nothing to commit
    finally:
        await hung.close()
    rows = await stored(database_url, now - timedelta(seconds=2))
    assert len(rows) == len(batch)
