"""The dashboard in Debian's Chromium against a running service fed by the simulated plant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from heatlink.findings import Finding
from services.access.principal import Role
from services.runtimes import runtimes_of
from tests.dashboard.plant import ReplayedPlant
from tests.support.chromium import CHROMIUM, launched_chromium
from tests.support.service import AppHandle, make_token, make_user

ARTIFACTS = Path(__file__).parent / "artifacts"
SUPPLY = "glomfjord/smelter/hx1/secondary/supply_temp"
PRIVATE = "glomfjord/smelter/hx1/primary/supply_temp"
FLOW = "glomfjord/smelter/hx1/secondary/flow"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's Chromium: apt-get install chromium")


@pytest.fixture(scope="module")
async def plant(live_service: AppHandle, database_url: str) -> AsyncIterator[dict[str, Any]]:
    """The simulated plant's last ten minutes stored, and a way to send its next sample."""
    tokens = {gw: await make_token(database_url, owner, Role.GATEWAY, gateway=gw)
              for gw, owner in (("glomfjord-gw1", "glomfjord-smelter"),
                                ("mo-gw1", "mo-ferrosilicon"))}
    clients = {gw: live_service.client(token) for gw, token in tokens.items()}
    replay = ReplayedPlant()
    await replay.send_history(clients)
    yield {"replay": replay, "clients": clients}
    for client in clients.values():
        await client.aclose()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with launched_chromium() as launched:
        yield launched


async def open_dashboard(browser: Any, url: str, login: tuple[str, str], *,
                         without_alerts: bool = False, **context: Any) -> Any:
    """The dashboard in a new browser context, logged in as ``login`` (username,
    password) through the page's sign-in form."""
    opened_context = await browser.new_context(**context)
    # Log-in (argon2id), page and stream take seconds on a loaded machine, not 30.
    opened_context.set_default_timeout(60_000)
    page = await opened_context.new_page()
    if without_alerts:  # a service built without the alert part: its endpoints are 404
        for path in ("**/v1/alerts", "**/v1/maintenance"):
            await page.route(path, lambda route: route.fulfill(status=404, json={
                "detail": "Not Found"}))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The service's Content-Security-Policy must not block any part of the page.
    page.on("console", lambda msg: errors.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    page.errors = errors
    opened = await page.goto(url + "/")
    assert "frame-ancestors 'none'" in (await opened.header_value("content-security-policy")
                                        or "")
    await page.fill("#username", login[0])
    await page.fill("#password", login[1])
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("body[data-ready='1']")
    await page.wait_for_selector("#live.on")
    return page


async def test_the_dashboard_shows_live_values_that_change(
        live_service: AppHandle, org_users: dict[str, tuple[str, str]], plant: dict[str, Any],
        browser: Any) -> None:
    page = await open_dashboard(browser, live_service.url, org_users["cluster-facilitator"],
                                viewport={"width": 1500, "height": 1300})
    cells = {key: f"td[data-series='{key}']" for key in (SUPPLY, FLOW)}
    shown = {key: [await page.text_content(cell)] for key, cell in cells.items()}
    for _ in range(3):
        sent = {r.series: r.value for r in await plant["replay"].send_next(plant["clients"])}
        # The page shows the new values without reloading.
        for key, cell in cells.items():
            await page.wait_for_function(
                "([sel, v]) => Number(document.querySelector(sel).dataset.value) === v",
                arg=[cell, sent[key]])
            shown[key].append(await page.text_content(cell))
    assert all(text and "°C" in text for text in shown[SUPPLY])
    # The flow meter's noise shows at the displayed resolution: the number moves.
    assert len(set(shown[FLOW])) > 1, f"values did not change: {shown}"
    # Every asset of the running plant is coloured; the Glomfjord exchange is in its band.
    smolt = page.locator("article[data-exchange='glomfjord-smolt']")
    assert await smolt.get_attribute("data-state") == "normal"
    assert await page.locator("#graph .node").count() == 9
    assert "MW" in (await smolt.locator(".power-value").text_content() or "")
    await page.wait_for_selector("article[data-exchange='glomfjord-smolt'] .chart canvas")
    # The facilitator's list: every company's alerts raised on this service so far, none
    # its own to act on.
    await page.wait_for_selector("#alert-list li, #alerts-empty:has-text('No active alerts')")
    assert await page.locator("#alert-list button").count() == 0
    # Times are the cluster's: the header clock names Oslo.
    assert "Oslo" in (await page.text_content("#clock") or "")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard-facilitator.png"), full_page=True)
    assert page.errors == []


async def test_a_recipient_sees_the_shared_side_only_on_a_phone(
        live_service: AppHandle, org_users: dict[str, tuple[str, str]], plant: dict[str, Any],
        browser: Any) -> None:
    page = await open_dashboard(browser, live_service.url, org_users["fjordsmolt"],
                                viewport={"width": 390, "height": 844}, is_mobile=True,
                                has_touch=True, without_alerts=True)
    # Without the alert endpoints the panels stay hidden rather than showing an error.
    assert await page.locator("#alerts").is_hidden()
    assert await page.locator("#maintenance").is_hidden()
    card = page.locator("article[data-exchange='glomfjord-smolt']")
    assert await card.locator(f"td[data-series='{SUPPLY}']").count() == 1
    assert await page.locator(f"td[data-series='{PRIVATE}']").count() == 0
    assert "not shared" in (await card.locator("tr.primary").text_content() or "")
    assert await page.locator("article[data-exchange='mo-district-heat']").count() == 0
    # Nothing wider than the phone's screen but the scrollable graph.
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard-phone-recipient.png"), full_page=True)
    assert page.errors == []


async def test_a_wrong_password_is_asked_for_again(
        live_service: AppHandle, org_users: dict[str, tuple[str, str]], browser: Any) -> None:
    page = await (await browser.new_context()).new_page()
    await page.goto(live_service.url + "/")
    await page.fill("#username", org_users["fjordsmolt"][0])
    await page.fill("#password", "not the password")
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#login-error:has-text('wrong password')")
    assert await page.locator("#main").is_hidden()


async def test_an_operator_acknowledges_an_alert_and_sees_its_state_change(
        live_service: AppHandle, database_url: str, plant: dict[str, Any],
        browser: Any) -> None:
    operator = await make_user(database_url, "fjordsmolt", Role.OPERATOR)
    page = await open_dashboard(browser, live_service.url, operator,
                                viewport={"width": 1500, "height": 1100})
    # What the monitor would hand over when the supply temperature falls out of its band.
    now = datetime.now(UTC)
    await runtimes_of(live_service.app).alerts.service.findings([Finding(
        rule_id="supply-band-low", rule_version=1, kind="threshold", series=SUPPLY,
        owner="glomfjord-smelter", severity="alarm", state="low", previous_state="ok",
        ts=now, since_ts=now - timedelta(seconds=60), detected_at=now, late=False,
        value=12.5, slope_per_h=-4.0, predicted_time_to_limit_s=None,
        detail="supply below the 14 °C band")])
    alert = page.locator("#alert-list li[data-state='active_unack']").first
    await alert.wait_for()  # shown live: the alert event arrives on the stream
    await alert.locator("button[data-action='ack']").click()
    acked = page.locator("#alert-list li[data-state='active_ack']").first
    await acked.wait_for()
    # Its own state: an alert the live plant raised meanwhile may be grouped under it,
    # with a state of its own inside the same item.
    assert "acknowledged" in (await acked.locator(":scope > .state").text_content() or "")
    assert await acked.locator("button[data-action='ack']").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard-alert-acknowledged.png"),
                          full_page=True)
    assert page.errors == []


async def test_an_announced_maintenance_shows_as_a_planned_outage(
        live_service: AppHandle, org_tokens: dict[str, str],
        org_users: dict[str, tuple[str, str]], plant: dict[str, Any], browser: Any) -> None:
    now = datetime.now(UTC)
    async with live_service.client(org_tokens["mo-fjernvarme"]) as supplier:
        response = await supplier.post("/v1/maintenance", json={
            "exchange": "mo-greenhouse", "starts_at": (now - timedelta(minutes=1)).isoformat(),
            "ends_at": (now + timedelta(hours=2)).isoformat(),
            "reason": "valve replacement on HX-3"})
    assert response.status_code == 201, response.text
    try:
        page = await open_dashboard(browser, live_service.url, org_users["mo-greenhouse"],
                                    viewport={"width": 1200, "height": 900})
        card = page.locator("article[data-exchange='mo-greenhouse']")
        assert await card.get_attribute("data-state") == "planned_outage"
        node = page.locator("#graph .node[data-asset='mo/fjernvarme/hx3']")
        assert await node.get_attribute("data-state") == "planned_outage"
        window = page.locator("#maintenance-list li[data-exchange='mo-greenhouse']")
        assert "valve replacement" in (await window.text_content() or "")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard-planned-outage.png"),
                              full_page=True)
        assert page.errors == []
    finally:
        # The service is the session's: a window left open would hold back the alerts
        # of the Mo exchanges in every later test (there is no API to end one early).
        await runtimes_of(live_service.app).pool.execute(
            "UPDATE maintenance_windows SET cancelled_at = now() WHERE reason = $1",
            "valve replacement on HX-3")


async def test_a_person_signs_in_and_out_in_the_browser(
        live_service: AppHandle, org_users: dict[str, tuple[str, str]], browser: Any) -> None:
    page = await open_dashboard(browser, live_service.url, org_users["fjordsmolt"],
                                viewport={"width": 1200, "height": 900})
    assert org_users["fjordsmolt"][0] in (await page.text_content("#org") or "")
    # The cookie is out of the page's scripts' reach.
    assert "heatlink_session" not in await page.evaluate("document.cookie")
    cookies = await page.context.cookies()
    session = next(c for c in cookies if c["name"] == "heatlink_session")
    assert session["httpOnly"]
    assert session["sameSite"] == "Strict"
    # A reload keeps the session; signing out ends it.
    await page.reload()
    await page.wait_for_selector("body[data-ready='1']")
    await page.click("#logout")
    await page.wait_for_selector("#login-form")
    await page.reload()
    await page.wait_for_selector("#login-form")
    assert await page.locator("#main").is_hidden()
    assert page.errors == []
