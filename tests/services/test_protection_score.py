"""The protection benchmark's scoring (bench.protection_score), on worked cases: what
counts as warned, missed and late, what a lead fraction is, which pages are false."""

from __future__ import annotations

from typing import Any

import pytest

from bench.protection_score import Page, Seen, score

TANK = "glomfjord/smoltfarm/tank1/temp"
SUPPLY = "glomfjord/smelter/hx1/secondary/supply_temp"
WATCHED = frozenset({TANK, SUPPLY})


def injected(kind: str, at_s: float) -> dict[str, Any]:
    return {"category": "injected", "kind": kind, "sim_s": at_s, "series": None, "detail": {}}


def limit(kind: str, at_s: float, series: str = TANK, rate: float = 0.0) -> dict[str, Any]:
    return {"category": "limit", "kind": kind, "sim_s": at_s, "series": series,
            "detail": {"rate_k_per_h": rate}}


TRUTH = [injected("trip", 3600), limit("below_min", 4764),
         limit("ramp_exceeded", 3788, rate=-2.08), injected("restart", 10800),
         limit("ramp_exceeded", 11332, rate=2.0)]


def test_a_warning_in_the_right_direction_counts_with_its_lead_fraction() -> None:
    seen = [Seen(3640, TANK, "predicted_low"), Seen(3620, TANK, "predicted_falling"),
            Seen(10920, TANK, "predicted_rising")]
    result = score(TRUTH, seen, [], WATCHED, 21600)
    assert result.breaches == 3
    assert result.missed == []
    # (4764 - 3640) / (4764 - 3600); (3788 - 3620) / 188; (11332 - 10920) / 532
    assert sorted(result.leads) == pytest.approx(sorted([1124 / 1164, 168 / 188, 412 / 532]))


def test_a_decline_of_hours_counts_the_last_hour_as_the_time_available() -> None:
    # A decline from the run's start crosses 13 h later: warned 45 min ahead is 0.75 of the
    # hour a recipient needs, not 0.06 of the 13 h; warned two hours ahead is all of it.
    truth = [injected("decline_start", 0), limit("below_min", 46_922, SUPPLY),
             limit("below_min", 79_094)]
    seen = [Seen(46_922 - 2700, SUPPLY, "predicted_low"),
            Seen(79_094 - 7200, TANK, "predicted_low")]
    result = score(truth, seen, [], WATCHED, 86_400)
    assert sorted(result.leads) == pytest.approx([0.75, 1.0])
    # A trip's crossing keeps the whole time since the trip.
    assert score(TRUTH, [Seen(3700, TANK, "predicted_low")], [], WATCHED, 21_600
                 ).leads == pytest.approx([(4764 - 3700) / 1164])


def test_a_warning_the_other_way_or_too_late_is_a_miss() -> None:
    seen = [Seen(3620, TANK, "predicted_rising"),  # the wrong direction for the fall
            Seen(4764 + 700, TANK, "low"),  # past the detection allowance
            Seen(11400, TANK, "rising")]  # after the crossing but in time: lead 0
    result = score(TRUTH, seen, [], WATCHED, 21600)
    assert len(result.missed) == 2
    assert result.leads == [0.0]


def test_pages_outside_any_episode_are_false_and_pages_are_counted_per_recipient() -> None:
    pages = [Page(3660, "fjordsmolt", "raised", "trip"),
             Page(10980, "fjordsmolt", "symptom_escalated", "rewarming"),
             Page(2000, "fjordsmolt", "raised", "before anything happened")]
    result = score(TRUTH, [], pages, WATCHED, 21600)
    assert result.pages == {"fjordsmolt": 3}
    assert result.episodes == 2  # the trip and the restart
    assert [p.split(":")[1].strip() for p in result.false_pages] == [
        "before anything happened"]


def test_crossings_on_series_no_rule_watches_are_not_scored() -> None:
    truth = [injected("trip", 0), limit("below_min", 100, series="mo/x/y")]
    result = score(truth, [], [], WATCHED, 3600)
    assert (result.breaches, result.unwatched) == (0, 1)
