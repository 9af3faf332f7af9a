"""POST /v1/ingest: each reading on its own, nothing stored twice, limits named."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import timedelta

import asyncpg

from heatlink.testing import FakeClock
from tests.services.conftest import T0
from tests.support.service import AppHandle

SUPPLY = "glomfjord/smelter/hx1/primary/supply_temp"
TANK = "glomfjord/smoltfarm/tank1/temp"


def reading(series: str = SUPPLY, seconds: float = 0, value: object = 31.0,
            **extra: object) -> dict[str, object]:
    return {"series": series, "ts": (T0 + timedelta(seconds=seconds)).isoformat(),
            "value": value, "quality": "good", **extra}


def batch(readings: list[dict[str, object]], batch_id: str | None = None) -> dict[str, object]:
    return {"gateway": "glomfjord-gw1", "batch_id": batch_id or uuid.uuid4().hex,
            "readings": readings}


async def stored_values(database_url: str, series: str) -> list[tuple[object, float]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT r.ts, r.value FROM readings r JOIN series s ON s.id = r.series_id"
            " WHERE s.key = $1 ORDER BY r.ts", series)
        return [(r["ts"], r["value"]) for r in rows]
    finally:
        await conn.close()


async def test_a_bad_reading_is_rejected_and_the_rest_of_its_batch_stored(
        service: AppHandle, gw_token: str, database_url: str) -> None:
    good = [reading(TANK, seconds=-20_000 + i, value=12.0 + (i % 100) / 100)
            for i in range(9_989)]  # ten thousand with the bad ones
    bad = [
        reading("glomfjord/nowhere/temp", seconds=1),                 # unknown series
        reading(TANK, seconds=2, value="warm"),                       # not a number
        reading(TANK, seconds=3, value=400.0),                        # outside physical range
        reading(TANK, seconds=3600),                                  # an hour in the future
        reading(TANK, seconds=-40 * 86400),                           # older than retention
        {"series": TANK, "ts": "2026-01-15 06:00:00", "value": 1.0},  # no offset
        reading(TANK, seconds=4, quality="excellent"),                # unknown quality
        ["not", "an", "object"],
        reading("mo/smelter/hx2/primary/flow", seconds=5),            # another gateway's series
        reading(TANK, seconds=6, value=55.0, unit="degF"),            # 12.8 °C: converted, kept
        reading(TANK, seconds=7, quality=["good"]),                   # quality not a string
    ]
    readings = good[:5000] + bad + good[5000:]
    async with service.client(gw_token) as client:
        response = await client.post("/v1/ingest", json=batch(readings))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["accepted"] == 9_990
    reasons = {r["index"] - 5000: r["reason"] for r in result["rejected"]}
    assert reasons == {0: "unknown_series", 1: "bad_value", 2: "out_of_range",
                       3: "future_timestamp", 4: "too_old", 5: "bad_timestamp",
                       6: "bad_quality", 7: "malformed", 8: "not_permitted",
                       10: "bad_quality"}
    assert all(r["detail"] for r in result["rejected"])
    # The tank's series is shared with other tests of the session: count this batch's own.
    sent = {T0 + timedelta(seconds=s) for s in [*range(-20_000, -20_000 + 9_989), 6]}
    stored = [s for s in await stored_values(database_url, TANK) if s[0] in sent]
    assert len(stored) == 9_990
    assert (T0 + timedelta(seconds=6), (55.0 - 32) / 1.8) in stored


async def test_nan_and_infinity_reject_one_reading_each(
        service: AppHandle, gw_token: str) -> None:
    body = json.dumps(batch([reading(SUPPLY, seconds=-50_000, value=float("nan")),
                             reading(SUPPLY, seconds=-50_001, value=float("inf")),
                             reading(SUPPLY, seconds=-50_002, value=30.5)]))
    async with service.client(gw_token) as client:
        response = await client.post("/v1/ingest", content=body,
                                     headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["accepted"] == 1
    assert [r["reason"] for r in result["rejected"]] == ["not_finite", "not_finite"]


async def test_a_resent_batch_stores_nothing_twice(
        service: AppHandle, gw_token: str, database_url: str) -> None:
    series = "glomfjord/smelter/hx1/primary/flow"
    body = batch([reading(series, seconds=i, value=300.0 + i) for i in range(100)],
                 batch_id="resend-1")
    async with service.client(gw_token) as client:
        first = (await client.post("/v1/ingest", json=body)).json()
        second = (await client.post("/v1/ingest", json=body)).json()
    assert first["accepted"] == 100
    assert not first["replayed"]
    assert second["replayed"]
    assert second["accepted"] == 100  # the first answer, repeated
    assert len(await stored_values(database_url, series)) == 100


async def test_replayed_readings_under_a_new_batch_id_count_as_duplicates(
        service: AppHandle, gw_token: str, database_url: str) -> None:
    series = "glomfjord/smelter/hx1/primary/return_temp"
    async with service.client(gw_token) as client:
        await client.post("/v1/ingest", json=batch(
            [reading(series, seconds=i, value=20.0) for i in range(10)]))
        # A gateway that crashed before its ack resends under a new id, plus new readings.
        result = (await client.post("/v1/ingest", json=batch(
            [reading(series, seconds=i, value=20.0) for i in range(15)]))).json()
    assert (result["accepted"], result["duplicates"], result["conflicts"]) == (5, 10, 0)
    assert len(await stored_values(database_url, series)) == 15


async def test_a_conflicting_reading_keeps_the_first_value_and_is_quarantined(
        service: AppHandle, gw_token: str, database_url: str) -> None:
    series = "glomfjord/smelter/hx1/secondary/flow"
    async with service.client(gw_token) as client:
        await client.post("/v1/ingest", json=batch([reading(series, value=180.0)]))
        result = (await client.post("/v1/ingest", json=batch(
            [reading(series, value=181.0), reading(series, seconds=10, value=182.0)]))).json()
    assert (result["accepted"], result["conflicts"]) == (1, 1)
    assert (await stored_values(database_url, series))[0][1] == 180.0
    conn = await asyncpg.connect(database_url)
    try:
        reason = await conn.fetchval(
            "SELECT reason FROM quarantine WHERE series = $1 ORDER BY id DESC LIMIT 1", series)
    finally:
        await conn.close()
    assert reason == "conflict"


async def test_gzip_bodies_are_accepted(service: AppHandle, gw_token: str) -> None:
    series = "glomfjord/smelter/furnace/heat_output"
    body = gzip.compress(json.dumps(batch([reading(series, seconds=-i, value=9000.0)
                                           for i in range(500)])).encode())
    async with service.client(gw_token) as client:
        response = await client.post("/v1/ingest", content=body, headers={
            "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.json()["accepted"] == 500


async def test_limits_answer_413_naming_the_limit(service: AppHandle, gw_token: str) -> None:
    too_many = batch([reading(SUPPLY, seconds=i) for i in range(10_001)])
    async with service.client(gw_token) as client:
        response = await client.post("/v1/ingest", json=too_many)
    assert response.status_code == 413
    assert "10000" in response.json()["detail"]
    assert "HEATLINK_MAX_READINGS_PER_BATCH" in response.json()["detail"]


async def test_unreadable_bodies_answer_400_with_the_reason(
        service: AppHandle, gw_token: str) -> None:
    async with service.client(gw_token) as client:
        not_json = await client.post("/v1/ingest", content=b"{not json",
                                     headers={"Content-Type": "application/json"})
        no_list = await client.post("/v1/ingest", json={"gateway": "glomfjord-gw1",
                                                        "batch_id": "x", "readings": 5})
        bad_gzip = await client.post("/v1/ingest", content=b"plain", headers={
            "Content-Encoding": "gzip"})
    assert not_json.status_code == 400
    assert "not valid JSON" in not_json.json()["detail"]
    assert no_list.status_code == 400
    assert "'readings' must be a list" in no_list.json()["detail"]
    assert bad_gzip.status_code == 400


async def test_ingest_needs_a_gateway_token_for_that_gateway(
        service: AppHandle, gw_token: str, tokens: dict[str, str]) -> None:
    body = batch([reading()])
    async with service.client() as anonymous:
        assert (await anonymous.post("/v1/ingest", json=body)).status_code == 401
    async with service.client("hl_wrong") as wrong:
        response = await wrong.post("/v1/ingest", json=body)
        assert response.status_code == 401
        assert "unknown, revoked or expired" in response.json()["detail"]
    async with service.client(tokens["fjordsmolt"]) as reader:
        assert (await reader.post("/v1/ingest", json=body)).status_code == 403
    async with service.client(gw_token) as gateway:
        other = {**body, "gateway": "mo-gw1"}
        assert (await gateway.post("/v1/ingest", json=other)).status_code == 403


async def test_clock_skew_is_judged_by_the_services_clock(
        service: AppHandle, gw_token: str, clock: FakeClock) -> None:
    ahead = reading("glomfjord/smoltfarm/tank1/inflow", seconds=240, value=180.0)
    async with service.client(gw_token) as client:
        accepted = (await client.post("/v1/ingest", json=batch([ahead]))).json()
    assert accepted["accepted"] == 1  # four minutes ahead is within the five allowed
    assert clock.now() == T0


async def test_metrics_count_rejections_by_reason(service: AppHandle, gw_token: str) -> None:
    async with service.client(gw_token) as client:
        await client.post("/v1/ingest", json=batch([reading("no/such/series")]))
        text = (await client.get("/metrics")).text
    assert 'heatlink_ingest_rejected_total{reason="unknown_series"}' in text
    assert 'heatlink_ingest_readings_total{outcome="accepted"}' in text
    assert "heatlink_ingest_batch_seconds_bucket" in text
    assert 'heatlink_db_pool_connections{state="idle"}' in text
