"""The recipient's own view first: during the demo's furnace trip the smolt farm sees its
tank's temperature, its rate of change against its limits, the time to its 10 °C floor
if HX-1 stays off, and the predicted path to the crossing; the smelter sees the farm's
limits and margin, never the farm's readings."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts.kpis import Transition, alarm_figures, exchange_figures
from heatlink.cluster.model import ThermalModel
from services.dashboard import i18n
from services.dashboard.own import dependency_time_s
from services.runtimes import runtimes_of
from tests.dashboard.axe import violations
from tests.dashboard.test_browser import ARTIFACTS, CHROMIUM, browser, open_dashboard
from tests.dashboard.trip import Trip, tripped_service, until

TANK = "glomfjord/smoltfarm/tank1"
TANK_TEMP = f"{TANK}/temp"
__all__ = ["browser"]  # the browser fixture, shared with the other Chromium tests


@pytest.fixture(scope="module")
async def trip(postgres_url: str, cluster_file: Path) -> AsyncIterator[Trip]:
    async with tripped_service(postgres_url, cluster_file) as running:
        yield running


@asynccontextmanager
async def session(trip: Trip, org: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in as the organisation's person."""
    async with trip.service.client() as client:
        username, password = trip.users[org]
        answer = await client.post("/v1/session", json={"username": username,
                                                         "password": password})
        assert answer.status_code == 200, answer.text
        yield client


async def farm_view_during_the_trip(trip: Trip) -> dict[str, Any]:
    async with session(trip, "fjordsmolt") as farm:
        async def lost() -> dict[str, Any] | None:
            view = (await farm.get("/v1/dashboard/own")).json()
            tank = next(a for a in view["assets"] if a["asset"] == TANK)
            return tank if tank["dependencies"][0]["lost_since"] else None
        tank: dict[str, Any] = await until(lost, "the farm's view showing HX-1's supply lost")
        return tank


def test_the_time_to_the_floor_is_the_domain_example_plus_the_pipe() -> None:
    # domain.md: 190 m³ at 3 m³/min from 12 °C toward 2 °C crosses 10 °C after ~14 min;
    # the 15 m³ pipe P-1 adds 5 min at 180 m³/h before the tank feels the loss.
    model = ThermalModel(volume_m3=190, inflow_m3_per_h=180, cold_water_temp_c=2.0)
    assert dependency_time_s(model, 0.0, 12.0, 10.0) == pytest.approx(14.1 * 60, abs=10)
    assert dependency_time_s(model, 15.0, 12.0, 10.0) == pytest.approx(19.1 * 60, abs=10)
    assert dependency_time_s(model, 15.0, 12.0, 10.0, elapsed_s=600) == pytest.approx(
        14.1 * 60, abs=10)  # the pipe has long run empty
    assert dependency_time_s(model, 15.0, 9.5, 10.0) == 0.0
    assert dependency_time_s(model, 15.0, 12.0, 1.0) is None  # below the cold water


async def test_the_farm_sees_its_tank_falling_and_the_time_to_its_floor(trip: Trip) -> None:
    tank = await farm_view_during_the_trip(trip)
    assert tank["series"] == TANK_TEMP
    assert 10.0 < tank["value"] < 12.5
    assert (tank["low"], tank["high"]) == (10.0, 16.0)
    # Falling faster than the 2 K/h alarm limit: the trip shows in the rate.
    assert tank["rate_k_per_h"] < -2.0
    limits = {r["severity"]: r["max_fall_per_h"] for r in tank["rate_limits"]}
    assert limits == {"warning": 1.0, "alarm": 2.0}
    hx1 = tank["dependencies"][0]
    assert (hx1["upstream"], hx1["upstream_name"]) == ("glomfjord/smelter/hx1",
                                                       "Plate exchanger HX-1")
    assert hx1["limit_c"] == 10.0
    assert 0 < hx1["time_to_limit_s"] < 19.5 * 60
    # The predicted path starts at the value now, falls, and meets 10 °C at the crossing.
    path = tank["predicted"]
    assert path[0]["value"] == pytest.approx(tank["value"], abs=0.01)
    assert all(b["value"] <= a["value"] for a, b in itertools.pairwise(path))
    crossing = datetime.fromisoformat(tank["crossing_at"])
    before = [p for p in path if datetime.fromisoformat(p["ts"]) <= crossing]
    after = [p for p in path if datetime.fromisoformat(p["ts"]) > crossing]
    assert before[-1]["value"] >= 10.0 >= after[0]["value"]


async def test_the_smelter_sees_the_farms_limits_and_margin_not_its_readings(
        trip: Trip) -> None:
    await farm_view_during_the_trip(trip)
    async with session(trip, "glomfjord-smelter") as smelter:
        answer = await smelter.get("/v1/dashboard/own")
        assert answer.status_code == 200
        view = answer.json()
        assert view["assets"] == []  # the smelter watches no temperature of its own here
        need = next(n for n in view["recipients"] if n["exchange"] == "glomfjord-smolt")
        assert need["recipient"] == "fjordsmolt"
        assert (need["low"], need["high"], need["max_rate_per_h"]) == (10.0, 16.0, 2.0)
        assert 0 < need["time_to_limit_s"] < 20 * 60
        # The tank's temperature itself stays the farm's: not in the answer, and the
        # series still answers 404 to the smelter.
        assert TANK_TEMP not in answer.text
        assert (await smelter.get(f"/v1/series/{TANK_TEMP}/readings")).status_code == 404
    async with session(trip, "fjordsmolt") as farm:
        log = (await farm.get("/v1/access-log")).json()
    assert any(e["reader_org"] == "glomfjord-smelter" and e["series"] == TANK_TEMP
               and e["door"] == "margin" for e in log)


async def test_the_facilitator_has_no_own_assets_to_show(trip: Trip) -> None:
    async with session(trip, "cluster-facilitator") as facilitator:
        view = (await facilitator.get("/v1/dashboard/own")).json()
    assert view["assets"] == []
    assert view["recipients"] == []


async def test_the_facilitators_alert_list_matches_its_graph(trip: Trip) -> None:
    # The graph shows Glomfjord in trouble during the trip: the facilitator's alert list
    # says so too (every organisation's alerts, each naming its organisation), and says
    # nothing of the Mo chain, which the graph shows normal.
    async with session(trip, "cluster-facilitator") as facilitator:
        graph = (await facilitator.get("/v1/dashboard")).json()
        listed = (await facilitator.get("/v1/alerts")).json()
        csrf = (await facilitator.get("/v1/session")).json()["csrf_token"]
        first = listed["alerts"][0]
        acting = await facilitator.post(f"/v1/alerts/{first['id']}/ack", json={},
                                        headers={"X-CSRF-Token": csrf})
    abnormal = {e["id"] for e in graph["exchanges"] if e["state"] != "normal"}
    alerted = {a["exchange"] for a in listed["alerts"] if a["exchange"]}
    assert abnormal == {"glomfjord-smolt"}
    assert alerted == abnormal
    assert {a["org"] for a in listed["alerts"]} >= {"fjordsmolt", "glomfjord-smelter"}
    assert acting.status_code == 404  # seeing is not acting for the company


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium")
@pytest.mark.parametrize(("size", "viewport", "mobile"), [
    ("desktop", {"width": 1400, "height": 1000}, False),
    ("phone", {"width": 390, "height": 844}, True)])
async def test_the_farm_sees_its_own_tank_first_during_the_trip(
        trip: Trip, browser: Any, size: str, viewport: dict[str, int], mobile: bool) -> None:
    await farm_view_during_the_trip(trip)
    page = await open_dashboard(browser, trip.service.url, trip.users["fjordsmolt"],
                                viewport=viewport, is_mobile=mobile, has_touch=mobile)
    own = page.locator(f"#own article[data-asset='{TANK}']")
    await own.wait_for()
    # Own assets come first on the page, before the alerts and the cluster.
    order = await page.evaluate(
        "[...document.querySelectorAll('main > section:not([hidden])')].map(s => s.id)")
    assert order[0] == "own", order
    temp = own.locator(".figure.temp .value")
    assert "°C" in (await temp.text_content() or "")
    rate = own.locator(".figure.rate")
    assert await rate.get_attribute("data-level") == "alarm"
    assert "K/h" in (await rate.text_content() or "")
    assert "alarm ±2.0 K/h" in (await rate.text_content() or "")
    hx1 = own.locator("li[data-exchange='glomfjord-smolt']")
    assert await hx1.get_attribute("data-lost") == "1"
    text = await hx1.text_content() or ""
    assert text.startswith("Plate exchanger HX-1 supply lost: below 10.0 °C in"), text
    assert "crosses below 10.0 °C at" in (await own.locator(".crossing").text_content() or "")
    await own.locator(".own-chart canvas").wait_for()
    # Nothing wider than the screen but the scrollable graph.
    assert await page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"trip-farm-{size}.png"), full_page=True)
    assert page.errors == []


def english_only_words() -> set[str]:
    """Words of the English catalogue that no Norwegian text uses: none may be left on a
    Norwegian page."""
    en, nb = (i18n.catalogue(lang) for lang in ("en", "nb"))
    norwegian = {w.lower() for text in nb.values() for w in re.findall(r"[A-Za-zæøåÆØÅ]+", text)}
    return {w for text in en.values() for w in re.findall(r"[A-Za-z]{3,}", text)
            if w.lower() not in norwegian}


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium")
async def test_the_trip_is_one_alarm_for_the_farm_with_what_follows_nested(
        trip: Trip, browser: Any) -> None:
    await farm_view_during_the_trip(trip)
    async with session(trip, "fjordsmolt") as farm:
        listed = (await farm.get("/v1/alerts")).json()["alerts"]
    roots = [a for a in listed if a["parent_id"] is None]
    assert len(roots) == 1, [a["title"] for a in listed]
    assert len(listed) > 1  # the band, the predicted crossing: following from the trip
    page = await open_dashboard(browser, trip.service.url, trip.users["fjordsmolt"],
                                viewport={"width": 1400, "height": 1000})
    await page.wait_for_selector("#alert-list > li")
    assert await page.locator("#alert-list > li").count() == 1
    nested = page.locator("#alert-list > li > ul.children > li")
    assert await nested.count() == len(listed) - 1
    # One acknowledgement, on the cause: what follows carries no buttons of its own.
    assert await page.locator("#alert-list > li > .actions button[data-action='ack']").count() \
        == (roots[0]["state"] == "active_unack")
    assert await nested.locator("button").count() == 0
    assert page.errors == []


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium")
async def test_the_farm_reads_the_trip_in_norwegian_and_can_switch_to_english(
        trip: Trip, browser: Any) -> None:
    await farm_view_during_the_trip(trip)
    page = await open_dashboard(browser, trip.service.url, trip.users["fjordsmolt"],
                                viewport={"width": 1400, "height": 1000}, locale="nb-NO")
    assert await page.get_attribute("html", "lang") == "nb"
    own = page.locator(f"#own article[data-asset='{TANK}']")
    await own.wait_for()
    await page.wait_for_selector("#alert-list li")
    await own.locator(".own-chart canvas").wait_for()
    assert "Dine anlegg" in (await page.text_content("#own-title") or "")
    # Numbers as Norwegians write them: a decimal comma.
    assert re.fullmatch(r"\d+,\d °C", await own.locator(".figure.temp .value").text_content()
                        or "")
    hx1 = await own.locator("li[data-exchange='glomfjord-smolt']").text_content() or ""
    assert hx1.startswith("Leveransen fra Plate exchanger HX-1 er borte: under 10,0 °C om")
    # No English left: what remains after taking out the cluster file's names (data, in
    # whatever language the cluster wrote them) uses no English-only word of the catalogue.
    text = await page.evaluate("document.body.innerText")
    for name in sorted(data_names(trip), key=len, reverse=True):
        text = text.replace(name, " ")
    left = set(re.findall(r"[A-Za-z]{3,}", text)) & english_only_words()
    assert not left, f"English left on the Norwegian page: {sorted(left)} in {text!r}"
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "trip-farm-desktop-nb.png"), full_page=True)
    # The switch: English, remembered on the next visit.
    await page.click(".lang button[data-lang='en']")
    await page.wait_for_selector("html[lang='en']")
    await page.wait_for_selector("body[data-ready='1']")
    assert "Your assets" in (await page.text_content("#own-title") or "")
    await page.reload()
    await page.wait_for_selector("body[data-ready='1']")
    assert await page.get_attribute("html", "lang") == "en"
    assert page.errors == []


def data_names(trip: Trip) -> set[str]:
    index = runtimes_of(trip.service.app).index
    names = {a.name for a in index.assets.values()}
    names |= {n[:23] + "…" for n in names}  # as the graph's nodes shorten them
    names |= {o.name for o in index.organisations.values()} | set(index.organisations)
    names |= {e.name for e in index.cluster.exchanges} | {s.id for s in index.cluster.sites}
    names |= {user for user, _ in trip.users.values()} | {"heatlink", "Oslo", "GMT", "PDF",
                                                           "CSV", "JSON", "English"}
    names.add(index.cluster.cluster.name)
    return names


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium")
async def test_the_pages_hold_their_layout_work_by_keyboard_and_pass_axe(
        trip: Trip, browser: Any) -> None:
    # The sign-in page.
    page = await (await browser.new_context(viewport={"width": 1400, "height": 900})).new_page()
    await page.goto(trip.service.url + "/")
    await page.wait_for_selector("#login-form")
    assert await violations(page) == []
    # The farm during the trip, at a desktop's width and on a phone, in both languages.
    for who, viewport, locale in (("fjordsmolt", {"width": 1400, "height": 1000}, "en-GB"),
                                  ("fjordsmolt", {"width": 390, "height": 844}, "nb-NO"),
                                  ("glomfjord-smelter", {"width": 1400, "height": 1000},
                                   "nb-NO"),
                                  ("cluster-facilitator", {"width": 1400, "height": 1000},
                                   "en-GB")):
        page = await open_dashboard(browser, trip.service.url, trip.users[who],
                                    viewport=viewport, locale=locale,
                                    is_mobile=viewport["width"] < 500)
        await page.wait_for_selector("#alert-list li, #alerts-empty:not([hidden])")
        found = await violations(page)
        assert found == [], f"{who} at {viewport['width']} px ({locale}): {found}"
        wrap = page.locator(".graph-wrap")
        widths = await wrap.evaluate("w => [w.scrollWidth, w.clientWidth]")
        if viewport["width"] >= 1400:
            # The whole cluster graph fits its panel: nothing cut off at the right edge.
            assert widths[0] <= widths[1], f"{who}: the graph needs {widths[0]} px " \
                                           f"of {widths[1]}"
        else:
            # On a phone the graph keeps legible labels and its panel scrolls instead, by
            # keyboard too (the panel takes focus).
            assert await wrap.get_attribute("tabindex") == "0"
        assert await page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        assert page.errors == []
    # The facilitator's list shows the companies' alerts, read only.
    assert await page.locator("#alert-list li").count() > 0
    assert await page.locator("#alert-list li button").count() == 0
    # The facilitator's cluster: both chains fit at 1,400 px; a node opens its exchange
    # from the keyboard.
    assert await page.locator("#graph .node").count() == 9
    hx2 = page.locator("#graph .node[data-asset='mo/smelter/hx2']")
    await hx2.focus()
    await page.keyboard.press("Enter")
    selected = page.locator("article.exchange.selected")
    assert await selected.get_attribute("data-exchange") == "mo-district-heat"
    await page.screenshot(path=str(ARTIFACTS / "trip-facilitator-desktop.png"), full_page=True)


async def test_the_journal_and_figures_tell_the_trip_afterwards(trip: Trip) -> None:
    await farm_view_during_the_trip(trip)
    async with session(trip, "fjordsmolt") as farm:
        journal = (await farm.get("/v1/alert-journal")).json()
        raised = [e for e in journal if e["event"] == "raised"]
        assert any(e["kind"] == "supply_disruption" and e["exchange"] == "glomfjord-smolt"
                   for e in raised), journal
        # Filters: only alarms on the tank (or caused there), only the smelter's exchange.
        tank = (await farm.get("/v1/alert-journal", params={"asset": TANK})).json()
        assert tank
        assert all(TANK in (e["asset"], e["cause_asset"]) for e in tank)
        alarms = (await farm.get("/v1/alert-journal", params={"severity": "alarm"})).json()
        assert alarms
        assert all(e["severity"] == "alarm" for e in alarms)
        none = (await farm.get("/v1/alert-journal",
                               params={"exchange": "mo-district-heat"})).json()
        assert none == []
        bad = await farm.get("/v1/alert-journal", params={"start": "2026-01-02T00:00:00Z",
                                                            "end": "2026-01-01T00:00:00Z"})
        assert bad.status_code == 422
        exported = await farm.get("/v1/alert-journal.csv")
        assert exported.headers["content-type"].startswith("text/csv")
        lines = exported.text.splitlines()
        assert lines[0].startswith("at,alert_id,event,")
        assert len(lines) == len(journal) + 1
        kpis = (await farm.get("/v1/alert-kpis")).json()
    assert kpis["annunciations"] == len(raised) + sum(e["event"] == "returned"
                                                      for e in journal)
    assert kpis["per_10_min_max"] >= 1
    assert kpis["standing"] == 0
    assert {t["title"] for t in kpis["top"]} <= {e["title"] for e in raised}
    hx1 = next(x for x in kpis["exchanges"] if x["exchange"] == "glomfjord-smolt")
    # One disruption, still going: the exchange was not fully available this week.
    assert hx1["disruptions"] == 1
    assert hx1["availability"] < 1.0
    assert hx1["mean_time_to_restore_s"] is None
    # Another company's alerts are not in the farm's journal, nor the farm's in theirs.
    async with session(trip, "mo-greenhouse") as greenhouse:
        assert (await greenhouse.get("/v1/alert-journal")).json() == []


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium")
async def test_the_farm_opens_its_alarm_history_on_screen(trip: Trip, browser: Any) -> None:
    await farm_view_during_the_trip(trip)
    page = await open_dashboard(browser, trip.service.url, trip.users["fjordsmolt"],
                                viewport={"width": 1400, "height": 1000})
    await page.click("#history summary")
    rows = page.locator("#journal tbody tr[data-event='raised']")
    await rows.first.wait_for()
    await page.wait_for_selector("#kpis [data-kpi='per_10_min']")
    await page.select_option("#history-filters select[name='severity']", "alarm")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#journal tbody tr')].every(r => "
        "r.dataset.severity === 'alarm') && document.querySelector('#journal tbody tr') !== null")
    assert "severity=alarm" in (await page.get_attribute("#history-csv", "href") or "")
    assert await violations(page) == []
    assert page.errors == []


def test_alarm_figures_count_floods_chatter_and_fleeting_alarms() -> None:
    start = datetime(2026, 1, 15, 6, tzinfo=UTC)
    at = [start + timedelta(seconds=s) for s in range(0, 3600, 5)]
    rows = [Transition(at[i], 1, "raised" if i % 2 == 0 else "cleared", "chatty", "Chatty")
            for i in range(12)]  # on and off every 5 s: chattering, and fleeting each time
    rows += [Transition(at[200 + i], 10 + i, "raised", f"k{i}", f"Flood {i}")
             for i in range(11)]  # 11 different alarms in one minute: a flood
    rows.sort(key=lambda r: r.at)
    figures = alarm_figures(rows, start, start + timedelta(hours=1))
    assert figures.annunciations == 6 + 11
    assert figures.per_10_min_max == 11
    assert figures.flood_share == pytest.approx(1 / 6)
    assert figures.chattering == [1]
    assert figures.fleeting == 6
    assert figures.top[0] == ("Chatty", 6)
    down = exchange_figures([(start, start + timedelta(minutes=30)),
                             (start + timedelta(minutes=10), start + timedelta(minutes=20))],
                            start, start + timedelta(hours=1))
    assert down.availability == pytest.approx(0.5)  # overlapping alerts count once
    assert down.disruptions == 1  # ... as one disruption, restored after 30 minutes
    assert down.mean_time_to_restore_s == pytest.approx(30 * 60)
