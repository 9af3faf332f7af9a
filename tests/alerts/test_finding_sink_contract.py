"""The `FindingSink` contract (heatlink/findings.py) held by the real `AlertService`, as
tests/monitor/test_contracts.py holds the monitor's fakes to it: the monitor may hand a
finding over again after a failed hand-over, and its recipients are told once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import asyncpg

from heatlink.findings import FindingSink
from heatlink.testing import FakeClock
from tests.alerts.conftest import index_for
from tests.alerts.support import HX1_POWER, T0, alert_service, finding, trip, write_cluster

SUBSCRIPTIONS = [{"org": org, "contact": "ops", "channel": "webhook", "address": org}
                 for org in ("glomfjord-smelter", "fjordsmolt")]


async def told(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    """Whom the outbox will tell of what: (organisation, transition)."""
    rows = await pool.fetch(
        """SELECT d.org, t.event FROM alert_deliveries d
           JOIN alert_transitions t ON t.id = d.transition_id ORDER BY d.id""")
    return [(r["org"], r["event"]) for r in rows]


async def test_the_alert_service_takes_a_finding_handed_over_twice_once(
        pool: asyncpg.Pool, fake_clock: FakeClock, tmp_path: Path) -> None:
    index = await index_for(pool, write_cluster(tmp_path, SUBSCRIPTIONS,
                                                alerting={"group_window_s": 0}))
    sink: FindingSink = alert_service(pool, index, fake_clock)
    first = trip()
    cleared = finding("hx1-disruption", HX1_POWER, "ok", previous="disrupted",
                      at=T0 + timedelta(minutes=5), value=900.0)

    await sink.findings([first])
    once = await told(pool)
    assert once == [("fjordsmolt", "raised"), ("glomfjord-smelter", "raised")]

    await sink.findings([first])  # the monitor re-offers after a failed hand-over
    assert await told(pool) == once

    await sink.findings([first, cleared])  # the re-offered one with the next
    assert await told(pool) == [*once, ("fjordsmolt", "cleared"),
                                ("glomfjord-smelter", "cleared")]
