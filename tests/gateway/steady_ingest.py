"""Steady ingest through a real gateway into a service whose database goes away: the parts
the outage test (the server stopped) and the failover test (the primary killed, a standby
promoted) share."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx

from gateway.runner import Gateway
from gateway.testing import InMemorySource
from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.loader import EXAMPLE_CLUSTER, load_cluster
from heatlink.wire import Reading
from tests.gateway.support import config_for, mqtt_source, running, steady_feed, stored_counts

TICK_S = 0.05
BACKOFF_S = 120.0  # far beyond any wait below: a resume before it was on readiness
GATEWAY = "glomfjord-gw1"
SERIES = sorted(ClusterIndex(load_cluster(EXAMPLE_CLUSTER)).gateway_series(GATEWAY))
TYPICAL = {"furnace/heat_output": 20_000.0, "furnace/load": 100.0, "primary/flow": 300.0,
           "secondary/flow": 280.0,
           "primary/supply_temp": 31.0, "primary/return_temp": 21.0,
           "secondary/supply_temp": 18.0, "secondary/return_temp": 8.0,
           "tank1/heater_power": 50.0, "tank1/inflow": 180.0, "tank1/mixing_valve": 40.0,
           "tank1/temp": 12.0, "secondary/energy": 1_000_000.0, "hm/flow": 280.0,
           "hm/supply_temp": 18.0, "hm/return_temp": 8.0}
Key = tuple[str, datetime]


def typical(key: str) -> float:
    return next(v for suffix, v in TYPICAL.items() if key.endswith(suffix))


@contextlib.asynccontextmanager
async def gateway_running(tmp_path: Path, url: str, token: str,
                          source: InMemorySource) -> AsyncIterator[Gateway]:
    config = config_for(tmp_path, [mqtt_source("mqtt://127.0.0.1:9")], url=url, token=token,
                        retry={"initial_s": BACKOFF_S, "max_s": BACKOFF_S},
                        batch_max_readings=500)
    async with running(config, sources=[source]) as gateway:
        yield gateway


async def feed(source: InMemorySource, fed: list[Reading], stop: asyncio.Event) -> None:
    await steady_feed(source, fed, stop, series=SERIES, value_of=typical,
                      start=datetime.now(UTC).replace(microsecond=0), tick_s=TICK_S)


async def stored(database_url: str, since: datetime) -> dict[Key, int]:
    return await stored_counts(database_url, SERIES, since)


async def readiness_answers_200(client: httpx.AsyncClient, timeout_s: float = 60.0) -> None:
    """Polls /readyz: the database server is another process, with nothing to await."""
    deadline = time.monotonic() + timeout_s
    while (await client.get("/readyz")).status_code != 200:
        if time.monotonic() > deadline:
            raise AssertionError(f"/readyz not 200 within {timeout_s} s")
        await asyncio.sleep(0.02)


async def buffer_empty(gateway: Gateway, timeout_s: float = 60.0) -> None:
    """Polls the buffer's depth, which offers no event of its own to await."""
    deadline = time.monotonic() + timeout_s
    while await gateway.buffer.depth() > 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"backlog not sent within {timeout_s} s")
        await asyncio.sleep(0.01)


