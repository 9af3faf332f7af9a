"""The exchange card's accounting in Debian's Chromium: energy month to date against the
contract, and this month's statement downloaded as the PDF both parties get."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.test_browser import CHROMIUM, open_dashboard
from tests.support.chromium import launched_chromium
from tests.support.service import AppHandle

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's Chromium: apt-get install chromium")


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Any]:
    async with launched_chromium() as launched:
        yield launched


async def test_the_card_shows_energy_month_to_date_and_downloads_the_statement(
        live_service: AppHandle, org_users: dict[str, tuple[str, str]], chromium: Any) -> None:
    page = await open_dashboard(chromium, live_service.url, org_users["fjordsmolt"],
                                without_alerts=True, accept_downloads=True)
    card = page.locator("article[data-exchange='glomfjord-smolt']")
    accounting = card.locator(".accounting")
    await accounting.wait_for(state="visible")
    text = await accounting.locator(".mtd").text_content() or ""
    assert "MWh" in text
    assert "contracted to date" in text
    async with page.expect_download() as download_info:
        await accounting.locator("button[data-format='pdf']").click()
    download = await download_info.value
    assert download.suggested_filename.endswith(".pdf")
    path = await download.path()
    assert path is not None
    assert Path(path).read_bytes().startswith(b"%PDF-")  # noqa: ASYNC240 (a small file)
    assert page.errors == []
