"""Worked cases of the hourly figures, through ingest and the energy API of a running service
on the example cluster (exchange glomfjord-smolt: the smelter's register meter HM-1 bills,
the farm's computed meter HM-2 checks). January 2026 is open: the clock stands on the 20th."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from heatlink.testing import FakeClock
from services.accounting.metered import measure
from services.accounting.service import resource_points
from services.accounting.statement import content_hash
from services.runtimes import runtimes_of
from tests.accounting.support import (
    EXCHANGE,
    FACILITATOR,
    HM1,
    HM2,
    POWER_KW,
    RECIPIENT,
    SUPPLIER,
    THIRD,
    Accounting,
    accounting_service,
    meter,
    register,
    utc,
)

NOW = utc(2026, 1, 20, 0, 0)
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
async def acc(postgres_url: str) -> AsyncIterator[Accounting]:
    async with accounting_service(postgres_url, FakeClock(NOW)) as handle:
        yield handle


def heat(hour: dict[str, object]) -> dict[str, object]:
    entry = hour["heat"]
    assert isinstance(entry, dict)
    return entry


async def test_a_constant_power_for_24_hours_gives_p_times_24_hours(acc: Accounting) -> None:
    day = utc(2026, 1, 2)
    await acc.send(meter(HM1, day, day + timedelta(days=1)) + meter(HM2, day, day + timedelta(
        days=1)) + register(day, day + timedelta(days=1), 1_000_000.0))
    # In the database: ∫ρ·V̇·cp·ΔT with the water table passed into the query equals
    # heatlink.water's P·24 h to within floating-point error.
    exchange = runtimes_of(acc.handle.app).index.cluster.exchanges[0]
    _, _, farm_meter = resource_points(exchange)[0]
    assert farm_meter is not None
    hours = [day + timedelta(hours=h) for h in range(24)]
    found = await measure(runtimes_of(acc.handle.app).pool, farm_meter, hours, 0.9,
                          runtimes_of(acc.handle.app).features.timescaledb)
    total = sum(h.value or 0.0 for h in found.values())
    assert total == pytest.approx(POWER_KW * 24, rel=1e-12)
    # Through the API, both meters agree hour by hour and the day sums to P·24 h.
    figures = await acc.energy(SUPPLIER, day, day + timedelta(days=1))
    assert len(figures) == 24
    assert all(heat(h)["verdict"] == "agreed" for h in figures)
    settled = sum(float(heat(h)["settled"]) for h in figures)  # type: ignore[arg-type]
    assert settled == pytest.approx(POWER_KW * 24, abs=24 * 0.0005 + 1e-6)
    farm = sum(float(heat(h)["meters"]["farm-hm2"]["value"]) for h in figures)  # type: ignore[index]
    assert farm == pytest.approx(POWER_KW * 24, abs=24 * 0.0005)
    water = sum(float(h["cooling_water"]["settled"]) for h in figures)  # type: ignore[index]
    assert water == pytest.approx(350.0 * 24)


async def test_two_meters_that_agree_and_two_that_do_not(acc: Accounting) -> None:
    day = utc(2026, 1, 3)
    await acc.send(meter(HM1, day, day + timedelta(hours=4))
                   + register(day, day + timedelta(hours=4), 2_000_000.0)
                   # the farm's flow sensor reads 3 % high for two hours, then 10 % high
                   + meter(HM2, day, day + timedelta(hours=2), flow=350.0 * 1.03)
                   + meter(HM2, day + timedelta(hours=2), day + timedelta(hours=4),
                           flow=350.0 * 1.10))
    figures = await acc.energy(RECIPIENT, day, day + timedelta(hours=4))
    # EN 1434 class 2 at q = 350 of qp = 400 and ΔΘ = 17 K: about ±3.7 % per meter.
    assert [heat(h)["verdict"] for h in figures] == ["agreed", "agreed", "disputed", "disputed"]
    first = heat(figures[0])
    assert float(first["uncertainty"]) == pytest.approx(POWER_KW * 0.0373, rel=0.01)  # type: ignore[arg-type]
    # Both parties and the facilitator see the same verdicts.
    assert await acc.energy(SUPPLIER, day, day + timedelta(hours=4)) == figures
    assert await acc.energy(FACILITATOR, day, day + timedelta(hours=4)) == figures
    # A party comments on a disputed hour; an agreed hour takes no comment.
    async with acc.client(RECIPIENT) as client:
        disputed = await client.post(f"/v1/exchanges/{EXCHANGE}/comments", json={
            "hour": figures[2]["hour"], "text": "our HM-2 was serviced; please check HM-1"})
        agreed = await client.post(f"/v1/exchanges/{EXCHANGE}/comments", json={
            "hour": figures[0]["hour"], "text": "fine"})
    assert disputed.status_code == 201, disputed.text
    assert agreed.status_code == 409
    assert "not disputed" in agreed.json()["detail"]
    async with acc.client("recipient-read-only") as client:
        r = await client.post(f"/v1/exchanges/{EXCHANGE}/comments", json={
            "hour": figures[2]["hour"], "text": "x"})
    assert r.status_code == 403
    assert "settle" in r.json()["detail"]
    async with acc.client(FACILITATOR) as client:
        r = await client.post(f"/v1/exchanges/{EXCHANGE}/comments", json={
            "hour": figures[2]["hour"], "text": "x"})
    assert r.status_code == 403
    async with acc.client(SUPPLIER) as client:
        audit = (await client.get(f"/v1/exchanges/{EXCHANGE}/accounting-audit")).json()
    assert [(a["org"], a["action"]) for a in audit][:1] == [(RECIPIENT, "comment_added")]


async def test_a_gap_is_filled_by_each_substitution_rule(acc: Accounting) -> None:
    start, end = utc(2026, 1, 5), utc(2026, 1, 14)
    holes = {
        # HM-1's register alone is silent for an hour: the farm's meter stands in.
        "other_meter": [(utc(2026, 1, 6, 10), utc(2026, 1, 6, 11), ("register",))],
        # Both meters are silent for two hours: the straight line between their neighbours.
        "linear": [(utc(2026, 1, 7, 10), utc(2026, 1, 7, 12), ("register", "hm1", "hm2"))],
        # Five silent hours are too long to interpolate: the same hours a week before.
        "same_hour_last_week": [(utc(2026, 1, 13, 12), utc(2026, 1, 13, 17),
                                 ("register", "hm1", "hm2"))],
    }
    readings = meter(HM1, start, end) + meter(HM2, start, end) + register(start, end, 3e6)

    def silenced(r: dict[str, object]) -> bool:
        for (a, b, parts) in (h for hs in holes.values() for h in hs):
            keys = {*(([HM1["register"]]) if "register" in parts else []),
                    *((HM1[k] for k in ("flow", "temp_in", "temp_out")) if "hm1" in parts
                      else ()), *(HM2.values() if "hm2" in parts else ())}
            if r["series"] in keys and a.isoformat() <= str(r["ts"]) < b.isoformat():
                return True
        return False

    await acc.send([r for r in readings if not silenced(r)])
    for method, gaps in holes.items():
        for a, b, _ in gaps:
            figures = await acc.energy(SUPPLIER, a, b)
            assert figures, method
            for hour in figures:
                entry = heat(hour)
                assert entry["substitution"] == {"method": method, "rule_version": 1}, hour
                assert float(entry["settled"]) == pytest.approx(POWER_KW, rel=1e-4)  # type: ignore[arg-type]
                assert entry["meters"]["smelter-hm1"]["value"] is None  # type: ignore[index]
    async with acc.client(SUPPLIER) as client:
        statement = (await client.get(f"/v1/exchanges/{EXCHANGE}/statements/2026-01")).json()
    heat_summary = next(r for r in statement["resources"] if r["resource"] == "heat")
    # Hours with no readings at all elsewhere in the month are filled too, up to the cap
    # of 25 % of the month's 744 hours.
    by_method = heat_summary["substituted_by_method"]
    assert set(by_method) == {"linear", "other_meter", "same_hour_last_week"}
    assert heat_summary["substituted_hours"] == sum(by_method.values()) <= 186
    assert heat_summary["substitution_cap_hours"] == 186
    assert statement["substitution_rule"]["version"] == 1
    assert statement["status"] == "open"
    assert statement["content_sha256"] == content_hash(statement)


async def test_late_readings_reopen_an_hour(acc: Accounting) -> None:
    day = utc(2026, 1, 15)
    full = meter(HM1, day, day + timedelta(hours=6)) + meter(HM2, day, day + timedelta(
        hours=6)) + register(day, day + timedelta(hours=6), 4e6)
    late_from, late_to = (day + timedelta(hours=3)).isoformat(), (day + timedelta(
        hours=5)).isoformat()
    late = [r for r in full if late_from <= str(r["ts"]) < late_to]
    await acc.send([r for r in full if r not in late])
    before = await acc.energy(RECIPIENT, day, day + timedelta(hours=6))
    assert heat(before[3])["substitution"] == {"method": "linear", "rule_version": 1}
    assert heat(before[3])["meters"]["smelter-hm1"]["value"] is None  # type: ignore[index]
    # The gateway drains its buffer: the hours are measured now, no longer substituted.
    await acc.send(late)
    after = await acc.energy(RECIPIENT, day, day + timedelta(hours=6))
    assert heat(after[3])["substitution"] is None
    assert float(heat(after[3])["meters"]["smelter-hm1"]["value"]) == pytest.approx(  # type: ignore[index]
        POWER_KW, rel=1e-6)
    assert after[0] == before[0]


async def test_a_register_rollover_and_a_reset(acc: Accounting) -> None:
    day = utc(2026, 1, 16)
    # Eight digits wrap half-way through the first hour.
    await acc.send(register(day, day + timedelta(hours=2), 1e8 - POWER_KW / 2, wrap_at=1e8))
    figures = await acc.energy(SUPPLIER, day, day + timedelta(hours=2))
    first = heat(figures[0])["meters"]["smelter-hm1"]  # type: ignore[index]
    assert "register_rollover" in first["flags"]
    assert first["value"] == pytest.approx(POWER_KW, rel=1e-6)
    # A replaced calculator starts again from zero at 05:30.
    reset_day = utc(2026, 1, 17)
    await acc.send(register(reset_day + timedelta(hours=5),
                            reset_day + timedelta(hours=5, minutes=30), 5e6)
                   + register(reset_day + timedelta(hours=5, minutes=30),
                              reset_day + timedelta(hours=7), 0.0))
    figures = await acc.energy(SUPPLIER, reset_day + timedelta(hours=5),
                               reset_day + timedelta(hours=7))
    hm1 = [heat(h)["meters"]["smelter-hm1"] for h in figures]  # type: ignore[index]
    assert "register_reset" in hm1[0]["flags"]
    # The minute in which the reset fell is unknown; the rest of the hour is counted.
    assert POWER_KW * 58 / 60 < hm1[0]["value"] < POWER_KW
    assert hm1[1]["value"] == pytest.approx(POWER_KW, rel=1e-6)


async def test_a_third_company_is_answered_404(acc: Accounting) -> None:
    day = utc(2026, 1, 2)
    async with acc.client(THIRD) as client:
        energy = await client.get(f"/v1/exchanges/{EXCHANGE}/energy",
                                  params={"start": day.isoformat(),
                                          "end": (day + timedelta(hours=1)).isoformat()})
        statement = await client.get(f"/v1/exchanges/{EXCHANGE}/statements/2026-01")
        unknown = await client.get("/v1/exchanges/no-such/statements/2026-01")
    assert energy.status_code == statement.status_code == unknown.status_code == 404
    assert energy.json()["detail"].replace(EXCHANGE, "X") == unknown.json()["detail"].replace(
        "no-such", "X")


async def test_bad_requests_say_what_is_wrong(acc: Accounting) -> None:
    async with acc.client(SUPPLIER) as client:
        month = await client.get(f"/v1/exchanges/{EXCHANGE}/statements/2026-13")
        step = await client.get(f"/v1/exchanges/{EXCHANGE}/energy", params={"step": "5m"})
        naive = await client.get(f"/v1/exchanges/{EXCHANGE}/energy",
                                 params={"start": "2026-01-02T00:00:00"})
    assert month.status_code == 422
    assert "YYYY-MM" in month.json()["detail"]
    assert step.status_code == 422
    assert "step=1h" in step.json()["detail"]
    assert naive.status_code == 422
    assert "UTC offset" in naive.json()["detail"]
