from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.loader import load_cluster
from heatlink.testing import FakeClock
from services.ingest.store import sync_series
from services.storage.migrate import apply_migrations
from tests.alerts.support import T0


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def pool(fresh_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await apply_migrations(fresh_database_url)
    created = await asyncpg.create_pool(fresh_database_url, min_size=1, max_size=4)
    assert created is not None
    try:
        yield created
    finally:
        await created.close()


async def index_for(pool: asyncpg.Pool, cluster_file: Path) -> ClusterIndex:
    index = ClusterIndex(load_cluster(cluster_file))
    await sync_series(pool, index)
    return index
