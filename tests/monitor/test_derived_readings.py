"""Heat power the monitor computes enters through ingest's store like any reading: a live
stream shows it, /v1/latest answers it, and a restart of the monitor neither loses nor
doubles it (nor its findings)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from heatlink.testing import FakeClock
from services.access.principal import Role
from services.runtimes import runtimes_of
from services.settings import Settings
from tests.dashboard.sse import Message, messages
from tests.monitor.dbsupport import T0, Batch, store
from tests.monitor.plant import glomfjord
from tests.support.service import AppHandle, make_token, running_app

POWER = "glomfjord/smelter/hx1/primary/power"  # derived: flow × (supply − return)
GATEWAY = "glomfjord-gw1"


def plant_batch(minutes: int) -> Batch:
    """Ten-second readings of HX-1 and the farm's tank, ``minutes`` long from T0."""
    run = glomfjord(minutes * 60, noise_k=0.0, start_s=T0.timestamp())
    keys, t, v = run.readings()
    return (keys, [datetime.fromtimestamp(x, UTC) for x in t], [float(x) for x in v],
            ["good"] * len(keys))


def between(batch: Batch, start: datetime, end: datetime) -> Batch:
    keep = [i for i, ts in enumerate(batch[1]) if start <= ts < end]
    return ([batch[0][i] for i in keep], [batch[1][i] for i in keep],
            [batch[2][i] for i in keep], [batch[3][i] for i in keep])


async def post(app: AppHandle, token: str, clock: FakeClock, batch: Batch) -> None:
    clock.set(max(batch[1]) + timedelta(seconds=1))
    async with app.client(token) as client:
        answer = await client.post("/v1/ingest", json={
            "gateway": GATEWAY, "batch_id": uuid.uuid4().hex,
            "readings": [{"series": k, "ts": t.isoformat(), "value": v, "quality": q}
                         for k, t, v, q in zip(*batch, strict=True)]})
    assert answer.status_code == 200, answer.text
    assert not answer.json()["rejected"]
    await runtimes_of(app.app).monitor.flush()


async def power_values(stream: AsyncIterator[Message]) -> list[dict[str, Any]]:
    async for msg in stream:
        if msg.event == "values":
            found = [v for v in msg.data["values"] if v["series"] == POWER]
            if found:
                return found
    raise AssertionError("the stream ended first")


async def stored_power(url: str) -> list[tuple[datetime, float]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT r.ts, r.value FROM readings r JOIN series s ON s.id = r.series_id"
            " WHERE s.key = $1 ORDER BY r.ts", POWER)
    finally:
        await conn.close()
    return [(r["ts"], r["value"]) for r in rows]


async def test_heat_power_reaches_the_stream_and_latest_and_survives_a_restart_once(
        fresh_database_url: str) -> None:
    everything = plant_batch(30)
    times = sorted(set(everything[1]))
    cut1, cut2 = T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)
    clock = FakeClock(T0)
    settings = Settings(database_url=fresh_database_url, retention_days=30)
    gateway = await make_token(fresh_database_url, "glomfjord-smelter", Role.GATEWAY,
                               gateway=GATEWAY)
    smelter = await make_token(fresh_database_url, "glomfjord-smelter", Role.RECIPIENT)
    async with running_app(settings, clock=clock) as app:
        async with (app.client(smelter) as reader,
                    reader.stream("GET", "/v1/stream") as response, asyncio.timeout(30)):
            stream = messages(response)
            assert (await anext(stream)).event == "hello"
            await post(app, gateway, clock, between(everything, T0, cut1))
            live = await power_values(stream)
        # 300 m3/h cooled from 30 to about 17.4 °C: about 4.4 MW, as the monitor derives.
        assert all(4000 < v["value"] < 4800 for v in live)
        async with app.client(smelter) as reader:
            latest = {r["series"]: r for r in (await reader.get("/v1/latest")).json()}
        assert 4000 < latest[POWER]["value"] < 4800
        assert datetime.fromisoformat(latest[POWER]["ts"]) == max(
            t for t in times if t < cut1)
        # The monitor is not handed its own output back as input (it would count it as
        # already seen, and another pass of the engine would find nothing new).
        registry = runtimes_of(app.app).monitor.metrics.registry
        assert not registry.get_sample_value("heatlink_monitor_readings_total",
                                             {"outcome": "already_seen"})
        findings_before = await _findings(fresh_database_url)

    # Stored by another replica while this one was down: the restart evaluates them.
    await store_through_pool(fresh_database_url, between(everything, cut1, cut2))
    async with running_app(settings, clock=clock) as app:
        # The gateway also resends what was stored before the restart (a replay).
        await post(app, gateway, clock, between(everything, T0, cut1))
        await post(app, gateway, clock, between(everything, cut2,
                                                T0 + timedelta(minutes=30)))
    power = await stored_power(fresh_database_url)
    assert [ts for ts, _ in power] == times  # each instant once: none lost, none doubled
    findings = await _findings(fresh_database_url)
    assert findings[:len(findings_before)] == findings_before
    assert len(findings) == len(set(findings))


async def store_through_pool(url: str, batch: Batch) -> None:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    try:
        await store(pool, batch)
    finally:
        await pool.close()


async def _findings(url: str) -> list[tuple[str, str, datetime]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT rule_id, state, ts FROM monitor_findings"
                                " ORDER BY id")
    finally:
        await conn.close()
    return [(r["rule_id"], r["state"], r["ts"]) for r in rows]
