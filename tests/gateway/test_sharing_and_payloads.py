"""Pure parts: batch sharing between series, MQTT topic mapping and payload reading."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import JsonPayload, MqttTopic, NumberPayload
from gateway.fair_shares import fair_shares
from gateway.mqtt_payload import BadPayload, TopicMap, parse_payload
from heatlink.wire import Reading

NOW = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)


@given(st.dictionaries(st.text(max_size=3), st.integers(0, 500), max_size=20),
       st.integers(1, 2000))
def test_fair_shares_fill_the_batch_and_never_exceed_what_is_pending(
        pending: dict[str, int], max_readings: int) -> None:
    shares = fair_shares(pending, max_readings)
    assert sum(shares.values()) == min(max_readings, sum(pending.values()))
    assert all(0 < n <= pending[k] for k, n in shares.items())
    # Nobody gets less than an equal share unless it has less pending.
    if shares and sum(pending.values()) > max_readings:
        busy = [k for k, n in pending.items() if n > 0]
        floor = max_readings // len(busy)
        assert all(shares.get(k, 0) >= min(pending[k], floor) for k in busy)


@pytest.mark.parametrize(("filter_", "template", "topic", "series"), [
    ("heatlink-sim/#", "{0}", "heatlink-sim/glomfjord/smelter/hx1/primary/flow",
     "glomfjord/smelter/hx1/primary/flow"),   # the simulator's layout
    ("plant/+/tank1/+", "glomfjord/{0}/tank1/{1}", "plant/smoltfarm/tank1/temp",
     "glomfjord/smoltfarm/tank1/temp"),      # + wildcards in order
    ("a/b", "fixed/series", "a/b", "fixed/series"),
    ("a/+", "x/{topic}", "a/c", "x/a/c"),
])
def test_topic_templates(filter_: str, template: str, topic: str, series: str) -> None:
    assert TopicMap([MqttTopic(filter=filter_, series=template)]).lookup(topic) is not None
    found = TopicMap([MqttTopic(filter=filter_, series=template)]).lookup(topic)
    assert found is not None
    assert found[0] == series


def test_an_unmatched_topic_has_no_series() -> None:
    assert TopicMap([MqttTopic(filter="a/+", series="{0}")]).lookup("b/c") is None


def test_a_template_cannot_name_a_missing_wildcard() -> None:
    with pytest.raises(ValueError, match="wildcard"):
        MqttTopic(filter="a/+", series="{1}")


@pytest.mark.parametrize(("payload", "kind"), [
    (b"{not json", "not_json"),
    (b'{"ts": "2026-01-15T06:00:00+00:00"}', "no_value"),
    (b'{"value": "warm", "ts": "2026-01-15T06:00:00+00:00"}', "value_not_a_number"),
    (b'{"value": true, "ts": "2026-01-15T06:00:00+00:00"}', "value_not_a_number"),
    (b'{"value": 1, "ts": "yesterday"}', "bad_timestamp"),
    (b'{"value": 1, "ts": "2026-01-15T06:00:00"}', "bad_timestamp"),  # no offset
    (b'{"value": 1, "ts": "2026-01-15T06:00:00Z", "quality": "great"}', "bad_quality"),
    (b'{"value": 1, "ts": "2026-01-15T06:00:00Z", "quality": ["good"]}', "bad_quality"),
    (b'{"value": 1e999, "ts": "2026-01-15T06:00:00Z"}', "not_finite"),
    (b'{"value": NaN, "ts": "2026-01-15T06:00:00Z"}', "not_finite"),  # not JSON, but read
    (b"\xff\xfe", "not_json"),
])
def test_bad_json_payloads_are_named_by_kind(payload: bytes, kind: str) -> None:
    got = parse_payload("s", payload, JsonPayload(), NOW)
    assert isinstance(got, BadPayload)
    assert got.kind == kind


def test_payloads_the_fast_parser_refuses_still_mean_what_they_meant() -> None:
    """orjson reads nearly every payload; an integer past 64 bits or UTF-16 it leaves to
    the json module, which read them before."""
    big = parse_payload("s", b'{"value": 1' + b"0" * 30 + b', "ts": "2026-01-15T06:00:00Z"}',
                        JsonPayload(), NOW)
    utf16 = parse_payload("s", '{"value": 2.5, "ts": "2026-01-15T06:00:00Z"}'.encode("utf-16"),
                          JsonPayload(), NOW)
    assert isinstance(big, Reading)
    assert big.value == 1e30
    assert isinstance(utf16, Reading)
    assert utf16.value == 2.5


def test_json_payload_with_paths_and_epoch_ms() -> None:
    fmt = JsonPayload(value_path="data.v", ts_path="data.t", quality_path=None,
                      ts_epoch_unit="ms")
    got = parse_payload("s", b'{"data": {"v": 31.5, "t": 1768456800000}}', fmt, NOW)
    assert got == Reading("s", datetime(2026, 1, 15, 6, 0, tzinfo=UTC), 31.5, "good")


def test_json_payload_reads_quality_and_rfc3339() -> None:
    got = parse_payload("s", b'{"value": 2, "ts": "2026-01-15T07:00:00+01:00", '
                        b'"quality": "uncertain"}', JsonPayload(), NOW)
    assert got == Reading("s", NOW, 2.0, "uncertain")


@pytest.mark.parametrize(("payload", "expected"), [(b"12.5", 12.5), (b" -3 ", -3.0)])
def test_plain_numbers_take_the_receive_time(payload: bytes, expected: float) -> None:
    assert parse_payload("s", payload, NumberPayload(format="number"), NOW) == \
        Reading("s", NOW, expected, "good")


@pytest.mark.parametrize("payload", [b"warm", b"nan", b"inf", b""])
def test_plain_numbers_refuse_the_rest(payload: bytes) -> None:
    assert isinstance(parse_payload("s", payload, NumberPayload(format="number"), NOW),
                      BadPayload)


def test_a_topic_may_declare_the_unit_of_its_values() -> None:
    rules = [MqttTopic(filter="flow/+", series="{0}", unit="l/s"), MqttTopic(filter="t/+",
                                                                            series="{0}")]
    assert TopicMap(rules).lookup("flow/a")[2] == "l/s"  # type: ignore[index]
    assert TopicMap(rules).lookup("t/b")[2] is None  # type: ignore[index]
