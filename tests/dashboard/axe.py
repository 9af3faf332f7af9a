"""axe-core, run in the page under test: the accessibility violations of what it shows.

The script is the one the `axe-playwright-python` package ships (axe-core 4.x, MPL 2.0),
read from the installed package: nothing is fetched from the network."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import axe_playwright_python

SERIOUS = ("serious", "critical")


@cache
def axe_source() -> str:
    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


async def violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it stands (WCAG 2.1 A and
    AA rules and best practices). Evaluated through the browser's devtools, which the page's
    Content-Security-Policy does not govern."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(axe_source())
    found: list[dict[str, Any]] = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': ' + n.failureSummary)}))")
    return [v for v in found if v["impact"] in SERIOUS]
