"""MQTT topic → series key, payload → reading. Pure functions; no broker here.

A payload that cannot be read yields a `BadPayload` with a kind (a metric label) instead of
raising, so one bad publisher never stops the gateway.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from gateway.config import JsonPayload, MqttTopic, NumberPayload
from heatlink.wire import Reading, check_quality, parse_ts, reading_of


@dataclass(frozen=True, slots=True)
class BadPayload:
    kind: str
    sample: str


Mapped = tuple[str, JsonPayload | NumberPayload, str | None]  # series, format, unit


class TopicRule:
    def __init__(self, topic: MqttTopic) -> None:
        self.topic = topic
        parts = []
        for level in topic.filter.split("/"):
            if level == "+":
                parts.append("([^/]+)")
            elif level == "#":
                parts.append("(.+)")
            else:
                parts.append(re.escape(level))
        self._pattern = re.compile("/".join(parts) + r"\Z")

    def series_for(self, topic: str) -> str | None:
        match = self._pattern.match(topic)
        if match is None:
            return None
        return self.topic.series.format(*match.groups(), topic=topic)


class TopicMap:
    """The first rule whose filter matches a topic names its series, payload format and unit
    (cached per topic)."""

    def __init__(self, topics: list[MqttTopic]) -> None:
        self.rules = [TopicRule(t) for t in topics]
        self._cache: dict[str, Mapped | None] = {}

    def lookup(self, topic: str) -> Mapped | None:
        if topic in self._cache:
            return self._cache[topic]
        found = None
        for rule in self.rules:
            series = rule.series_for(topic)
            if series is not None:
                found = (series, rule.topic.payload, rule.topic.unit)
                break
        if len(self._cache) < 100_000:
            self._cache[topic] = found
        return found


def _sample(payload: bytes | bytearray) -> str:
    return payload[:120].decode("utf-8", "replace")


@functools.lru_cache(maxsize=256)
def _parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def _path(obj: object, path: str) -> object:
    if isinstance(obj, dict) and "." not in path:  # the common case, without a loop
        return obj.get(path)
    for part in _parts(path):
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


def _number(raw: object) -> float | None:
    if type(raw) is float:  # the common case, first
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return float(raw)


def parse_payload(series: str, payload: bytes | bytearray, fmt: JsonPayload | NumberPayload,
                  received_at: datetime | Callable[[], datetime]) -> Reading | BadPayload:
    """`received_at` may be a clock's `now`: it is read only when the payload has no ts."""
    if isinstance(fmt, NumberPayload):
        try:
            value = float(payload.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            return BadPayload("not_a_number", _sample(payload))
        if not math.isfinite(value):
            return BadPayload("not_finite", _sample(payload))
        return Reading(series, _at(received_at), value, "good")

    try:
        doc = _loads(payload)
    except (UnicodeDecodeError, ValueError):
        return BadPayload("not_json", _sample(payload))
    raw_value = _path(doc, fmt.value_path)
    if raw_value is None:
        return BadPayload("no_value", _sample(payload))
    number = _number(raw_value)
    if number is None:
        return BadPayload("value_not_a_number", _sample(payload))
    if not math.isfinite(number):
        return BadPayload("not_finite", _sample(payload))
    if fmt.ts_path is None:
        ts = _at(received_at)
    else:
        raw_ts = _path(doc, fmt.ts_path)
        parsed = _timestamp(raw_ts, fmt.ts_epoch_unit)
        if parsed is None:
            return BadPayload("bad_timestamp", _sample(payload))
        ts = parsed
    quality = "good"
    if fmt.quality_path is not None:
        raw_quality = _path(doc, fmt.quality_path)
        if raw_quality is not None:
            checked = check_quality(raw_quality)
            if isinstance(checked, tuple):
                return BadPayload("bad_quality", _sample(payload))
            quality = checked
    return reading_of((series, ts, number, quality, None))


def _loads(payload: bytes | bytearray) -> object:
    """JSON as the json module reads it, fast: orjson reads nearly every payload; what it
    refuses (NaN and Infinity, UTF-16, integers past 64 bits) the json module reads as
    before, so a payload means what it always meant."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return json.loads(payload)


def _at(received_at: datetime | Callable[[], datetime]) -> datetime:
    return received_at if isinstance(received_at, datetime) else received_at()


def _timestamp(raw: object, epoch_unit: str) -> datetime | None:
    if type(raw) is str:  # the common case, first
        return parse_ts(raw)
    number = _number(raw)
    if number is not None:
        seconds = number / 1000 if epoch_unit == "ms" else number
        if not math.isfinite(seconds):
            return None
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return parse_ts(raw)
