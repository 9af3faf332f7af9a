"""The compiled data path (protobuf-c) gives what the `protobuf` path gives, for any data
message: the same readings in the same order, the same problems and rebirth requests, and
the same latest values at a death. Payloads are built with the simulator's own schema."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.columns import ReadingColumns
from gateway.config import SparkplugMetric
from gateway.sparkplug.host import Outcome, SparkplugHost
from gateway.sparkplug.topic import EdgeTopic, MessageType
from heatlink.testing import FakeClock
from simulators.sparkplug_schema import DATATYPES, payload_class
from tests.gateway.sparkplug_decoders import require_compiled

T0 = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)
NODE, DEVICE = "edge", "hx1"
# Born as: alias -> (name, datatype). 13 is born but not configured (its values are dropped).
BORN = {10: ("Supply", "Double"), 11: ("Flow", "Float"), 12: ("Count", "Int32"),
        13: ("Spare", "Double")}
METRICS = [SparkplugMetric(node=NODE, device=DEVICE, metric=name, series=f"s/{name}")
           for alias, (name, _) in BORN.items() if alias != 13]
MS_EXTREMES = [0, 1, 9_000_000_000_000_000, 9_000_000_000_000_001, 2**63, 2**64 - 1]


def encode(payload: dict[str, Any]) -> bytes:
    message = payload_class()()
    for key in ("timestamp", "seq"):
        if payload.get(key) is not None:
            setattr(message, key, payload[key])
    for fields in payload["metrics"]:
        metric = message.metrics.add()
        for key, value in fields.items():
            if key == "quality":
                metric.properties.keys.append("Quality")
                metric.properties.values.add(type=DATATYPES["Int32"], int_value=value)
            else:
                setattr(metric, key, value)
    return bytes(message.SerializeToString())


times = st.one_of(st.none(), st.sampled_from(MS_EXTREMES),
                  st.integers(1_700_000_000_000, 1_800_000_000_000))
values = st.one_of(
    st.fixed_dictionaries({"double_value": st.floats(allow_subnormal=True)}),
    st.fixed_dictionaries({"float_value": st.floats(width=32)}),
    st.fixed_dictionaries({"int_value": st.integers(0, 2**32 - 1)}),
    st.fixed_dictionaries({"long_value": st.integers(0, 2**64 - 1)}),
    st.fixed_dictionaries({"boolean_value": st.booleans()}),
    st.fixed_dictionaries({"string_value": st.text(max_size=3)}),
    st.just({}))
metrics = st.builds(
    lambda alias, value, ts, extra: {**({"alias": alias} if alias is not None else {}),
                                     **value, **({"timestamp": ts} if ts is not None else {}),
                                     **extra},
    st.one_of(st.none(), st.sampled_from([0, *BORN, 99])), values, times,
    st.one_of(st.just({}), st.just({"is_historical": True}), st.just({"is_null": True}),
              st.just({"name": "Supply"}), st.just({"datatype": DATATYPES["Float"]}),
              st.fixed_dictionaries({"quality": st.sampled_from([0, 192, 500])})))
payloads = st.fixed_dictionaries({
    "timestamp": times, "seq": st.one_of(st.none(), st.integers(0, 2**64 - 1)),
    "metrics": st.lists(metrics, max_size=6)})


def host(compiled: bool, clock: FakeClock | None = None) -> SparkplugHost:
    clock = clock or FakeClock(T0)
    made = SparkplugHost("G", METRICS, clock, reorder_timeout_s=2, compiled=compiled)
    birth = encode({"timestamp": 1_768_456_800_000, "seq": 0, "metrics": [
        {"name": "bdSeq", "datatype": DATATYPES["Int64"], "long_value": 1}]})
    made.handle(EdgeTopic("G", MessageType.NBIRTH, NODE, None), birth)
    device = encode({"timestamp": 1_768_456_800_000, "seq": 1, "metrics": [
        {"name": name, "alias": alias, "datatype": DATATYPES[kind],
         **({"int_value": 1} if kind == "Int32" else
            {"float_value": 1.0} if kind == "Float" else {"double_value": 1.0})}
        for alias, (name, kind) in BORN.items()]})
    made.handle(EdgeTopic("G", MessageType.DBIRTH, NODE, DEVICE), device)
    return made


def columns(into: ReadingColumns) -> list[tuple[Any, ...]]:
    """The columns as they are, times as integers (a time out of range makes no datetime)."""
    return [(run.series, run.unit, list(run.ts_us),
             [v if not math.isnan(v) else "nan" for v in run.values], list(run.quality))
            for run in into.runs]


def run(compiled: bool, messages: list[tuple[str, bytes]]) -> tuple[Any, ...]:
    clock = FakeClock(T0)
    made = host(compiled, clock)
    into = ReadingColumns()
    outcomes: list[Outcome] = []
    for kind, raw in messages:
        device = None if kind == "NDATA" else DEVICE
        outcomes.append(made.handle(EdgeTopic("G", MessageType(kind), NODE, device), raw, into))
        clock.advance(0.2)
    gaps = made.due()
    death = made.handle(EdgeTopic("G", MessageType.DDEATH, NODE, DEVICE), encode(
        {"timestamp": 1_768_456_900_000, "metrics": []}))
    return (columns(into), [(o.problems, o.rebirth) for o in outcomes], gaps,
            sorted((r.series, r.value, r.quality) for r in death.readings))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["DDATA", "DDATA", "NDATA"]), payloads),
                min_size=1, max_size=4))
def test_any_data_message_reads_the_same_either_way(
        messages: list[tuple[str, dict[str, Any]]]) -> None:
    require_compiled()
    raw = [(kind, encode(payload)) for kind, payload in messages]
    assert run(True, raw) == run(False, raw)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), min_size=1, max_size=3))
# A payload whose second byte was changed: protobuf-c reads a field number past 2^29 that
# `protobuf` refuses, so the compiled path must leave it (found by fuzzing flipped bytes).
@example([bytes.fromhex("0801baa0ccc03312110a06537570706c79690000000000000000")])
def test_any_bytes_read_the_same_either_way(blobs: list[bytes]) -> None:
    require_compiled()
    raw = [("DDATA", blob) for blob in blobs]
    assert run(True, raw) == run(False, raw)


@settings(max_examples=300, deadline=None)
@given(payloads, st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1,
                          max_size=3))
def test_a_payload_with_bytes_changed_reads_the_same_either_way(
        payload: dict[str, Any], changes: list[tuple[int, int]]) -> None:
    require_compiled()
    raw = bytearray(encode(payload))
    for at, byte in changes:
        if raw:
            raw[at % len(raw)] = byte
    assert run(True, [("DDATA", bytes(raw))]) == run(False, [("DDATA", bytes(raw))])


def nested(depth: int) -> bytes:
    """A data message whose one metric holds a template holding a metric holding a
    template..., `depth` deep, written field by field."""
    def field(number: int, data: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(data)) + data

    metric = b""
    for _ in range(depth):
        metric = field(18, field(2, metric))  # Metric.template_value, Template.metrics
    return varint(1 << 3) + varint(1_768_456_801_000) + field(2, metric)


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append(n & 0x7F | (0x80 if n >> 7 else 0))
        n >>= 7
        if not n:
            return bytes(out)


def test_a_message_nested_ten_thousand_deep_is_refused_not_a_crash() -> None:
    """An 85 KB payload of templates nested 10,000 deep overflowed the stack of a
    protobuf-c decoder generated from the whole schema (the process died of SIGSEGV, from
    anyone who may publish to the group). The compiled path decodes only a plain message's
    fields, so the nesting is one field it leaves to `protobuf`, which refuses it."""
    require_compiled()
    raw = nested(10_000)
    assert len(raw) > 80_000
    compiled, protobuf = run(True, [("DDATA", raw)]), run(False, [("DDATA", raw)])
    assert compiled == protobuf
    assert compiled[1] == [([("not_sparkplug", "DDATA edge")], [])]


def test_plain_metrics_after_one_that_is_not_keep_their_order() -> None:
    """The compiled path stops at the first metric it does not take (here one not seen
    before, whose slot the other path makes); the rest of the message goes the other way,
    and every series' readings stay in the order they came."""
    require_compiled()
    first = encode({"timestamp": 1_768_456_801_000, "seq": 2, "metrics": [
        {"alias": 10, "double_value": 50.0}, {"alias": 11, "float_value": 2.5},
        {"alias": 10, "double_value": 51.0, "is_historical": True, "timestamp": 1},
        {"alias": 10, "double_value": 52.0}]})
    made = host(True)
    into = ReadingColumns()
    made.handle(EdgeTopic("G", MessageType.DDATA, NODE, DEVICE), first, into)
    made.handle(EdgeTopic("G", MessageType.DDATA, NODE, DEVICE), first, into)
    supply = [run for run in into.runs if run.series == "s/Supply"]
    assert [list(r.values) for r in supply] == [[50.0, 51.0, 52.0, 50.0, 51.0, 52.0]]
    assert list(supply[0].ts_us[:3]) == [1_768_456_801_000_000, 1_000, 1_768_456_801_000_000]


def test_a_host_uses_the_compiled_path_where_it_is_built_unless_declined() -> None:
    """`./dev test` installs protobuf-c and requires this: a build that silently fell back
    to the slower path fails here instead of passing everything above by skipping."""
    require_compiled()
    assert SparkplugHost("G", METRICS, FakeClock(T0)).compiled
    assert not SparkplugHost("G", METRICS, FakeClock(T0), compiled=False).compiled
