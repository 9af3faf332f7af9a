"""The wire format of a reading batch, shared by the gateway (writer) and the service (reader).

A batch is JSON, optionally gzip-compressed::

    {"gateway": "glomfjord-gw1", "batch_id": "…",
     "readings": [{"series": "glomfjord/smelter/hx1/primary/supply_temp",
                   "ts": "2026-01-15T06:00:00.000+00:00", "value": 31.2, "quality": "good"}]}

A reading's ``quality`` is one of good, uncertain, bad, unknown; left out, it is good, and
the gateway leaves it out of good readings (a fifth of their bytes, to write and to read).

The same batch may come as runs, each series' readings as columns of equal length
(``POST /v1/ingest/runs``; ``unit`` per run, ``quality`` left out when all are good)::

    {"gateway": "glomfjord-gw1", "batch_id": "…",
     "runs": [{"series": "glomfjord/smelter/hx1/primary/supply_temp",
               "ts": ["2026-01-15T06:00:00.000+00:00", "2026-01-15T06:00:01.000+00:00"],
               "value": [31.2, 31.3]}]}

A reading's index in the answer counts through the runs in order. The gateway writes runs:
about half the work of the objects above to write, a quarter to read.

Each reading is checked on its own: a bad reading is rejected with its index and a
reason, and never spoils the rest of its batch. The checks of single fields live here,
beside the format they check; the service adds those that need the cluster.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any, NamedTuple

from pydantic import BaseModel, Field

from heatlink.inputs import printable

MAX_READINGS_PER_BATCH = 20_000
QUALITIES = frozenset({"good", "uncertain", "bad", "unknown"})


class Quality(StrEnum):
    GOOD = "good"
    UNCERTAIN = "uncertain"
    BAD = "bad"
    # The source said it went offline (a Sparkplug death certificate): the value is the last
    # one known, and the series is stale from this time on, which is not a process outage.
    UNKNOWN = "unknown"


class RejectReason(StrEnum):
    """Why one reading of a batch was not stored. Values are metric labels too."""

    MALFORMED = "malformed"
    BAD_TIMESTAMP = "bad_timestamp"
    BAD_VALUE = "bad_value"
    BAD_QUALITY = "bad_quality"
    NOT_FINITE = "not_finite"
    UNKNOWN_SERIES = "unknown_series"
    NOT_PERMITTED = "not_permitted"
    OUT_OF_RANGE = "out_of_range"
    FUTURE_TIMESTAMP = "future_timestamp"
    TOO_OLD = "too_old"


class Reading(NamedTuple):
    """One value of one series at the plant's source timestamp."""

    series: str
    ts: datetime
    value: float
    quality: str = Quality.GOOD
    unit: str | None = None  # as measured, when the plant says; the service converts it


# A Reading from a tuple of all five fields, made in C: the gateway makes hundreds of
# thousands a second, and the named tuple's own constructor is a Python function.
reading_of: Callable[[tuple[str, datetime, float, str, str | None]], Reading] = \
    partial(tuple.__new__, Reading)

# Source times as the gateway holds them in bulk (its buffer's chunks, its columns):
# integer microseconds since the epoch.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)


def to_us(ts: datetime) -> int:
    return (ts - EPOCH) // ONE_US


def from_us(ts_us: int) -> datetime:
    return EPOCH + ONE_US * ts_us


class Rejection(BaseModel):
    index: int = Field(description="Position of the reading in the batch, from 0")
    series: str | None = Field(default=None, description="The reading's series, when it had one")
    reason: RejectReason
    detail: str = Field(description="What is wrong, in words")


class IngestResult(BaseModel):
    """The service's answer to a batch; the gateway deletes what it covers."""

    batch_id: str
    accepted: int = Field(description="Readings stored by this request")
    duplicates: int = Field(0, description="Readings identical to ones already stored")
    conflicts: int = Field(0, description="Readings whose series and timestamp were already "
                           "stored with another value; the first value is kept")
    rejected: list[Rejection] = Field(default_factory=list)
    replayed: bool = Field(False, description="True when this batch id was seen before and "
                           "this is the stored answer")


class WireReading(BaseModel):
    """Documentation model of one reading (the service validates readings one by one)."""

    series: str = Field(examples=["glomfjord/smelter/hx1/primary/supply_temp"])
    ts: datetime = Field(description="Source timestamp, RFC 3339 with an offset",
                         examples=["2026-01-15T06:00:00.000+00:00"])
    value: float = Field(examples=[31.2])
    quality: Quality = Quality.GOOD
    unit: str | None = Field(None, description="Unit the value was measured in, when it is "
                             "not the series' own; the service converts it", examples=["degF"])


class WireBatch(BaseModel):
    """Documentation model of a batch."""

    gateway: str = Field(examples=["glomfjord-gw1"])
    batch_id: str = Field(examples=["01J9Z3K8X4-000042"])
    readings: list[WireReading]


class WireRun(BaseModel):
    """Documentation model of one run: a series' readings as columns of equal length."""

    series: str = Field(examples=["glomfjord/smelter/hx1/primary/supply_temp"])
    unit: str | None = Field(None, description="As a reading's `unit`, for the whole run")
    ts: list[datetime] = Field(description="Source timestamps, as a reading's `ts`")
    value: list[float]
    quality: list[Quality] | None = Field(None, description="Left out: every reading good")


class WireRunsBatch(BaseModel):
    """Documentation model of a batch of runs (`POST /v1/ingest/runs`)."""

    gateway: str = Field(examples=["glomfjord-gw1"])
    batch_id: str = Field(examples=["01J9Z3K8X4-000043"])
    runs: list[WireRun]


def format_ts(ts: datetime) -> str:
    """RFC 3339 with an explicit offset and millisecond precision, always UTC."""
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def reading_to_wire(reading: Reading) -> dict[str, Any]:
    wire = {
        "series": reading.series,
        "ts": format_ts(reading.ts),
        "value": reading.value,
        "quality": str(reading.quality),
    }
    if reading.unit is not None:
        wire["unit"] = reading.unit
    return wire


def wire_readings(readings: Sequence[Reading]) -> list[dict[str, Any]]:
    """A batch's readings as the wire's objects."""
    # Readings of one batch share few timestamps (a Sparkplug message's metrics, an OPC UA
    # publish): format each once.
    stamps: dict[datetime, str] = {}
    wire = []
    for r in readings:
        ts = stamps.get(r.ts)
        if ts is None:
            ts = stamps[r.ts] = format_ts(r.ts)
        item: dict[str, Any] = {"series": r.series, "ts": ts, "value": r.value}
        if r.quality != Quality.GOOD:
            item["quality"] = str(r.quality)
        if r.unit is not None:
            item["unit"] = r.unit
        wire.append(item)
    return wire


def wire_readings_for_orjson(readings: Sequence[Reading]) -> list[dict[str, Any]]:
    """`wire_readings` for orjson (the gateway's uplink), which writes a UTC timestamp
    itself, in C: formatting them in Python was most of the cost of a batch. orjson writes
    what `format_ts` writes when there is a fraction of a second; whole seconds (orjson
    leaves out the fraction) and other offsets go through `format_ts`."""
    wire = []
    for r in readings:
        ts = r.ts
        item = {"series": r.series,
                "ts": ts if ts.microsecond and ts.tzinfo is UTC else format_ts(ts),
                "value": r.value}
        if r.quality != Quality.GOOD:
            item["quality"] = str(r.quality)
        if r.unit is not None:
            item["unit"] = r.unit
        wire.append(item)
    return wire


def encode_batch(gateway: str, batch_id: str, readings: list[Reading]) -> bytes:
    body = {"gateway": gateway, "batch_id": batch_id, "readings": wire_readings(readings)}
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def shown(raw: object, limit: int = 40) -> str:
    """What a client sent, for a message: short, printable, and safe to make from any
    value (``str`` of a list nested a thousand deep raises)."""
    if isinstance(raw, str):
        return f"'{printable(raw, limit)}'"
    if isinstance(raw, bool) or raw is None or isinstance(raw, float):
        return repr(raw)
    if isinstance(raw, int):
        if raw.bit_length() > 128:
            return f"an integer of about {int(raw.bit_length() * math.log10(2))} digits"
        return str(raw)
    if isinstance(raw, dict):
        return "an object"
    return "a list" if isinstance(raw, list) else type(raw).__name__


def parse_ts(raw: object) -> datetime | None:
    """An RFC 3339 string with an offset as an aware datetime in UTC; None when it is not
    one, or names a time UTC cannot hold (0001-01-01T00:00+01:00)."""
    if not isinstance(raw, str):
        return None
    try:
        ts = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if ts.tzinfo is UTC:  # what nearly every writer sends ("Z", "+00:00"): nothing to do
        return ts
    if ts.tzinfo is None or ts.utcoffset() is None:
        return None
    try:
        return ts.astimezone(UTC)
    except OverflowError:
        return None


def check_ts(raw: object) -> datetime | tuple[RejectReason, str]:
    """A reading's ``ts`` field as an aware datetime, or why it is not one."""
    ts = parse_ts(raw)
    if ts is None:
        return (RejectReason.BAD_TIMESTAMP,
                f"'ts' must be RFC 3339 with an offset and a time UTC can hold, "
                f"got {shown(raw)}")
    return ts


def check_value(raw: object) -> float | tuple[RejectReason, str]:
    """A reading's ``value`` field as a finite float, or why it is not one."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return RejectReason.BAD_VALUE, f"'value' must be a number, got {shown(raw)}"
    try:
        value = float(raw)
    except OverflowError:  # an integer of hundreds of digits
        return (RejectReason.NOT_FINITE,
                f"'value' ({shown(raw)}) is beyond the range of a 64-bit float")
    if not math.isfinite(value):
        return RejectReason.NOT_FINITE, f"'value' must be finite, got {value}"
    return value


def check_quality(raw: object) -> str | tuple[RejectReason, str]:
    """A reading's ``quality`` field, or why it is not one."""
    if not isinstance(raw, str) or raw not in QUALITIES:  # a list or object is unhashable
        return (RejectReason.BAD_QUALITY,
                f"'quality' must be one of good, uncertain, bad, unknown, got {shown(raw, 20)}")
    return str(raw)
