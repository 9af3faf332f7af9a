"""Check 3 of issue 11: the database stops (`pg_ctl stop -m immediate`) during steady
ingest through a real gateway and starts again `OUTAGE_S` later.

What a user would notice: the gateway only ever got 503s from the service (never a 500),
nothing it buffered is lost or stored twice, and it sends its backlog as soon as the
service's /readyz answers 200, not after its backoff: the backoff here is two minutes, far
longer than the test lets it wait, and the gateway's own count says what ended its wait.

The gateway runs in this process with a `SqliteBuffer` and the HTTP uplink; its source is
a load generator (one reading per series every `TICK_S`), since the plant's side is not
what this test is about. The service runs in this process too, on a database server of
this test's own. The time from /readyz 200 to an empty buffer is printed, not asserted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway.testing import InMemorySource
from heatlink.wire import Reading
from services.access.principal import Role
from services.settings import Settings
from services.storage.local_postgres import LocalPostgres
from tests.gateway.steady_ingest import (
    GATEWAY,
    SERIES,
    TICK_S,
    buffer_empty,
    feed,
    gateway_running,
    readiness_answers_200,
    stored,
)
from tests.gateway.support import eventually
from tests.support.outage import outage_tracebacks
from tests.support.servers import empty_database, own_postgres_server, require_timescaledb
from tests.support.service import AppHandle, make_token, running_app

pytestmark = pytest.mark.slow

OUTAGE_S = float(os.environ.get("HEATLINK_TEST_DB_OUTAGE_S", "10"))


@pytest.fixture(scope="module")
def server() -> Iterator[LocalPostgres]:
    with own_postgres_server() as started:
        yield started


@pytest.fixture
async def service(server: LocalPostgres) -> AsyncIterator[tuple[AppHandle, str]]:
    async with empty_database(server.url) as url:
        settings = Settings(database_url=url, require_timescaledb=require_timescaledb())
        async with running_app(settings) as handle:
            yield handle, url


@pytest.fixture
def log_records(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO)
    uvicorn_log = logging.getLogger("uvicorn")
    uvicorn_log.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        uvicorn_log.removeHandler(caplog.handler)


async def test_database_stopped_during_steady_ingest_loses_nothing_and_resumes_on_readiness(
        server: LocalPostgres, service: tuple[AppHandle, str], tmp_path: Path,
        log_records: pytest.LogCaptureFixture) -> None:
    app, database_url = service
    token = await make_token(database_url, "glomfjord-smelter", Role.GATEWAY, gateway=GATEWAY,
                             name=f"outage-{uuid.uuid4().hex[:6]}")
    source = InMemorySource()
    fed: list[Reading] = []
    stop_feeding = asyncio.Event()
    async with gateway_running(tmp_path, app.url, token, source) as gateway, \
            app.client() as client:
        stats = gateway.forwarder.stats
        feeder = asyncio.create_task(feed(source, fed, stop_feeding))
        await eventually(lambda: stats.readings_out_total > 0, timeout_s=30,
                         what="readings flowing before the outage")

        stopped_at = time.monotonic()
        await asyncio.to_thread(server.stop, "immediate")
        try:
            await eventually(lambda: not stats.uplink_up, timeout_s=30,
                             what="the gateway told of the outage")
            # The outage itself: its length is the point, there is nothing to wait for.
            await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped_at)))
            assert await gateway.buffer.depth() > 0
            assert (await client.get("/readyz")).status_code == 503
        finally:
            await asyncio.to_thread(server.start)
        await readiness_answers_200(client)
        ready_at = time.monotonic()
        stop_feeding.set()
        await feeder
        backlog = await gateway.buffer.depth()
        # Ended by the gateway's own resume on readiness: its backoff is two minutes.
        await eventually(lambda: stats.uplink_up, timeout_s=60, what="the gateway resumed")
        resumed_s = time.monotonic() - ready_at
        await buffer_empty(gateway)
        drained_s = time.monotonic() - ready_at
        print(f"\noutage {OUTAGE_S:g} s: /readyz 200 → first batch stored after "
              f"{resumed_s:.2f} s, backlog of {backlog} readings drained after "
              f"{drained_s:.2f} s (gateway waits ended by {dict(stats.resumes_total)})")

        # Only 503s while the database was away: never a 500, never a lost connection.
        assert set(stats.batches_total) <= {"delivered", "http_503"}, stats.batches_total
        assert stats.batches_total["http_503"] >= 1
        assert stats.resumes_total["readiness"] >= 1
        assert stats.resumes_total["backoff"] == 0
        assert gateway.buffer.dropped_total == 0
        assert stats.rejected_total == {}

    # Nothing lost, nothing stored twice.
    expected = {(r.series, r.ts) for r in fed}
    rows = await stored(database_url, min(ts for _, ts in expected))
    missing = expected - set(rows)
    assert not missing, f"{len(missing)} of {len(expected)} readings missing"
    assert set(rows) == expected
    assert all(n == 1 for n in rows.values())
    assert len(expected) > len(SERIES) * OUTAGE_S / TICK_S / 2

    # The service told the outage once each way, and nothing logged a traceback.
    messages = [r.getMessage() for r in log_records.records]
    assert sum("storage unavailable" in m for m in messages) == 1
    assert sum("storage is back" in m for m in messages) == 1
    assert sum("reports ready again" in m for m in messages) == 1
    assert outage_tracebacks(log_records.records) == []
