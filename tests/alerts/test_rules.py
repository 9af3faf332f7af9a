"""Pure parts: the thermal model, the lifecycle, severity, topology impact, flood control."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts import flood, impact, lifecycle
from alerts.model import AlertState, Draft, Role, Severity
from alerts.severity import severity_for
from alerts.thermal import time_to_impact_s, time_to_limit_s
from heatlink.backoff import Backoff
from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.loader import EXAMPLE_CLUSTER, load_cluster
from tests.alerts.support import HX1_POWER, T0, TANK_TEMP, finding, trip

INDEX = ClusterIndex(load_cluster(EXAMPLE_CLUSTER))
A = AlertState


@pytest.mark.parametrize(("t0", "t_inf", "limit", "tau_s", "expected"), [
    # domain.md: 190 m³ at 3 m³/min (τ 63 min), 12 → 10 °C toward 2 °C: about 14 minutes.
    (12.0, 2.0, 10.0, 3800.0, 3800.0 * math.log(10 / 8)),
    (9.0, 2.0, 10.0, 3800.0, 0.0),  # already below the limit
    (12.0, 11.0, 10.0, 3800.0, None),  # the raw water alone keeps it above the limit
    (14.0, 25.0, 16.0, 3600.0, 3600.0 * math.log(11 / 9)),  # over-heating toward 25 °C
    (12.0, 12.0, 10.0, 3600.0, None),  # nothing moves
])
def test_time_to_limit_worked_cases(t0: float, t_inf: float, limit: float, tau_s: float,
                                    expected: float | None) -> None:
    got = time_to_limit_s(t0, t_inf, limit, tau_s)
    assert got == (None if expected is None else pytest.approx(expected))


@given(t0=st.floats(5, 20), t_inf=st.floats(-1, 4), gap=st.floats(0.1, 0.9),
       tau_s=st.floats(60, 1e6))
def test_time_to_limit_is_consistent_with_the_curve(t0: float, t_inf: float, gap: float,
                                                   tau_s: float) -> None:
    limit = t_inf + gap * (t0 - t_inf)
    t = time_to_limit_s(t0, t_inf, limit, tau_s)
    assert t is not None
    assert t >= 0
    # Following the first-order curve for that long lands on the limit.
    assert t_inf + (t0 - t_inf) * math.exp(-t / tau_s) == pytest.approx(limit, abs=1e-6)


def test_time_to_impact_adds_the_pipe_delay() -> None:
    got = time_to_impact_s(pipe_volume_m3=15, volume_m3=190, inflow_m3_per_h=180, t0_c=12,
                           t_inf_c=2, limit_c=10)
    assert got == pytest.approx(300 + 3800 * math.log(10 / 8))


@pytest.mark.parametrize(("finding_severity", "tti", "expected"), [
    ("warning", None, Severity.WARNING),
    ("alarm", None, Severity.ALARM),
    ("warning", 900.0, Severity.ALARM),  # a limit a quarter of an hour away is an alarm
    ("warning", 6 * 3600.0, Severity.WARNING),
])
def test_severity(finding_severity: str, tti: float | None, expected: Severity) -> None:
    assert severity_for(finding_severity, tti) is expected


def _draft(active: bool, severity: Severity = Severity.WARNING, condition: str = "low") -> Draft:
    return Draft("k", "org", Role.OWNER, "band", condition, active, severity, "t")


@pytest.mark.parametrize(("state", "draft", "event", "to_state"), [
    (None, _draft(True), "raised", A.ACTIVE_UNACK),
    (A.NORMAL, _draft(True), "raised", A.ACTIVE_UNACK),
    (A.CLEARED_UNACK, _draft(True), "returned", A.ACTIVE_UNACK),
    (A.ACTIVE_ACK, _draft(True, Severity.ALARM), "severity_raised", A.ACTIVE_UNACK),
    (A.ACTIVE_ACK, _draft(True, condition="predicted_low"), "updated", A.ACTIVE_ACK),
    (A.ACTIVE_UNACK, _draft(False), "cleared", A.CLEARED_UNACK),
    (A.ACTIVE_ACK, _draft(False), "cleared", A.NORMAL),
])
def test_lifecycle_on_findings(state: AlertState | None, draft: Draft, event: str,
                               to_state: AlertState) -> None:
    change = lifecycle.on_draft(state, Severity.WARNING, "low", draft)
    assert change is not None
    assert (change.event, change.to_state) == (event, to_state)


def test_lifecycle_ignores_news_that_is_not() -> None:
    assert lifecycle.on_draft(A.ACTIVE_UNACK, Severity.WARNING, "low", _draft(True)) is None
    assert lifecycle.on_draft(A.NORMAL, None, None, _draft(False)) is None
    assert lifecycle.on_ack(A.ACTIVE_ACK) is None
    assert lifecycle.on_ack(A.CLEARED_UNACK) == lifecycle.Change("acknowledged",
                                                                 A.CLEARED_UNACK, A.NORMAL,
                                                                 False)


def _by_org(items: list[Draft]) -> dict[str, Draft]:
    return {d.org: d for d in items}


def test_trip_reaches_recipient_and_supplier() -> None:
    drafts = _by_org(impact.drafts(INDEX, trip(), {TANK_TEMP: 12.0}))
    assert set(drafts) == {"fjordsmolt", "glomfjord-smelter"}
    farm = drafts["fjordsmolt"]
    assert (farm.role, farm.asset, farm.cause_asset) == (Role.RECIPIENT,
                                                         "glomfjord/smoltfarm/tank1",
                                                         "glomfjord/smelter/hx1")
    assert farm.time_to_impact_s == pytest.approx(300 + 3800 * math.log(10 / 8))
    assert drafts["glomfjord-smelter"].role is Role.SUPPLIER


def test_disruption_at_mo_cascades_down_to_the_greenhouse() -> None:
    f = finding("hx2-disruption", "mo/smelter/hx2/secondary/power", "disrupted",
                owner="mo-ferrosilicon")
    drafts = _by_org(impact.drafts(INDEX, f, {}))
    assert set(drafts) == {"mo-ferrosilicon", "mo-fjernvarme", "mo-greenhouse"}
    greenhouse = drafts["mo-greenhouse"]
    assert greenhouse.role is Role.RECIPIENT
    assert greenhouse.asset == "mo/greenhouse/house1"
    assert greenhouse.detail["contingency"] == ["Close thermal screens",
                                                "Start the greenhouse's gas heater"]
    assert "Mo Ferrosilicon" in greenhouse.title
    # The greenhouse has no contract with the smelter: told what happened, not its values.
    assert greenhouse.series is None
    assert "value" not in greenhouse.detail
    district = drafts["mo-fjernvarme"]  # the contract shares the exchanger's power with it
    assert district.series == "mo/smelter/hx2/secondary/power"
    assert "value" in district.detail


def test_recipient_that_cannot_take_heat_tells_the_supplier() -> None:
    f = finding("tank1-intake", "glomfjord/smoltfarm/tank1/inflow", "low", kind="band",
                owner="fjordsmolt")
    drafts = _by_org(impact.drafts(INDEX, f, {}))
    assert set(drafts) == {"fjordsmolt", "glomfjord-smelter"}
    supplier = drafts["glomfjord-smelter"]
    assert (supplier.kind, supplier.role) == ("intake_closed", Role.SUPPLIER)
    assert "cannot take the heat" in supplier.title


@pytest.mark.parametrize(("f", "orgs"), [
    # A symptom on the farm's own tank concerns the farm only, grouped under any root cause.
    (finding("tank1-band", TANK_TEMP, "low", kind="band", owner="fjordsmolt"),
     {"fjordsmolt"}),
    # A sensor gone quiet is a data problem, told to the owners only.
    (finding("hx1-stale", "glomfjord/smelter/hx1/primary/supply_temp", "unknown",
             kind="stale"), {"glomfjord-smelter"}),
    (finding("greenhouse-band", "mo/greenhouse/house1/air_temp", "low", kind="band",
             owner="mo-greenhouse"), {"mo-greenhouse"}),
])
def test_owner_only_findings(f: object, orgs: set[str]) -> None:
    from heatlink.findings import Finding

    assert isinstance(f, Finding)
    drafts = impact.drafts(INDEX, f, {})
    assert {d.org for d in drafts} == orgs
    if f.rule_id == "tank1-band":
        assert drafts[0].symptom_of_upstream


def test_clearing_reaches_the_same_organisations() -> None:
    cleared = finding("hx1-disruption", HX1_POWER, "ok", previous="disrupted")
    assert {d.org for d in impact.drafts(INDEX, cleared, {})} == {"fjordsmolt",
                                                                   "glomfjord-smelter"}
    assert not any(d.active for d in impact.drafts(INDEX, cleared, {}))


def test_example_subscriptions_name_known_organisations() -> None:
    assert INDEX.cluster.subscriptions
    assert {s.org for s in INDEX.cluster.subscriptions} <= set(INDEX.organisations)


def test_flood_rules() -> None:
    assert flood.first_attempt_at(T0, None, 30) == T0
    assert flood.first_attempt_at(T0, T0 - timedelta(seconds=10), 30) == T0 + timedelta(
        seconds=20)
    sends = [T0 - timedelta(minutes=m) for m in (50, 40, 5)]
    assert flood.rate_limit_release(T0, sends, 4) is None
    assert flood.rate_limit_release(T0, sends, 3) == T0 + timedelta(minutes=10)
    assert flood.group_key(["a"]) == "a"
    assert flood.group_key(["b", "a"]) == flood.group_key(["a", "b"])
    assert [Backoff(5, 60).ceiling_s(n) for n in (1, 2, 3, 4, 5)] == [5, 10, 20, 40, 60]
