"""One bad reading never costs the others: random good readings mixed with random bad ones
of every class, posted through the real HTTP API to the service on TimescaleDB. Exactly
the good ones are stored, each bad one comes back by its index with a reason, and the
quarantine keeps it whole (as jsonb, or as the very bytes it was sent as).
"""

from __future__ import annotations

import gzip
import itertools
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import asyncpg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.loader import EXAMPLE_CLUSTER, load_cluster
from services.runtimes import runtimes_of
from tests.support.servers import require_timescaledb
from tests.support.service import AppHandle

INDEX = ClusterIndex(load_cluster(EXAMPLE_CLUSTER))
MINE = sorted(INDEX.gateway_series("glomfjord-gw1"))
OTHERS = sorted(INDEX.gateway_series("mo-gw1"))
NOW = datetime.now(UTC)
# Each good reading gets a moment of its own, so that every one is new to the database.
_moments = itertools.count()


def next_ts() -> datetime:
    return NOW - timedelta(days=20) + timedelta(seconds=next(_moments))


@dataclass(frozen=True)
class Good:
    series: str
    ts: datetime
    value: float
    text: str  # the reading as sent


@dataclass(frozen=True)
class Bad:
    kind: str
    text: bytes  # the reading as sent, possibly not JSON at all


@st.composite
def good_readings(draw: st.DrawFn) -> Good:
    key = draw(st.sampled_from(MINE))
    info = INDEX.series[key]
    low = info.range_min if info.range_min is not None else -1e6
    high = info.range_max if info.range_max is not None else 1e6
    value = draw(st.floats(low, high, allow_nan=False, allow_infinity=False))
    ts = next_ts()
    zone = timezone(timedelta(minutes=15 * draw(st.integers(-48, 56))))
    reading: dict[str, object] = {"series": key, "ts": ts.astimezone(zone).isoformat(),
                                  "value": value}
    if draw(st.booleans()):
        reading["quality"] = draw(st.sampled_from(["good", "uncertain", "bad"]))
    if draw(st.booleans()):
        reading["comment"] = draw(st.text(max_size=20))  # unknown fields are ignored
    text = json.dumps(reading, ensure_ascii=draw(st.booleans()))
    return Good(key, ts, value, text)


TEMP = "glomfjord/smelter/hx1/primary/supply_temp"


def _reading(series: str = TEMP, ts: str | None = None, value: str = "12.5",
             extra: str = "", raw_series: str | None = None) -> str:
    """A reading as JSON text; ``ts``, ``value``, ``raw_series`` are JSON text too."""
    ts = ts if ts is not None else json.dumps(next_ts().isoformat())
    series_text = raw_series if raw_series is not None else json.dumps(series)
    return f'{{"series":{series_text},"ts":{ts},"value":{value}{extra}}}'


DEEP = "[" * 3000 + "]" * 3000
# Each bad reading by class: the JSON text (or bytes) as sent.
BAD: dict[str, list[str | bytes]] = {
    "NUL in a string": [
        _reading(series=TEMP + "\x00"), _reading(extra=',"quality":"good\\u0000"'),
        _reading(extra=',"unit":"degC\\u0000"'), _reading(series="\x00")],
    "lone surrogate": [
        _reading(raw_series='"\\ud800"'), _reading(raw_series='"a\\udc00b"'),
        _reading(extra=',"unit":"\\udfff"'), _reading(extra=',"quality":"\\ud83d"')],
    "not a finite number": [
        _reading(value="NaN"), _reading(value="Infinity"), _reading(value="-Infinity"),
        _reading(value="1e400"), _reading(value="-1e400"), _reading(value="1" + "0" * 400),
        _reading(value="9" * 5000)],
    "not a number": [_reading(value='"12.5"'), _reading(value="null"), _reading(value="true"),
                     _reading(value="[12.5]"), _reading(value=DEEP)],
    "calendar ends": [
        _reading(ts='"0001-01-01T00:00:00+01:00"'), _reading(ts='"9999-12-31T23:59:59-01:00"'),
        _reading(ts='"0001-01-01T00:00:00Z"'), _reading(ts='"2026-02-30T00:00:00Z"'),
        _reading(ts='"2026-01-15T06:00:00"'), _reading(ts="1768456800"),
        _reading(ts=json.dumps((NOW + timedelta(days=1)).isoformat())),
        _reading(ts=json.dumps((NOW - timedelta(days=45)).isoformat()))],
    "not ours": [_reading(series="glomfjord/nowhere/temp"), _reading(series=OTHERS[0]),
                 _reading(series="x" * 5000)],
    "out of range": [_reading(value="1e9"), _reading(value="-1e300")],
    "bad quality or unit": [
        _reading(extra=',"quality":"excellent"'), _reading(extra=',"quality":["good"]'),
        _reading(extra=',"unit":"furlong"'), _reading(extra=',"unit":"m3/h"'),
        _reading(extra=',"unit":{"a":1}')],
    "not a reading": ["1", '"reading"', "null", "[]", DEEP, '{"a":' * 3000 + "1" + "}" * 3000],
    "not JSON": ['{"series":x}', '{"series":"a",}', "{,}", "tru", "01", '"\\q"',
                 b'{"series":"\xff\xfe"}', '{"series" "a"}'],
}
BAD_READINGS = [(kind, text) for kind, texts in BAD.items() for text in texts]


def bad_readings() -> st.SearchStrategy[Bad]:
    return st.sampled_from(BAD_READINGS).map(
        lambda pair: Bad(pair[0], pair[1] if isinstance(pair[1], bytes) else pair[1].encode()))


def every_class_once() -> list[Good | Bad]:
    """Every bad reading, each between two good ones: the case no run may miss."""
    entries: list[Good | Bad] = []
    for i, (kind, text) in enumerate(BAD_READINGS):
        ts = next_ts()
        key = MINE[i % len(MINE)]
        value = INDEX.series[key].range_min or 0.0
        entries.append(Good(key, ts, value, json.dumps(
            {"series": key, "ts": ts.isoformat(), "value": value})))
        entries.append(Bad(kind, text if isinstance(text, bytes) else text.encode()))
    return entries


def body_of(entries: list[Good | Bad], batch_id: str) -> bytes:
    parts = [e.text.encode() if isinstance(e, Good) else e.text for e in entries]
    return (b'{"gateway":"glomfjord-gw1","batch_id":' + json.dumps(batch_id).encode()
            + b',"readings":[' + b",".join(parts) + b"]}")


async def stored(pool: asyncpg.Pool, entries: list[Good]) -> dict[tuple[str, datetime], float]:
    rows = await pool.fetch(
        "SELECT s.key, r.ts, r.value FROM readings r JOIN series s ON s.id = r.series_id"
        " JOIN unnest($1::text[], $2::timestamptz[]) AS g(key, ts)"
        " ON g.key = s.key AND g.ts = r.ts",
        [e.series for e in entries], [e.ts for e in entries])
    return {(r["key"], r["ts"]): r["value"] for r in rows}


async def measured_count(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM readings r JOIN series s ON s.id = r.series_id WHERE NOT s.derived")
    return count


@pytest.mark.timeout(300)
@settings(max_examples=60, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(entries=st.lists(st.one_of(good_readings(), bad_readings()), min_size=1, max_size=25),
       compressed=st.booleans())
@example(entries=every_class_once(), compressed=False)
async def test_exactly_the_good_readings_are_stored_and_each_bad_one_is_named(
        api_service: AppHandle, api_tokens: dict[str, str], entries: list[Good | Bad],
        compressed: bool) -> None:
    pool: asyncpg.Pool = runtimes_of(api_service.app).pool
    if require_timescaledb():
        assert runtimes_of(api_service.app).features.hypertable
    batch_id = uuid.uuid4().hex
    body = body_of(entries, batch_id)
    headers = {"content-type": "application/json"}
    if compressed:
        body, headers["content-encoding"] = gzip.compress(body), "gzip"
    before = await measured_count(pool)
    async with api_service.client(api_tokens["gateway"]) as client:
        answer = await client.post("/v1/ingest", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    good = [e for e in entries if isinstance(e, Good)]
    bad = {i: e for i, e in enumerate(entries) if isinstance(e, Bad)}

    assert result["accepted"] == len(good)
    assert {r["index"]: r["reason"] for r in result["rejected"]}.keys() == bad.keys()
    assert all(r["reason"] and r["detail"] for r in result["rejected"])
    found = await stored(pool, good)
    assert found == {(g.series, g.ts): g.value for g in good}
    assert await measured_count(pool) - before == len(good)

    kept = await pool.fetch("SELECT idx, raw, raw_bytes FROM quarantine WHERE batch_id = $1",
                            batch_id)
    assert {row["idx"] for row in kept} == bad.keys()
    for row in kept:
        sent = bad[row["idx"]].text
        if row["raw_bytes"] is not None:
            assert bytes(row["raw_bytes"]).strip() == sent
        else:
            # jsonb keeps numbers as decimals: 1e300 comes back as 1 and 300 zeros.
            assert json.loads(row["raw"], parse_float=Decimal, parse_int=Decimal) == \
                json.loads(sent, parse_float=Decimal, parse_int=Decimal)
