"""Inhibition stage: a symptom on a recipient's asset (its tank cooling, its band breached)
that shares the root cause of an active upstream alert is grouped under that alert instead
of paging again: Alertmanager's inhibit rule, keyed by the topology instead of labels."""

from __future__ import annotations

import asyncpg

from alerts import store
from alerts.model import Draft

ROOT_KINDS = frozenset({"supply_disruption"})


async def root_cause(conn: asyncpg.Connection, draft: Draft) -> int | None:
    """The id of the active root-cause alert ``draft`` is a symptom of, if any.

    A supply disruption is a root. Another condition on the same exchange (its supply
    temperature out of band, its exchanger's health readings upset by the trip, a second
    rule seeing the same trip) is grouped under an active disruption of that exchange, for
    recipient and supplier alike; a condition on a recipient's own asset under the active
    upstream alert affecting it.
    """
    # Planned work informs on its own; advice to a restarting supplier is never held back.
    if draft.kind in ("maintenance", "restart_ramp"):
        return None
    if draft.exchange is not None:
        root = await store.active_disruption(conn, draft.org, draft.exchange,
                                             draft.dedup_key)
        if root is not None:
            return root.id
    if draft.kind in ROOT_KINDS:
        return None
    if draft.symptom_of_upstream and draft.asset is not None:
        root = await store.active_root(conn, draft.org, draft.asset)
        return root.id if root else None
    return None
