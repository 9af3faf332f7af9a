"""Reading a batch of runs (`POST /v1/ingest/runs`): each series' readings as columns.

The body (`heatlink.wire`, "runs")::

    {"gateway": "…", "batch_id": "…",
     "runs": [{"series": "…", "unit": "degF", "ts": ["2026-…+00:00", …],
               "value": [31.2, …], "quality": ["good", …]}]}

A reading is the same as in the body of readings; its index is its place counting through
the runs in order. The common body is read typed in one call (`read_typed_runs`); any other
is read as JSON and its runs laid out as the readings they hold (`expand_runs`), which are
then checked one by one like those of any batch. A run whose shape cannot be followed (not
an object, a column that is not a list, columns of different lengths) cannot say which
readings it holds: the body is refused, naming the run.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from services.ingest.decode import Body, IngestError, TypedEnvelope, Unreadable, read_value


class TypedRun(msgspec.Struct):
    series: str
    ts: list[str]
    value: list[float]  # a JSON integer comes as the float the checks would make of it
    quality: list[str] | None = None
    unit: str | None = None


class TypedRuns(TypedEnvelope):
    runs: list[TypedRun]


_TYPED = msgspec.json.Decoder(TypedRuns)


def read_typed_runs(body: bytes) -> TypedRuns | None:
    """The body as typed runs when it is strict JSON of the common kind; None for anything
    else (`read_runs` then says what is wrong)."""
    try:
        return _TYPED.decode(body)
    except msgspec.DecodeError:  # ValidationError included
        return None


def read_runs(body: bytes, max_readings: int) -> Body:
    """Any body of runs, its readings laid out one by one."""
    parsed = read_value(body)
    if isinstance(parsed, Unreadable):
        raise IngestError(400, f"the body is not valid JSON: {parsed.why}")
    if not isinstance(parsed, dict):
        raise IngestError(400, "the body must be a JSON object with gateway, batch_id, runs")
    readings = expand_runs(parsed.get("runs"), max_readings)
    return RunsBody(parsed.get("gateway"), parsed.get("batch_id"), readings, body)


class RunsBody(Body):
    """A batch of runs as read: a reading's bytes are those of the object it stands for,
    written when the quarantine asks for them (a reading that jsonb cannot hold)."""

    def raw_reading(self, index: int) -> bytes:
        # The json module, not orjson: orjson writes NaN as null, and refuses an integer
        # beyond 64 bits and a lone surrogate; these are what a reading is kept as bytes for.
        return json.dumps(self.readings[index], default=str).encode()


def expand_runs(runs: Any, max_readings: int) -> list[dict[str, Any]]:
    """The readings the runs hold, in order; refused before they are laid out when there
    are more than `max_readings`."""
    if not isinstance(runs, list):
        raise IngestError(400, "'runs' must be a list")
    count = sum(len(run["ts"]) for run in runs
                if isinstance(run, dict) and isinstance(run.get("ts"), list))
    if count > max_readings:
        raise IngestError(413, f"{count} readings exceed the limit of {max_readings} per "
                          "batch (HEATLINK_MAX_READINGS_PER_BATCH); split the batch")
    readings: list[dict[str, Any]] = []
    for k, run in enumerate(runs):
        if not isinstance(run, dict):
            raise IngestError(400, f"runs[{k}] must be an object with series, ts, value")
        columns: dict[str, list[Any]] = {}
        for name in ("ts", "value", "quality"):
            column = run.get(name)
            if name == "quality" and column is None:
                continue  # every reading good
            if not isinstance(column, list):
                raise IngestError(400, f"runs[{k}].{name} must be a list")
            columns[name] = column
        lengths = {name: len(column) for name, column in columns.items()}
        if len(set(lengths.values())) != 1:
            raise IngestError(400, f"runs[{k}]: its columns differ in length ("
                              + ", ".join(f"{name} {n}" for name, n in lengths.items()) + ")")
        shared = {"series": run.get("series")}
        if run.get("unit") is not None:
            shared["unit"] = run["unit"]
        for values in zip(*columns.values(), strict=True):
            readings.append({**shared, **dict(zip(columns, values, strict=True))})
    return readings


def runs_size(runs: list[TypedRun]) -> int:
    return sum(len(run.ts) for run in runs)
