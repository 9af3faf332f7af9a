"""`HttpUplink`: one batch, one `POST /v1/ingest`, one outcome. No retries here."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
import orjson
from pydantic import ValidationError

from gateway.columns import ReadingColumns
from gateway.protocols import (
    Delivered,
    NotAuthorised,
    RetryLater,
    SendOutcome,
    TooLarge,
    Unreadable,
)
from heatlink.wire import IngestResult, Reading, wire_readings_for_orjson, wire_run_for_orjson


class HttpUplink:
    """Implements `gateway.protocols.Uplink` over HTTP(S) with httpx."""

    def __init__(self, base_url: str, gateway_id: str, token: str, *, timeout_s: float = 10.0,
                 compress: bool = True, transport: httpx.AsyncBaseTransport | None = None,
                 probe_timeout_s: float = 2.0) -> None:
        self.gateway_id = gateway_id
        self._compress = compress
        self._probe_timeout_s = min(probe_timeout_s, timeout_s)
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})

    def _encode(self, batch_id: str, readings: Sequence[Reading]) -> bytes:
        # orjson writes the document `heatlink.wire.encode_batch` writes (floats in their
        # shortest form: 1e-9, not 1e-09) in a twentieth of the time; the service reads it
        # with orjson too. Unlike the json module it does not refuse a NaN but writes null,
        # which the service rejects for that reading alone; no source lets a NaN in anyway.
        body = orjson.dumps({"gateway": self.gateway_id, "batch_id": batch_id,
                             "readings": wire_objects(readings)})
        # Level 1: most of the size win for a fraction of the CPU of the default level.
        return gzip.compress(body, compresslevel=1) if self._compress else body

    async def send(self, batch_id: str, readings: Sequence[Reading]) -> SendOutcome:
        # Encoding thousands of readings takes milliseconds: keep the event loop free for the
        # sources' keep-alives meanwhile.
        body = await asyncio.to_thread(self._encode, batch_id, readings)
        headers = {"Content-Encoding": "gzip"} if self._compress else {}
        try:
            response = await self._client.post("/v1/ingest", content=body, headers=headers)
        except httpx.TimeoutException:
            return RetryLater("timeout")
        except httpx.TransportError as exc:
            return RetryLater(f"connection: {type(exc).__name__}", outage=True)
        return classify(response)

    async def ready(self) -> bool:
        try:
            response = await self._client.get("/readyz", timeout=self._probe_timeout_s)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def close(self) -> None:
        await self._client.aclose()


def wire_objects(readings: Sequence[Reading]) -> list[dict[str, Any]]:
    """The readings as the wire's objects for orjson; a batch the buffer handed out as
    columns, run by run, without a reading made."""
    if not isinstance(readings, ReadingColumns):
        return wire_readings_for_orjson(readings)
    stamps: dict[int, datetime | str] = {}
    wire: list[dict[str, Any]] = []
    for run in readings.runs:
        wire += wire_run_for_orjson(run.series, run.unit, run.ts_us, run.values, run.quality,
                                    stamps)
    return wire


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
