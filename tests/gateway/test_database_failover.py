"""Issue 17 item 5: the database survives its server. PostgreSQL + TimescaleDB under
Patroni (one etcd, two nodes, synchronous replication, as `deploy/patroni/patroni.yml`);
the service connects with the multi-host URL that follows the primary
(`target_session_attrs=read-write`).

During steady ingest through a real gateway the primary's server dies (Patroni and
PostgreSQL SIGKILLed). What a user would notice: the standby is promoted, the service
answers 503 meanwhile (never a 500) and reconnects by itself, the gateway's buffer drains,
and every reading the gateway fed is stored exactly once. The times are printed, not
asserted.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.testing import InMemorySource
from heatlink.wire import Reading
from services.access.principal import Role
from services.settings import Settings
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
from tests.support.patroni import PatroniCluster, patroni_cluster
from tests.support.servers import require_timescaledb
from tests.support.service import make_token, running_app

# Two PostgreSQL servers, one made by pg_basebackup, before the test begins: on a loaded
# two-core machine that alone took over the default 120 s.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]


@pytest.fixture
def cluster() -> Iterator[PatroniCluster]:
    with patroni_cluster(size=2) as started:
        started.wait_until_serving(replicas=1)
        yield started


async def test_primary_killed_during_steady_ingest_standby_promoted_nothing_lost(
        cluster: PatroniCluster, tmp_path: Path) -> None:
    settings = Settings(database_url=cluster.url, require_timescaledb=require_timescaledb())
    async with running_app(settings) as app:
        token = await make_token(cluster.url, "glomfjord-smelter", Role.GATEWAY,
                                 gateway=GATEWAY, name=f"failover-{uuid.uuid4().hex[:6]}")
        source = InMemorySource()
        fed: list[Reading] = []
        stop_feeding = asyncio.Event()
        async with gateway_running(tmp_path, app.url, token, source) as gateway, \
                app.client() as client:
            stats = gateway.forwarder.stats
            feeder = asyncio.create_task(feed(source, fed, stop_feeding))
            await eventually(lambda: stats.readings_out_total > 200, timeout_s=30,
                             what="readings flowing before the primary dies")
            primary = next(n for n in cluster.nodes if n.role() == "primary")
            killed_at = time.monotonic()
            await asyncio.to_thread(cluster.kill, primary)
            promoted = await asyncio.to_thread(cluster.wait_until_serving, 0)
            promoted_s = time.monotonic() - killed_at
            await readiness_answers_200(client)
            ready_s = time.monotonic() - killed_at
            stop_feeding.set()
            await feeder
            await buffer_empty(gateway)
            drained_s = time.monotonic() - killed_at
            print(f"\nprimary {primary.name} killed: {promoted.name} promoted after "
                  f"{promoted_s:.1f} s, /readyz 200 after {ready_s:.1f} s, buffer drained "
                  f"after {drained_s:.1f} s; batches {dict(stats.batches_total)}")
            assert promoted is not primary
            assert set(stats.batches_total) <= {"delivered", "http_503"}, stats.batches_total
            assert gateway.buffer.dropped_total == 0
            assert stats.rejected_total == {}

    # Nothing acknowledged lost, nothing stored twice, on the promoted standby.
    expected = {(r.series, r.ts) for r in fed}
    rows = await stored(cluster.url, min(ts for _, ts in expected))
    missing = expected - set(rows)
    assert not missing, f"{len(missing)} of {len(expected)} readings missing"
    assert set(rows) == expected
    assert all(n == 1 for n in rows.values())
    assert len(expected) > len(SERIES) * promoted_s / TICK_S / 2
