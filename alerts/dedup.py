"""Deduplication stage: a finding handed over twice (the monitor replays after a crash) is
turned into alerts once. The condition itself is deduplicated by the alert's unique
(dedup_key, org): a repeated or updated finding changes the alert it already has."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from alerts.queries import q
from heatlink.findings import Finding


def finding_key(finding: Finding) -> str:
    rule_id, version, series, ts, state = finding.key
    return f"{rule_id}|{version}|{series}|{ts.isoformat()}|{state}"


async def first_time(conn: asyncpg.Connection, finding: Finding, at: datetime) -> bool:
    """True the first time ``finding`` is seen; recorded in the caller's transaction."""
    inserted = await conn.fetchval(q("first_seen"), finding_key(finding), at)
    return bool(inserted)
