"""The common batch, read typed and checked a column at a time, gives what the reading-by-
reading check gives; anything else is left to that check, which says what is wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from heatlink.quality import QUALITY_CODES
from services.ingest.checks import SeriesLimits, Writable, check_readings, check_typed
from services.ingest.decode import read_batch, read_typed

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
LIMITS = {"plant/tank/temp": SeriesLimits(1, "degC", -5.0, 40.0),
          "plant/hx/flow": SeriesLimits(2, "m3/h", 0.0, 500.0),
          "plant/hx/power": SeriesLimits(3, "kW", float("-inf"), float("inf")),
          "other/tank/temp": SeriesLimits(4, "degC", -5.0, 40.0)}
PERMITTED = frozenset({"plant/tank/temp", "plant/hx/flow", "plant/hx/power"})
GOOD_TS = ["2026-03-01T11:59:50+00:00", "2026-03-01T11:59:50Z",
           "2026-03-01T13:59:50.123456+02:00", "2026-03-01T11:00:00.5+00:00"]

good_readings = st.lists(st.fixed_dictionaries(
    {"series": st.sampled_from(sorted(PERMITTED)), "ts": st.sampled_from(GOOD_TS),
     "value": st.floats(0.0, 40.0) | st.integers(0, 40)},
    optional={"quality": st.sampled_from(["good", "uncertain", "bad", "unknown"]),
              "unit": st.none()}), max_size=30)

any_readings = st.lists(st.fixed_dictionaries(
    {"series": st.sampled_from([*LIMITS, "nowhere/x"]) | st.integers(),
     "ts": st.sampled_from([*GOOD_TS, "2026-03-01T12:10:00+00:00", "2020-01-01T00:00:00Z",
                            "2026-03-01T11:59:50", "yesterday"]) | st.floats(),
     "value": (st.floats(allow_nan=False) | st.integers() | st.booleans() | st.text()
               | st.none())},
    optional={"quality": st.sampled_from(["good", "bad", "fine", None]),
              "unit": st.sampled_from([None, "degC", "degF", "kW", "", 3])}), max_size=12)


def _both(readings: list[Any]) -> tuple[Any, Any]:
    body = json.dumps({"gateway": "gw", "batch_id": "b1", "readings": readings}).encode()
    typed = read_typed(body)
    fast = None if typed is None else check_typed(typed.readings,
                                                  Writable.of(LIMITS, PERMITTED), NOW, 300, 30)
    slow = check_readings(read_batch(body).readings, LIMITS, PERMITTED, NOW, 300, 30)
    return fast, slow


@settings(max_examples=200, derandomize=True)
@given(readings=good_readings)
def test_a_batch_of_good_readings_is_checked_by_columns_as_one_by_one(
        readings: list[dict[str, Any]]) -> None:
    fast, slow = _both(readings)
    assert fast is not None
    assert fast == slow
    assert not slow.rejected


@settings(max_examples=300, derandomize=True)
@given(readings=any_readings)
def test_a_batch_the_columns_cannot_take_whole_is_left_to_the_full_check(
        readings: list[dict[str, Any]]) -> None:
    fast, slow = _both(readings)
    assert fast is None or (fast == slow and not slow.rejected)
    if slow.rejected:
        assert fast is None


def test_a_reading_that_names_no_quality_is_good() -> None:
    # The gateway leaves `quality` out of good readings (heatlink.wire).
    fast, slow = _both([{"series": "plant/tank/temp", "ts": GOOD_TS[0], "value": 21.5},
                        {"series": "plant/tank/temp", "ts": GOOD_TS[3], "value": 22.0,
                         "quality": "bad"}])
    assert fast == slow
    assert slow.quality == [QUALITY_CODES["good"], QUALITY_CODES["bad"]]
