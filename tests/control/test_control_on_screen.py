"""Control on screen, with real parts (the service, Mosquitto, the gateway, the simulated
plant's OPC UA server) and Debian's Chromium: the farm's operator previews a ramp against
the tank's limits, sends it and follows it to the end, cancels another; the smelter's
operator answers the farm's request for a protective action from its screen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.access.principal import Role
from tests.control.support import POINT, Plant, plant
from tests.dashboard.axe import violations
from tests.dashboard.test_browser import ARTIFACTS, CHROMIUM, open_dashboard
from tests.support.chromium import launched_chromium
from tests.support.service import make_token, make_user

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium")]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with launched_chromium() as launched:
        yield launched


async def test_the_farm_previews_sends_follows_and_cancels_a_ramp_on_screen(
        fresh_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        browser: Any) -> None:
    # The plant's clock runs 900 times real time: sessions must outlive that.
    monkeypatch.setenv("HEATLINK_SESSION_IDLE_S", "1e9")
    monkeypatch.setenv("HEATLINK_SESSION_TTL_S", "1e9")
    async with plant(fresh_database_url, tmp_path, monkeypatch) as p:
        try:
            await on_screen(p, fresh_database_url, browser)
        finally:
            # The pages' live streams would hold the service's shutdown open.
            for context in browser.contexts:
                await context.close()


async def on_screen(p: Plant, fresh_database_url: str, browser: Any) -> None:
    """The test's steps, with the plant running."""
    await p.until_tank_stored()
    farmer = await make_user(fresh_database_url, "fjordsmolt", Role.OPERATOR)
    page = await open_dashboard(browser, p.app.url, farmer,
                                viewport={"width": 1400, "height": 1000})
    form = page.locator("#ramp-form")
    await form.wait_for()
    assert await form.locator("select[name=point]").input_value() == POINT
    # A target outside the tank's 10–16 °C band: the preview says so before anything
    # is sent.
    await form.locator("input[name=target]").fill("17")
    await form.locator("button[type=submit]").click()
    preview = page.locator("#ramp-preview")
    await preview.wait_for()
    assert await preview.get_attribute("data-within") == "0"
    assert "Leaves 10.0–16.0 °C" in (await preview.locator(".summary").text_content()
                                     or "")
    # A small change: within the band, planned under the 2 K/h alarm, drawn.
    await form.locator("input[name=target]").fill("12.5")
    await form.locator("button[type=submit]").click()
    await page.wait_for_selector("#ramp-preview[data-within='1']")
    summary = await preview.locator(".summary").text_content() or ""
    assert "(limit 2.0 K/h)" in summary
    assert "Stays within 10.0–16.0 °C" in summary
    await preview.locator(".preview-chart canvas").wait_for()
    assert await violations(page) == []
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "control-preview.png"), full_page=True)
    assert (await p.audit()) == [] or all(r["kind"] != "requested" for r in await p.audit())
    # Sent: the ramp shows and is followed to its end, step by step.
    await page.click("#ramp-send")
    done = page.locator("#ramp-list li[data-status='completed']")
    await done.wait_for(timeout=60_000)
    text = await done.text_content() or ""
    assert "→ 12.5" in text
    assert "completed" in text
    assert p.sim.setpoints()[POINT] == 12.5
    # A longer one, cancelled from the screen while it runs.
    await form.locator("input[name=target]").fill("15")
    await form.locator("button[type=submit]").click()
    await page.wait_for_selector("#ramp-preview[data-within='1']")
    await page.click("#ramp-send")
    running = page.locator("#ramp-list li[data-status='running'], "
                           "#ramp-list li[data-status='held']").first
    await running.locator("button[data-action='cancel']").click()
    await page.wait_for_selector("#ramp-list li[data-status='cancelled']")
    audit = await p.audit()
    kinds = {r["kind"] for r in audit}
    assert {"requested", "cancelled"} <= kinds
    assert any(r["kind"] == "requested" and farmer[0] in r["actor"] for r in audit)
    assert page.errors == []

    # The farm asks the smelter for a protective action; the smelter accepts on screen.
    async with p.app.client(p.owner) as farm:
        asked = await farm.post("/v1/control/protective-requests", json={
            "exchange": "glomfjord-smolt", "action": "ramp HX-1 down at 0.5 K/h",
            "reason": "vaccination on Saturday"})
        assert asked.status_code == 201, asked.text
    smelter = await make_user(fresh_database_url, "glomfjord-smelter", Role.OPERATOR)
    page = await open_dashboard(browser, p.app.url, smelter,
                                viewport={"width": 1400, "height": 1000})
    request = page.locator(f"#protective-list li[data-request='{asked.json()['id']}']")
    await request.wait_for()
    assert await page.locator("#ramp-form").is_hidden()  # not the smelter's setpoint
    await request.locator("button[data-action='accept']").click()
    await page.wait_for_selector(
        f"#protective-list li[data-request='{asked.json()['id']}'][data-status='accepted']")
    viewer = await make_token(fresh_database_url, "fjordsmolt", Role.RECIPIENT)
    async with p.app.client(viewer) as farm:
        answered = (await farm.get("/v1/control/protective-requests")).json()
    assert answered[0]["status"] == "accepted"
    assert smelter[0] in answered[0]["answered_by"]
    assert page.errors == []
