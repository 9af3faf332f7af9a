"""Inhibition stage: a symptom on a recipient's asset (its tank cooling, its band breached)
that shares the root cause of an active upstream alert is grouped under that alert instead
of paging again: Alertmanager's inhibit rule, keyed by the topology instead of labels."""

from __future__ import annotations

import asyncpg

from alerts import store
from alerts.model import Draft


async def root_cause(conn: asyncpg.Connection, draft: Draft) -> int | None:
    """The id of the active root-cause alert ``draft`` is a symptom of, if any."""
    if not draft.symptom_of_upstream or draft.asset is None:
        return None
    root = await store.active_root(conn, draft.org, draft.asset)
    return root.id if root else None
