"""A batch of runs (`POST /v1/ingest/runs`, what the gateway sends) through the real HTTP
API to the service on TimescaleDB: stored as the same readings sent one by one would be, a
bad reading rejected alone by its index counted through the runs and kept whole in the
quarantine, a run whose columns cannot be followed refused with the body by name, and no
body of any shape answered with a 500."""

from __future__ import annotations

import gzip
import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.runtimes import runtimes_of
from tests.support.service import AppHandle

TEMP = "glomfjord/smelter/hx1/primary/supply_temp"
FLOW = "glomfjord/smelter/hx1/primary/flow"
NOT_MINE = "mo/fjernvarme/hx3/primary/supply_temp"  # mo-gw1's
BASE = datetime.now(UTC) - timedelta(days=19)
_moments = itertools.count()


def times(n: int) -> list[datetime]:
    return [BASE + timedelta(seconds=next(_moments)) for _ in range(n)]


async def post(api_service: AppHandle, token: str, doc: Any, *, raw: bytes | None = None,
               compressed: bool = False) -> Any:
    body = raw if raw is not None else json.dumps(doc).encode()
    headers = {"content-type": "application/json"}
    if compressed:
        body, headers["content-encoding"] = gzip.compress(body), "gzip"
    async with api_service.client(token) as client:
        return await client.post("/v1/ingest/runs", content=body, headers=headers)


def batch(runs: list[dict[str, Any]], batch_id: str | None = None) -> dict[str, Any]:
    return {"gateway": "glomfjord-gw1", "batch_id": batch_id or uuid.uuid4().hex, "runs": runs}


async def stored(pool: asyncpg.Pool, series: str, at: list[datetime]) -> dict[datetime, float]:
    rows = await pool.fetch(
        "SELECT r.ts, r.value FROM readings r JOIN series s ON s.id = r.series_id "
        "WHERE s.key = $1 AND r.ts = ANY($2::timestamptz[])", series, at)
    return {row["ts"]: row["value"] for row in rows}


async def test_runs_all_good_are_stored_and_a_resend_stores_nothing_twice(
        api_service: AppHandle, api_tokens: dict[str, str]) -> None:
    pool = runtimes_of(api_service.app).pool
    temp_at, flow_at = times(3), times(2)
    doc = batch([
        {"series": TEMP, "ts": [t.isoformat() for t in temp_at], "value": [30.5, 31, 31.5]},
        {"series": FLOW, "unit": "l/s", "ts": [t.isoformat() for t in flow_at],
         "value": [10.0, 20.0], "quality": ["good", "uncertain"]}])
    first = await post(api_service, api_tokens["gateway"], doc, compressed=True)
    assert first.status_code == 200, first.text
    assert (first.json()["accepted"], first.json()["rejected"]) == (5, [])
    assert await stored(pool, TEMP, temp_at) == dict(zip(temp_at, [30.5, 31.0, 31.5],
                                                         strict=True))
    # Given in l/s, stored in the series' own m³/h.
    assert await stored(pool, FLOW, flow_at) == pytest.approx(
        dict(zip(flow_at, [36.0, 72.0], strict=True)))
    again = await post(api_service, api_tokens["gateway"], doc)
    assert again.json()["replayed"] is True


async def test_a_bad_reading_in_a_run_is_rejected_alone_by_its_index_and_quarantined(
        api_service: AppHandle, api_tokens: dict[str, str]) -> None:
    pool = runtimes_of(api_service.app).pool
    at = times(6)
    stamps = [t.isoformat() for t in at]
    # NaN and an integer beyond 64 bits are not strict JSON: the body is read the slow way.
    raw = json.dumps(batch([
        {"series": TEMP, "ts": stamps[:4], "value": [30.0, None, 1e9, 31.0],
         "quality": ["good", "good", "good", "so-so"]},
        {"series": NOT_MINE, "ts": stamps[4:5], "value": [20.0]},
        {"series": TEMP, "ts": ["0001-01-01T00:00:00+01:00", stamps[5]],
         "value": [25.0, 10 ** 40]}], "runs-mixed")).replace("1000000000.0", "NaN").encode()
    answer = await post(api_service, api_tokens["gateway"], None, raw=raw)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["accepted"] == 1
    assert {r["index"]: r["reason"] for r in result["rejected"]} == {
        1: "bad_value", 2: "not_finite", 3: "bad_quality", 4: "not_permitted",
        5: "bad_timestamp", 6: "out_of_range"}
    assert await stored(pool, TEMP, at) == {at[0]: 30.0}
    # The attempt on another company's series is in that company's access log.
    assert await pool.fetchval(
        "SELECT count(*) FROM access_log WHERE reader_org = 'glomfjord-smelter' "
        "AND series = $1 AND door = 'ingest'", NOT_MINE) >= 1
    rows = await pool.fetch(
        "SELECT idx, raw, raw_bytes FROM quarantine WHERE batch_id = 'runs-mixed'")
    kept = {row["idx"]: row["raw"] for row in rows}
    assert json.loads(kept[4]) == {"series": NOT_MINE, "ts": stamps[4], "value": 20.0}
    assert json.loads(kept[3])["quality"] == "so-so"
    # What jsonb cannot hold is kept as the bytes of the reading it stood for.
    as_bytes = {row["idx"]: bytes(row["raw_bytes"]) for row in rows if row["raw_bytes"]}
    assert b'"value": NaN' in as_bytes[2]
    assert str(10 ** 40).encode() in as_bytes[6]


async def test_a_value_that_conflicts_with_a_stored_one_is_quarantined_as_its_reading(
        api_service: AppHandle, api_tokens: dict[str, str]) -> None:
    """A batch all good whose reading meets another value stored for its series and time:
    the first value is kept, and the quarantine holds the reading the run stood for."""
    pool = runtimes_of(api_service.app).pool
    at = times(2)
    stamps = [t.isoformat() for t in at]
    first = await post(api_service, api_tokens["gateway"],
                       batch([{"series": TEMP, "ts": stamps, "value": [40.0, 41.0]}]))
    assert first.json()["accepted"] == 2
    second = await post(api_service, api_tokens["gateway"], batch(
        [{"series": TEMP, "ts": stamps, "value": [40.0, 45.0]}], "runs-conflict"))
    assert second.status_code == 200, second.text
    assert (second.json()["duplicates"], second.json()["conflicts"]) == (1, 1)
    assert await stored(pool, TEMP, at) == {at[0]: 40.0, at[1]: 41.0}
    kept = await pool.fetch("SELECT idx, raw FROM quarantine WHERE batch_id = 'runs-conflict'")
    assert [(row["idx"], json.loads(row["raw"])) for row in kept] == [
        (1, {"series": TEMP, "ts": stamps[1], "value": 45.0})]


@pytest.mark.parametrize(("caller", "gateway", "status"), [
    ("farm_operator", "glomfjord-gw1", 403),  # no ingest scope: an operator reads and acts
    ("facilitator", "glomfjord-gw1", 403),  # sees the whole cluster, writes none of it
    ("gateway", "mo-gw1", 403),  # a gateway token writes in its own gateway's name only
])
async def test_who_may_send_runs_is_who_may_send_readings(
        api_service: AppHandle, api_tokens: dict[str, str], caller: str, gateway: str,
        status: int) -> None:
    pool = runtimes_of(api_service.app).pool
    at = times(1)
    doc = {**batch([{"series": TEMP, "ts": [at[0].isoformat()], "value": [30.0]}]),
           "gateway": gateway}
    answer = await post(api_service, api_tokens[caller], doc)
    assert answer.status_code == status, answer.text
    assert await stored(pool, TEMP, at) == {}


@pytest.mark.parametrize(("runs", "named"), [
    ("not a list", "'runs' must be a list"),
    (["a run?"], "runs[0] must be an object"),
    ([{"series": TEMP, "ts": "2026-01-15T06:00:00+00:00", "value": [1.0]}],
     "runs[0].ts must be a list"),
    ([{"series": TEMP, "ts": [], "value": []},
      {"series": TEMP, "ts": ["2026-01-15T06:00:00+00:00"], "value": [1.0, 2.0]}],
     "runs[1]: its columns differ in length (ts 1, value 2)"),
])
async def test_a_run_whose_columns_cannot_be_followed_is_refused_by_name(
        api_service: AppHandle, api_tokens: dict[str, str], runs: Any, named: str) -> None:
    answer = await post(api_service, api_tokens["gateway"], batch(runs))
    assert answer.status_code == 400
    assert named in answer.json()["detail"]


async def test_more_readings_than_a_batch_may_hold_are_refused_before_they_are_laid_out(
        api_service: AppHandle, api_tokens: dict[str, str]) -> None:
    limit = runtimes_of(api_service.app).settings.max_readings_per_batch
    run = {"series": TEMP, "ts": ["x"] * (limit + 1), "value": [None] * (limit + 1)}
    answer = await post(api_service, api_tokens["gateway"], batch([run]))
    assert answer.status_code == 413
    assert str(limit) in answer.json()["detail"]


def _json() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | \
        st.text(max_size=8)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.sampled_from(
                            ["series", "ts", "value", "quality", "unit", "x"]), inner,
                            max_size=5), max_leaves=20)


@pytest.mark.timeout(300)
@settings(max_examples=60, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(runs=_json())
async def test_no_shape_of_runs_is_answered_with_a_500(
        api_service: AppHandle, api_tokens: dict[str, str], runs: Any) -> None:
    answer = await post(api_service, api_tokens["gateway"], batch(runs))
    assert answer.status_code in (200, 400, 413), answer.text
