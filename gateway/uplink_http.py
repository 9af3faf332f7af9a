"""`HttpUplink`: one batch, one `POST /v1/ingest/runs` (or `/v1/ingest`), one outcome. No
retries here.

A batch the buffer handed out as columns goes as runs (`heatlink.wire`): each series'
times, values and qualities as arrays, which orjson writes in C, instead of an object per
reading put together in Python. A service from before runs answers that path with 404 or
405: the uplink says so once and sends it readings from then on.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from array import array
from collections.abc import Sequence
from itertools import chain, repeat
from typing import Any, cast

import httpx
import orjson
from pydantic import ValidationError

from gateway.columns import ReadingColumns, SeriesRun
from gateway.protocols import (
    Delivered,
    NotAuthorised,
    RetryLater,
    SendOutcome,
    TooLarge,
    Unreadable,
)
from heatlink.quality import QUALITY_CODES, QUALITY_NAMES
from heatlink.wire import (
    IngestResult,
    Quality,
    Reading,
    from_us,
    wire_readings_for_orjson,
)

log = logging.getLogger("gateway.uplink")
GOOD = QUALITY_CODES["good"]
MAX_STAMPS_KEPT = 50_000  # times kept written between bodies (about 6 MB at most)
WHOLE = b'.000000+00:00"'  # the end of a whole second's time, as `format_ts` writes it


class HttpUplink:
    """Implements `gateway.protocols.Uplink` over HTTP(S) with httpx."""

    def __init__(self, base_url: str, gateway_id: str, token: str, *, timeout_s: float = 10.0,
                 compress: bool = True, transport: httpx.AsyncBaseTransport | None = None,
                 probe_timeout_s: float = 2.0) -> None:
        self.gateway_id = gateway_id
        self._compress = compress
        self._probe_timeout_s = min(probe_timeout_s, timeout_s)
        # One body written at a time, in the order asked (the forwarder's lanes send at
        # once): two written together share one interpreter lock and both come out late,
        # while the service waits for the first.
        self._encoding = asyncio.Lock()
        self._runs = True  # the service takes runs, until it says it does not know them
        # Times as written, kept from body to body: the lanes of one transaction, and the
        # transactions of a backlog, carry the same times for different series.
        self._stamps: dict[int, bytes] = {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})

    def _encode(self, batch_id: str, readings: Sequence[Reading], as_runs: bool) -> bytes:
        # orjson writes the document `heatlink.wire.encode_batch` writes, or its runs
        # (floats in their shortest form: 1e-9, not 1e-09), in a twentieth of the time; the
        # service reads it with msgspec or orjson. Unlike the json module it does not refuse
        # a NaN but writes null, which the service rejects for that reading alone; no
        # source lets a NaN in anyway.
        doc: dict[str, Any] = {"gateway": self.gateway_id, "batch_id": batch_id}
        if as_runs:
            if len(self._stamps) > MAX_STAMPS_KEPT:
                self._stamps = {}
            doc["runs"] = runs_json(cast(ReadingColumns, readings), self._stamps)
        else:
            doc["readings"] = readings_json(readings)
        body = orjson.dumps(doc)
        # Level 1: most of the size win for a fraction of the CPU of the default level.
        return gzip.compress(body, compresslevel=1) if self._compress else body

    async def send(self, batch_id: str, readings: Sequence[Reading]) -> SendOutcome:
        as_runs = self._runs and isinstance(readings, ReadingColumns)
        # Encoding thousands of readings takes milliseconds: keep the event loop free for the
        # sources' keep-alives meanwhile.
        async with self._encoding:
            body = await asyncio.to_thread(self._encode, batch_id, readings, as_runs)
        headers = {"Content-Encoding": "gzip"} if self._compress else {}
        path = "/v1/ingest/runs" if as_runs else "/v1/ingest"
        try:
            response = await self._client.post(path, content=body, headers=headers)
        except httpx.TimeoutException:
            return RetryLater("timeout")
        except httpx.TransportError as exc:
            return RetryLater(f"connection: {type(exc).__name__}", outage=True)
        if as_runs and response.status_code in (404, 405):
            self._runs = False
            log.info("uplink: the service does not know %s (HTTP %d); sending readings to "
                     "/v1/ingest from now on", path, response.status_code)
            return await self.send(batch_id, readings)
        return classify(response)

    async def ready(self) -> bool:
        try:
            response = await self._client.get("/readyz", timeout=self._probe_timeout_s)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def close(self) -> None:
        await self._client.aclose()


def runs_json(columns: ReadingColumns, stamps: dict[int, bytes] | None = None
              ) -> list[dict[str, Any]]:
    """A batch's runs as the wire's runs: a list per column. Numbers are written by orjson
    in C; each time once (`write_times`, into `stamps`, which may hold some already), and a
    run's times are joined from those."""
    stamps = {} if stamps is None else stamps
    # A run's times as written, by the times: the metrics of one device or message come
    # together, so their runs' times are the same, and are written and joined once.
    joined: dict[object, orjson.Fragment] = {}
    runs = []
    for run in columns.runs:
        if not len(run):
            continue
        times = run.ts_us
        key = times.tobytes() if isinstance(times, array) else tuple(times)
        fragment = joined.get(key)
        if fragment is None:
            write_times(times, stamps)
            fragment = joined[key] = orjson.Fragment(
                b"[" + b",".join(map(stamps.__getitem__, times)) + b"]")
        doc: dict[str, Any] = {"series": run.series, "ts": fragment, "value": list(run.values)}
        if run.quality.count(GOOD) != len(run.quality):
            doc["quality"] = list(map(QUALITY_NAMES.__getitem__, run.quality))
        if run.unit is not None:
            doc["unit"] = run.unit
        runs.append(doc)
    return runs


def write_times(ts_us: Sequence[int], stamps: dict[int, bytes], after: bytes = b"") -> None:
    """Add to `stamps` the JSON of each time (µs) it does not hold yet, followed by
    `after`: all in one orjson call, each time once (the series of one message share
    theirs)."""
    new = list(set(ts_us).difference(stamps))
    if new:  # (a time's JSON is a string of digits and -:.+T: no comma inside)
        written = orjson.dumps(list(map(from_us, new)))[1:-1].split(b",")
        # orjson leaves out the fraction of a whole second, which `format_ts` writes: put
        # in here, at a tenth of the cost of formatting such a time in Python.
        stamps.update(zip(new, (stamp + after if ts % 1_000_000 else stamp[:-7] + WHOLE + after
                                for ts, stamp in zip(new, written, strict=True)), strict=True))


def readings_json(readings: Sequence[Reading]) -> orjson.Fragment | list[dict[str, Any]]:
    """A batch's readings for orjson: the wire's objects, or for a batch the buffer handed
    out as columns, the JSON of its runs (`run_json`)."""
    if not isinstance(readings, ReadingColumns):
        return wire_readings_for_orjson(readings)
    stamps: dict[int, bytes] = {}
    return orjson.Fragment(b"[" + b",".join(run_json(run, stamps) for run in readings.runs)
                           + b"]")


# A reading's quality as written after its value: none for a good one, which is what the
# service takes when a reading says none (a fifth of a good reading's bytes, to write and
# to read).
QUALITY_JSON = {code: b"" if name == Quality.GOOD else b',"quality":' + orjson.dumps(name)
                for code, name in QUALITY_NAMES.items()}
VALUE_KEY = b',"value":'


def run_json(run: SeriesRun, stamps: dict[int, bytes]) -> bytes:
    """The wire's objects of a run's readings, as JSON, without a dict per reading: what
    varies (time, value, quality) is written by orjson in one call per column, and the
    objects are put together around it. `stamps` holds the times written so far
    (`write_times`), each followed by the value's key."""
    if not len(run):
        return b""
    write_times(run.ts_us, stamps, VALUE_KEY)
    values = orjson.dumps(list(run.values))[1:-1].split(b",")  # (numbers or null)
    head = b',{"series":' + orjson.dumps(run.series) + b',"ts":'
    end = b"}" if run.unit is None else b',"unit":' + orjson.dumps(run.unit) + b"}"
    times = map(stamps.__getitem__, run.ts_us)
    codes = set(run.quality)
    if len(codes) != 1:
        parts = zip(repeat(head), times, values, map(QUALITY_JSON.__getitem__, run.quality),
                    repeat(end))
        return b"".join(chain.from_iterable(parts))[1:]  # (each object after a comma)
    # One quality for all, the common case: three parts a reading, each object's end and
    # the next one's head written as one (the first object's head has an end before it,
    # the last one's end comes after the join).
    end = QUALITY_JSON[codes.pop()] + end
    objects = zip(repeat(end + head), times, values)
    return b"".join(chain.from_iterable(objects))[len(end) + 1:] + end


def classify(response: httpx.Response) -> SendOutcome:
    status = response.status_code
    detail = response.text[:300]
    if status == 200:
        try:
            return Delivered(IngestResult.model_validate_json(response.content))
        except ValidationError:
            # A 200 we cannot read is not proof of storage: ask again, the batch id makes the
            # resend safe.
            return RetryLater("unreadable_answer")
    if status == 400:
        return Unreadable(detail)
    if status in (401, 403):
        return NotAuthorised(status, detail)
    if status == 413:
        return TooLarge()
    if status == 429 or status >= 500:
        return RetryLater(f"http_{status}", _retry_after_s(response),
                          outage=status in (502, 503, 504))
    # Any other answer (404 from a wrong URL, 422…) is a configuration or version problem
    # on our side: keep the data and retry, the operator sees it in the metrics.
    return RetryLater(f"http_{status}")


def _retry_after_s(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None
