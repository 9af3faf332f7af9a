"""The forwarder's policy per outcome, with the fakes; the HTTP uplink's classification."""

from __future__ import annotations

import gzip
import json
import logging
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.buffer_sqlite import SqliteBuffer
from gateway.columns import ReadingColumns
from gateway.deadletter import DeadLetterFile
from gateway.forwarder import Forwarder
from gateway.protocols import (
    Delivered,
    NotAuthorised,
    RetryLater,
    TooLarge,
    Unreadable,
)
from gateway.testing import FlakyUplink, InMemoryBuffer
from gateway.uplink_http import HttpUplink
from heatlink.backoff import Backoff
from heatlink.testing import FakeClock
from heatlink.wire import IngestResult, Quality, Reading, Rejection, RejectReason

T0 = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)


def readings(n: int, series: str = "a") -> list[Reading]:
    return [Reading(series, T0 + timedelta(seconds=i), float(i)) for i in range(n)]


class Sleeps:
    def __init__(self) -> None:
        self.delays_s: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.delays_s.append(delay_s)


def make(tmp_path: Path, uplink: FlakyUplink, batch: int = 100) -> tuple[
        Forwarder, InMemoryBuffer, Sleeps]:
    clock = FakeClock(T0)
    buffer = InMemoryBuffer(clock)
    sleeps = Sleeps()
    forwarder = Forwarder(buffer, uplink, DeadLetterFile(tmp_path / "dead.jsonl", clock),
                          batch_max_readings=batch, retry=Backoff(0.5, 8.0, 2.0),
                          auth_retry_s=60.0, rng=random.Random(1), sleep=sleeps)
    return forwarder, buffer, sleeps


async def test_retries_back_off_exponentially_with_jitter_and_keep_the_data(
        tmp_path: Path) -> None:
    uplink = FlakyUplink([RetryLater("http_503")] * 6)
    forwarder, buffer, sleeps = make(tmp_path, uplink)
    await buffer.add(readings(10))
    assert await forwarder.forward_once()
    assert len(uplink.stored) == 10
    assert await buffer.depth() == 0
    assert len(sleeps.delays_s) == 6
    ceilings = [0.5, 1, 2, 4, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(sleeps.delays_s, ceilings, strict=True))
    # every attempt had the same batch id: the service may see it twice and store it once
    assert len({batch_id for batch_id, _ in uplink.attempts}) == 1
    assert forwarder.stats.batches_total["http_503"] == 6


async def test_retry_after_is_honoured(tmp_path: Path) -> None:
    forwarder, buffer, sleeps = make(tmp_path, FlakyUplink([RetryLater("http_429", 5.0)]))
    await buffer.add(readings(1))
    await forwarder.forward_once()
    assert sleeps.delays_s[0] >= 5.0


def long_backoff(tmp_path: Path, uplink: FlakyUplink) -> tuple[Forwarder, InMemoryBuffer,
                                                                Sleeps]:
    """A backoff of minutes: a forwarder that went again early did so on readiness."""
    forwarder, buffer, sleeps = make(tmp_path, uplink)
    forwarder.retry = Backoff(120.0, 120.0, 2.0)
    return forwarder, buffer, sleeps


async def test_in_an_outage_readiness_ends_the_wait_long_before_the_backoff(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.forwarder")
    # Not ready for three probes, then ready: the fourth probe ends the wait.
    uplink = FlakyUplink([RetryLater("http_503", 5.0, outage=True)],
                         readiness=[False, False, False, True])
    forwarder, buffer, sleeps = long_backoff(tmp_path, uplink)
    await buffer.add(readings(3))
    assert await forwarder.forward_once()
    assert len(uplink.stored) == 3
    assert uplink.probes == 4
    assert len(sleeps.delays_s) == 4
    assert all(0.25 <= d <= 0.5 for d in sleeps.delays_s)  # a probe every 0.5 s, jittered
    assert sum(sleeps.delays_s) < 60  # not the backoff's 60–120 s
    assert forwarder.stats.resumes_total == {"readiness": 1}
    assert sum("reports ready again" in r.message for r in caplog.records) == 1


async def test_an_outage_without_readiness_waits_out_its_backoff(tmp_path: Path) -> None:
    uplink = FlakyUplink([RetryLater("connection: ConnectError", outage=True)],
                         readiness=[False] * 1000)
    forwarder, buffer, sleeps = make(tmp_path, uplink)
    await buffer.add(readings(1))
    await forwarder.forward_once()
    ceiling = 0.5  # the first retry's
    assert ceiling / 2 <= sum(sleeps.delays_s) <= ceiling
    assert forwarder.stats.resumes_total == {"backoff": 1}
    assert len(uplink.stored) == 1


@pytest.mark.parametrize("outcome", [RetryLater("http_429", 7.0), RetryLater("http_500"),
                                     RetryLater("timeout")])
async def test_readiness_is_not_asked_when_the_service_is_up(tmp_path: Path,
                                                             outcome: RetryLater) -> None:
    """429 (the service wants less), 500 (a fault readiness does not see), a timeout (it is
    busy): the full delay, however ready the service says it is."""
    uplink = FlakyUplink([outcome])
    forwarder, buffer, sleeps = long_backoff(tmp_path, uplink)
    await buffer.add(readings(1))
    await forwarder.forward_once()
    assert uplink.probes == 0
    assert len(sleeps.delays_s) == 1
    assert sleeps.delays_s[0] >= 60
    assert forwarder.stats.resumes_total == {"backoff": 1}


async def test_retry_after_is_honoured_before_readiness_is_first_asked(tmp_path: Path) -> None:
    """The wait is at least Retry-After unless the service says it is ready: a service that
    is not ready keeps the gateway away for as long as it asked."""
    uplink = FlakyUplink([RetryLater("http_503", 5.0, outage=True)], readiness=[False] * 100)
    forwarder, buffer, sleeps = make(tmp_path, uplink)
    await buffer.add(readings(1))
    await forwarder.forward_once()
    assert sum(sleeps.delays_s) == pytest.approx(5.0)
    assert uplink.probes == len(sleeps.delays_s) - 1  # no probe once the wait is over


async def test_rejected_readings_go_to_the_dead_letter_file_and_the_rest_is_done(
        tmp_path: Path) -> None:
    result = IngestResult(batch_id="x", accepted=2, rejected=[
        Rejection(index=1, series="a", reason=RejectReason.OUT_OF_RANGE, detail="too hot")])
    forwarder, buffer, _ = make(tmp_path, FlakyUplink([Delivered(result)]))
    await buffer.add(readings(3))
    await forwarder.forward_once()
    assert await buffer.depth() == 0
    lines = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert [(d["reason"], d["reading"]["value"]) for d in lines] == [("out_of_range", 1.0)]
    assert forwarder.stats.rejected_total == {"out_of_range": 1}
    assert forwarder.stats.readings_out_total == 2


async def test_rejections_of_a_batch_from_the_sqlite_buffer_dead_letter_those_readings(
        tmp_path: Path) -> None:
    # The SQLite buffer hands a batch out as columns: series after series, as sent.
    clock = FakeClock(T0)
    buffer = await SqliteBuffer(tmp_path / "buffer.sqlite3", clock).open()
    result = IngestResult(batch_id="x", accepted=4, rejected=[
        Rejection(index=1, series="a", reason=RejectReason.OUT_OF_RANGE, detail="too hot"),
        Rejection(index=4, series="b", reason=RejectReason.UNKNOWN_SERIES, detail="?")])
    forwarder = Forwarder(buffer, FlakyUplink([Delivered(result)]),
                          DeadLetterFile(tmp_path / "dead.jsonl", clock), sleep=Sleeps())
    try:
        await buffer.add(readings(3, "a") + readings(3, "b"))
        await forwarder.forward_once()
        assert await buffer.depth() == 0
    finally:
        await buffer.close()
    lines = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert [(d["reason"], d["reading"]["series"], d["reading"]["value"]) for d in lines] == [
        ("out_of_range", "a", 1.0), ("unknown_series", "b", 1.0)]


async def test_an_unreadable_batch_is_dead_lettered_whole(tmp_path: Path) -> None:
    forwarder, buffer, _ = make(tmp_path, FlakyUplink([Unreadable("not json")]))
    await buffer.add(readings(4))
    await forwarder.forward_once()
    assert await buffer.depth() == 0
    assert len((tmp_path / "dead.jsonl").read_text().splitlines()) == 4


async def test_too_large_splits_under_derived_batch_ids(tmp_path: Path) -> None:
    uplink = FlakyUplink([TooLarge(), TooLarge()])
    forwarder, buffer, _ = make(tmp_path, uplink)
    await buffer.add(readings(8))
    await forwarder.forward_once()
    assert len(uplink.stored) == 8
    base = uplink.attempts[0][0]
    assert uplink.attempts == [(base, 8), (f"{base}.a", 4), (f"{base}.a.a", 2),
                               (f"{base}.a.b", 2), (f"{base}.b", 4)]


async def test_a_refused_token_keeps_the_data_and_retries_slowly(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture
                                                                 ) -> None:
    uplink = FlakyUplink([NotAuthorised(401, "unknown token")] * 3)
    forwarder, buffer, sleeps = make(tmp_path, uplink)
    await buffer.add(readings(2))
    await forwarder.forward_once()
    assert sleeps.delays_s == [60.0, 60.0, 60.0]
    assert len(uplink.stored) == 2
    assert sum("refused the gateway's token" in r.message for r in caplog.records) == 1


async def test_the_http_uplink_sends_gzip_with_token_and_classifies_answers() -> None:
    seen: list[httpx.Request] = []
    answers = iter([200, 400, 401, 403, 413, 429, 503, 404])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = next(answers)
        if status == 200:
            body = json.loads(gzip.decompress(request.content))
            return httpx.Response(200, json={"batch_id": body["batch_id"], "accepted": 1})
        return httpx.Response(status, json={"detail": "no"}, headers={"Retry-After": "7"})

    uplink = HttpUplink("http://service", "glomfjord-gw1", "tok",
                        transport=httpx.MockTransport(handler))
    outcomes = [await uplink.send("b1", readings(1)) for _ in range(8)]
    await uplink.close()
    assert seen[0].headers["Authorization"] == "Bearer tok"
    assert seen[0].headers["Content-Encoding"] == "gzip"
    body = json.loads(gzip.decompress(seen[0].content))
    assert body["gateway"] == "glomfjord-gw1"
    assert body["readings"][0]["ts"] == "2026-01-15T06:00:00.000000+00:00"
    assert [type(o).__name__ for o in outcomes] == [
        "Delivered", "Unreadable", "NotAuthorised", "NotAuthorised", "TooLarge", "RetryLater",
        "RetryLater", "RetryLater"]
    assert outcomes[5] == RetryLater("http_429", 7.0)
    assert outcomes[6] == RetryLater("http_503", 7.0, outage=True)
    assert outcomes[7] == RetryLater("http_404")


async def test_columns_go_as_runs_and_a_service_without_runs_gets_readings(
        caplog: pytest.LogCaptureFixture) -> None:
    """What the buffer hands out (columns) goes to /v1/ingest/runs, a list per column; a
    service from before runs (404) gets the same batch as readings at once, and every
    batch after it, said once in the log."""
    t0 = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)
    batch = ReadingColumns.of([
        Reading("a", t0, 1.5), Reading("b", t0, 7.0, Quality.BAD, "degF"),
        Reading("a", t0 + timedelta(milliseconds=250), 2.5)])
    seen: list[tuple[str, dict[str, Any]]] = []
    knows_runs = True

    def handler(request: httpx.Request) -> httpx.Response:
        doc = json.loads(gzip.decompress(request.content))
        seen.append((request.url.path, doc))
        if request.url.path.endswith("/runs") and not knows_runs:
            return httpx.Response(404, json={"detail": "Not Found"})
        return httpx.Response(200, json={"batch_id": doc["batch_id"], "accepted": 3})

    uplink = HttpUplink("http://service", "gw", "tok", transport=httpx.MockTransport(handler))
    caplog.set_level(logging.INFO, "gateway.uplink")
    assert isinstance(await uplink.send("b1", batch), Delivered)
    assert seen[0] == ("/v1/ingest/runs", {"gateway": "gw", "batch_id": "b1", "runs": [
        {"series": "a", "ts": ["2026-01-15T06:00:00.000000+00:00",
                               "2026-01-15T06:00:00.250000+00:00"],
         "value": [1.5, 2.5]},
        {"series": "b", "ts": ["2026-01-15T06:00:00.000000+00:00"], "value": [7.0],
         "quality": ["bad"], "unit": "degF"}]})
    knows_runs = False
    outcomes = [await uplink.send(f"b{k}", batch) for k in (2, 3)]
    await uplink.close()
    assert all(isinstance(outcome, Delivered) for outcome in outcomes)
    assert [path for path, _ in seen[1:]] == ["/v1/ingest/runs", "/v1/ingest", "/v1/ingest"]
    assert len(seen[2][1]["readings"]) == 3
    assert sum("does not know /v1/ingest/runs" in r.message for r in caplog.records) == 1


async def test_the_http_uplink_asks_readiness_and_never_raises() -> None:
    answers = iter([httpx.Response(200, json={"status": "ready"}),
                    httpx.Response(503, json={"status": "unavailable"}),
                    httpx.ConnectError("refused")])
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    uplink = HttpUplink("http://service/base", "gw", "tok",
                        transport=httpx.MockTransport(handler))
    assert [await uplink.ready() for _ in range(3)] == [True, False, False]
    await uplink.close()
    assert paths == ["/base/readyz"] * 3


async def test_a_connection_error_is_retry_later() -> None:
    uplink = HttpUplink("http://127.0.0.1:9", "gw", "tok", timeout_s=2)
    outcome = await uplink.send("b", readings(1))
    await uplink.close()
    assert isinstance(outcome, RetryLater)
    assert outcome.reason.startswith("connection")
    assert outcome.outage
