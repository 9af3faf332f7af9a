"""Fixtures of the monitor's database tests: the example cluster and a migrated database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from heatlink.cluster.loader import EXAMPLE_CLUSTER, load_cluster
from heatlink.cluster.model import Cluster
from services.storage.migrate import apply_migrations


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    return load_cluster(EXAMPLE_CLUSTER)


@pytest.fixture
async def pool(fresh_database_url: str, cluster: Cluster) -> AsyncIterator[asyncpg.Pool]:
    await apply_migrations(fresh_database_url)
    pool = await asyncpg.create_pool(fresh_database_url, min_size=1, max_size=4)
    owners = {a.id: a.owner for a in cluster.assets}
    await pool.executemany(
        "INSERT INTO series (key, asset, quantity, unit, owner) VALUES ($1, $2, $3, $4, $5)",
        [(s.key, s.asset, str(s.quantity), s.unit, s.owner or owners[s.asset])
         for s in cluster.series])
    await pool.executemany(
        "INSERT INTO series (key, asset, quantity, unit, owner, derived)"
        " VALUES ($1, $2, 'power', 'kW', $3, true)",
        [(d.key, d.asset, d.owner or owners[d.asset]) for d in cluster.derived])
    yield pool
    await pool.close()
