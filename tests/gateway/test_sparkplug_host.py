"""The Sparkplug host's rules, message by message, with payloads encoded by the simulator's
own schema (not the gateway's generated code) and a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.columns import ReadingColumns
from gateway.config import SparkplugMetric
from gateway.sparkplug.host import SparkplugHost
from gateway.sparkplug.messages import REBIRTH_METRIC, parse_state, rebirth_request, state_payload
from gateway.sparkplug.topic import EdgeTopic, MessageType, StateTopic, parse_topic
from heatlink.testing import FakeClock
from simulators.sparkplug_edge import metric_value
from simulators.sparkplug_schema import DATATYPES, decode, encode
from tests.gateway.sparkplug_decoders import DECODERS

T0 = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)
SUPPLY = "glomfjord/smelter/hx1/primary/supply_temp"
FLOW = "glomfjord/smelter/hx1/primary/flow"
LEVEL = "glomfjord/smelter/edge/level"
METRICS = [
    SparkplugMetric(node="smelter-edge", device="hx1", metric="Primary/SupplyTemp",
                    series=SUPPLY),
    SparkplugMetric(node="smelter-edge", device="hx1", metric="Primary/Flow", series=FLOW,
                    unit="l/s"),
    SparkplugMetric(node="smelter-edge", metric="Level", series=LEVEL),
]


def ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def topic(kind: str, device: str | None = None) -> EdgeTopic:
    return EdgeTopic("Glomfjord", MessageType(kind), "smelter-edge", device)


def metric(name: str, alias: int, value: float, datatype: str = "Double",
           **extra: Any) -> dict[str, Any]:
    return {"name": name, "alias": alias, "datatype": DATATYPES[datatype],
            **metric_value(datatype, value), **extra}


def unit(text: str) -> dict[str, Any]:
    return {"properties": {"keys": ["engUnit"], "values": [{"type": 12, "string_value": text}]}}


class Edge:
    """Messages of one edge node, in the order a test sends them."""

    def __init__(self, host: SparkplugHost, clock: FakeClock) -> None:
        self.host, self.clock, self.seq = host, clock, 0

    def send(self, kind: str, device: str | None = None, *, seq: int | None = None,
             **payload: Any) -> Any:
        body = {"timestamp": ms(self.clock.now()), **payload}
        if kind != "NDEATH":
            body["seq"] = self.seq if seq is None else seq
            self.seq = (body["seq"] + 1) % 256
        return self.host.handle(topic(kind, device), encode(body))

    def births(self, bd_seq: int = 7) -> list[Any]:
        self.seq = 0
        return [
            self.send("NBIRTH", metrics=[
                metric("bdSeq", 0, bd_seq, "Int64"), metric(REBIRTH_METRIC, 1, 0, "Boolean"),
                metric("Level", 2, 3.5, "Float")]),
            self.send("DBIRTH", "hx1", metrics=[
                metric("Primary/SupplyTemp", 10, 86.0, **unit("°F")),
                metric("Primary/Flow", 11, 20, "Int32", **unit("m3/h")),
                metric("Secondary/SupplyTemp", 12, 25.0)])]


@pytest.fixture(params=DECODERS)
def edge(request: pytest.FixtureRequest) -> Edge:
    """An edge talking to a host of each decoder: every rule holds for both."""
    clock = FakeClock(T0)
    return Edge(SparkplugHost("Glomfjord", METRICS, clock, reorder_timeout_s=2,
                              compiled=request.param == "compiled"), clock)


def test_births_give_values_units_and_names_data_comes_by_alias(edge: Edge) -> None:
    node_birth, device_birth = edge.births()
    assert [(r.series, r.value, r.unit) for r in node_birth.readings] == [(LEVEL, 3.5, None)]
    # The birth's unit is read ("°F" is degF); the config's `unit:` wins over the birth's.
    assert [(r.series, r.value, r.unit, r.ts) for r in device_birth.readings] == [
        (SUPPLY, 86.0, "degF", T0), (FLOW, 20.0, "l/s", T0)]
    edge.clock.advance(1)
    data = edge.send("DDATA", "hx1", metrics=[
        {"alias": 10, "timestamp": ms(T0 + timedelta(seconds=1)), "double_value": 87.5},
        {"alias": 11, "int_value": (-3) & 0xFFFF_FFFF},  # Int32 in two's complement
        {"alias": 12, "double_value": 24.0}])  # not configured: not wanted
    assert [(r.series, r.value, r.quality) for r in data.readings] == [
        (SUPPLY, 87.5, "good"), (FLOW, -3.0, "good")]
    assert data.rebirth == []
    assert data.problems == []


def test_a_node_death_makes_every_series_of_it_unknown_at_once(edge: Edge) -> None:
    edge.births()
    edge.clock.advance(5)
    death = edge.send("NDEATH", metrics=[metric("bdSeq", 0, 7, "Int64")])
    assert sorted((r.series, r.value, r.quality, r.ts) for r in death.readings) == [
        (LEVEL, 3.5, "unknown", T0 + timedelta(seconds=5)),
        (FLOW, 20.0, "unknown", T0 + timedelta(seconds=5)),
        (SUPPLY, 86.0, "unknown", T0 + timedelta(seconds=5))]
    assert not edge.host.nodes["smelter-edge"].scope.online
    assert edge.host.lost_broker() == []  # what is dead does not die again


def test_a_late_will_of_an_earlier_session_changes_nothing(edge: Edge) -> None:
    edge.births(bd_seq=8)
    death = edge.send("NDEATH", metrics=[metric("bdSeq", 0, 7, "Int64")])
    assert death.readings == []
    assert edge.host.nodes["smelter-edge"].scope.online


def test_a_device_death_makes_only_that_device_unknown(edge: Edge) -> None:
    edge.births()
    death = edge.send("DDEATH", "hx1")
    assert sorted((r.series, r.quality) for r in death.readings) == [
        (FLOW, "unknown"), (SUPPLY, "unknown")]
    # A message from before the death, delivered again after a reconnect, is still read.
    late = T0 - timedelta(seconds=1)
    again = edge.send("DDATA", "hx1", metrics=[{"alias": 10, "timestamp": ms(late),
                                                 "double_value": 85.0}])
    assert [(r.ts, r.value) for r in again.readings] == [(late, 85.0)]
    assert again.rebirth == []


def test_a_gap_filled_within_the_reorder_timeout_asks_for_nothing(edge: Edge) -> None:
    edge.births()  # seq 0, 1
    edge.send("DDATA", "hx1", seq=3, metrics=[{"alias": 10, "double_value": 1.0}])
    edge.clock.advance(1)
    edge.send("DDATA", "hx1", seq=2, metrics=[{"alias": 10, "double_value": 2.0}])
    edge.clock.advance(5)
    assert edge.host.due() == []


def test_a_gap_that_outlasts_the_reorder_timeout_asks_for_a_rebirth_once(edge: Edge) -> None:
    edge.births()
    gap = edge.send("DDATA", "hx1", seq=3, metrics=[{"alias": 10, "double_value": 1.0}])
    assert [r.value for r in gap.readings] == [1.0]  # taken at once, not held back
    edge.clock.advance(1.9)
    assert edge.host.due() == []
    edge.clock.advance(0.1)
    assert edge.host.due() == ["smelter-edge"]
    assert edge.host.due() == []


def test_seq_wraps_after_255_without_a_gap(edge: Edge) -> None:
    edge.births()
    for _ in range(300):
        edge.send("NDATA", metrics=[{"alias": 2, "float_value": 1.0}])
    edge.clock.advance(60)
    assert edge.host.due() == []


def test_data_of_a_node_never_born_asks_for_a_rebirth_not_too_often(edge: Edge) -> None:
    first = edge.send("DDATA", "hx1", metrics=[{"alias": 10, "double_value": 1.0}])
    again = edge.send("DDATA", "hx1", metrics=[{"alias": 10, "double_value": 1.0}])
    assert (first.readings, first.rebirth) == ([], ["smelter-edge"])
    assert again.rebirth == []
    edge.clock.advance(11)
    assert edge.send("NDATA", metrics=[]).rebirth == ["smelter-edge"]


def test_historical_values_keep_their_time_and_are_not_the_latest(edge: Edge) -> None:
    edge.births()
    edge.clock.advance(60)
    old = T0 - timedelta(hours=2)
    history = edge.send("DDATA", "hx1", metrics=[
        {"alias": 10, "timestamp": ms(old), "double_value": 70.0, "is_historical": True}])
    assert [(r.ts, r.value) for r in history.readings] == [(old, 70.0)]
    death = edge.send("DDEATH", "hx1")
    assert {r.series: r.value for r in death.readings}[SUPPLY] == 86.0


def test_messages_gathered_in_one_batch_read_as_each_alone(edge: Edge) -> None:
    """A source gathers many messages' readings in one set of columns, and the host keeps
    where each metric's values go from message to message: every kind of value still reads
    as it would alone, and a death still gives the newest live value, not the newest added."""
    edge.births()
    into = ReadingColumns()
    t = [T0 + timedelta(seconds=k) for k in range(6)]
    messages = [
        [{"alias": 10, "timestamp": ms(t[2]), "double_value": 87.0},
         {"alias": 11, "int_value": 21}],
        [{"alias": 10, "timestamp": ms(t[3]), "double_value": 0.0},  # a zero is a value
         {"alias": 10, "timestamp": ms(t[4]), "double_value": "Infinity"},
         {"alias": 10, "timestamp": ms(t[1]), "double_value": 60.0, "is_historical": True}],
        [{"alias": 10, "timestamp": ms(t[5]), "double_value": 88.0,
          "properties": {"keys": ["Quality"], "values": [{"type": 3, "int_value": 0}]}},
         {"alias": 10, "timestamp": ms(t[4]), "double_value": 89.0}],  # late, not newest
    ]
    problems = []
    for metrics in messages:
        body = {"timestamp": ms(edge.clock.now()), "seq": edge.seq, "metrics": metrics}
        edge.seq += 1
        problems += edge.host.handle(topic("DDATA", "hx1"), encode(body), into).problems
    assert [(r.series, r.ts, r.value, r.quality) for r in into] == [
        (SUPPLY, t[2], 87.0, "good"), (SUPPLY, t[3], 0.0, "good"),
        (SUPPLY, t[1], 60.0, "good"), (SUPPLY, t[5], 88.0, "bad"),
        (SUPPLY, t[4], 89.0, "good"), (FLOW, T0, 21.0, "good")]
    assert [kind for kind, _ in problems] == ["not_finite"]
    death = edge.send("DDEATH", "hx1")
    assert {r.series: r.value for r in death.readings} == {SUPPLY: 88.0, FLOW: 21.0}


def test_a_double_sent_for_a_metric_born_boolean_is_refused(edge: Edge) -> None:
    edge.births()
    out = edge.send("NDATA", metrics=[{"alias": 1, "double_value": 1.5}])
    assert out.readings == []  # (Node Control/Rebirth is not configured: nothing at all)
    wanted = SparkplugHost("Glomfjord", [SparkplugMetric(
        node="smelter-edge", metric=REBIRTH_METRIC, series="x/rebirth")], edge.clock)
    edge.host = wanted
    edge.births()
    out = edge.send("NDATA", metrics=[{"alias": 1, "double_value": 1.5}])
    assert out.readings == []
    assert [kind for kind, _ in out.problems] == ["value_not_a_number"]


def test_a_metric_the_birth_did_not_declare_asks_for_a_rebirth(edge: Edge) -> None:
    edge.births()
    out = edge.send("DDATA", "hx1", metrics=[{"alias": 99, "double_value": 1.0}])
    assert out.problems[0][0] == "unknown_metric"
    assert out.rebirth == ["smelter-edge"]


def test_broker_loss_makes_everything_stale_and_the_reconnect_asks_for_births(
        edge: Edge) -> None:
    edge.births()
    stale = edge.host.lost_broker()
    assert {r.quality for r in stale} == {"unknown"}
    assert len(stale) == 3
    assert edge.host.reconnected() == ["smelter-edge"]
    # Births are kept: data delivered again after the reconnect is still readable.
    data = edge.send("DDATA", "hx1", metrics=[{"alias": 10, "double_value": 88.0}])
    assert [r.value for r in data.readings] == [88.0]


def test_what_the_host_publishes_reads_back_with_the_simulators_schema() -> None:
    request = decode(rebirth_request(1234))
    assert request["metrics"] == [{"name": REBIRTH_METRIC, "timestamp": "1234",
                                   "datatype": DATATYPES["Boolean"], "boolean_value": True}]
    assert parse_state(state_payload(True, 99)) == (True, 99)
    assert parse_state(b'{"online": "yes", "timestamp": 1}') is None


@pytest.mark.parametrize(("raw", "parsed"), [
    ("spBv1.0/G/DDATA/n/d", EdgeTopic("G", MessageType.DDATA, "n", "d")),
    ("spBv1.0/G/NBIRTH/n", EdgeTopic("G", MessageType.NBIRTH, "n", None)),
    ("spBv1.0/STATE/host", StateTopic("host")),
    ("spBv1.0/G/DDATA/n", None),  # a device message needs a device
    ("spBv1.0/G/NDATA/n/d", None),
    ("spBv1.0/G/XDATA/n", None),
    ("other/G/NDATA/n", None),
])
def test_topics(raw: str, parsed: object) -> None:
    assert parse_topic(raw) == parsed


def test_a_time_past_the_range_the_service_keeps_is_refused_and_the_rest_read(
        edge: Edge) -> None:
    """A metric stamped in the year 287,000 (ms fit in 64 bits, microseconds and a date do
    not) is refused by name; the message's other metrics are read, and a death after it
    still gives the last good value instead of failing on a date it cannot make."""
    edge.births()
    far = 9_000_000_000_000_000
    out = edge.send("DDATA", "hx1", metrics=[
        {"alias": 10, "double_value": 90.0, "timestamp": far},
        {"alias": 10, "double_value": 91.0}])
    assert [(r.series, r.value) for r in out.readings] == [(SUPPLY, 91.0)]
    assert [kind for kind, _ in out.problems] == ["bad_timestamp"]
    late = edge.host.handle(topic("DDATA", "hx1"), encode(
        {"timestamp": far, "seq": edge.seq, "metrics": [{"alias": 10, "double_value": 92.0}]}))
    assert late.readings == []
    assert [kind for kind, _ in late.problems] == ["bad_timestamp"]
    death = edge.host.handle(topic("DDEATH", "hx1"), encode({"timestamp": far}))
    assert [(r.series, r.value, r.quality, r.ts) for r in death.readings
            if r.series == SUPPLY] == [(SUPPLY, 91.0, "unknown", T0 + timedelta(milliseconds=1))]
