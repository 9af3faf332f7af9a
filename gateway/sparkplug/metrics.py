"""Values, units and quality out of a decoded Sparkplug metric.

Sparkplug sends signed integers in unsigned fields (Int8/16/32 in ``int_value``, Int64 in
``long_value``) as two's complement; older edge nodes wrote Int8 and Int16 in their own
width, newer ones in 32 bits: both read back to the same number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.sparkplug import sparkplug_b_pb2 as pb
from heatlink.units import unit_from_symbol

_SIGNED_BITS: dict[int, int] = {pb.Int8: 8, pb.Int16: 16, pb.Int32: 32, pb.Int64: 64}
NUMERIC: frozenset[int] = frozenset({pb.Int8, pb.Int16, pb.Int32, pb.Int64, pb.UInt8,
                                     pb.UInt16, pb.UInt32, pb.UInt64, pb.Float, pb.Double})
# Property keys edge nodes use for the engineering unit (Sparkplug names none itself).
UNIT_KEYS = frozenset({"engunit", "engunits", "engineeringunits", "engineering units",
                       "unit", "units"})
# The one property Sparkplug defines for quality (6.4.13): 192 good, 0 bad, 500 stale.
QUALITY_KEY = "Quality"
QUALITIES = {192: "good", 0: "bad", 500: "unknown"}


@dataclass(frozen=True, slots=True)
class NotANumber:
    """Why a metric's value cannot be a reading (a metric label)."""

    kind: str


def number(metric: pb.Payload.Metric, datatype: int) -> float | NotANumber | None:
    """The metric's value as a float; None when it is null (no value, not an error)."""
    field = metric.WhichOneof("value")
    if field == "double_value" and datatype == pb.Double:  # the common case, first
        value: float = metric.double_value
        return value if math.isfinite(value) else NotANumber("not_finite")
    if field is None or metric.is_null:
        return None
    if datatype not in NUMERIC:
        return NotANumber("value_not_a_number")
    if field == "int_value" or field == "long_value":
        raw = metric.int_value if field == "int_value" else metric.long_value
        bits = _SIGNED_BITS.get(datatype)
        if bits is not None:
            raw = _signed(raw, 32 if field == "int_value" and raw >= 1 << bits else bits)
        return float(raw)
    if field == "float_value" or field == "double_value":
        value = metric.float_value if field == "float_value" else metric.double_value
        return value if math.isfinite(value) else NotANumber("not_finite")
    return NotANumber("value_not_a_number")


def _signed(raw: int, bits: int) -> int:
    raw &= (1 << bits) - 1
    return raw - (1 << bits) if raw >= 1 << (bits - 1) else raw


def unit_of(metric: pb.Payload.Metric) -> str | None:
    """The unit a birth certificate gives, as heatlink names it; an unrecognised one as it
    is written (the service then refuses its readings with a reason, rather than storing
    them in the wrong unit)."""
    props = metric.properties
    for key, value in zip(props.keys, props.values, strict=False):
        if key.lower() in UNIT_KEYS and value.WhichOneof("value") == "string_value":
            text = value.string_value.strip()
            if text:
                return unit_from_symbol(text) or text
    return None


def quality_of(metric: pb.Payload.Metric) -> str:
    props = metric.properties
    for key, value in zip(props.keys, props.values, strict=False):
        if key == QUALITY_KEY and value.WhichOneof("value") in ("int_value", "long_value"):
            code = _signed(value.int_value or value.long_value, 32)
            return QUALITIES.get(code, "uncertain")
    return "good"


def long_metric(payload: pb.Payload, name: str) -> int | None:
    """A named integer metric of a payload (``bdSeq``)."""
    for metric in payload.metrics:
        if metric.name == name:
            field = metric.WhichOneof("value")
            if field == "long_value":
                return int(metric.long_value)
            if field == "int_value":
                return int(metric.int_value)
    return None
