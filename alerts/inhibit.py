"""Inhibition stage: a symptom on a recipient's asset (its tank cooling, its band breached)
that shares the root cause of an active upstream alert is grouped under that alert instead
of paging again: Alertmanager's inhibit rule, keyed by the topology instead of labels."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from alerts import episode, store
from alerts.model import Draft, Severity

ROOT_KINDS = frozenset({"supply_disruption"})
# After its supply came back, a recipient settles for about its thermal time constant (the
# smolt tank's 190 m3 turn over in an hour): a warning of its own in that time (the tank
# falling back to its setpoint after the warm-up overshot) belongs to the episode just
# summarised, not a new one.
SETTLE = timedelta(hours=1)


async def root_cause(conn: asyncpg.Connection, draft: Draft) -> int | None:
    """The id of the active root-cause alert ``draft`` is a symptom of, if any.

    A supply disruption is a root. Another condition on the same exchange (its supply
    temperature out of band, its exchanger's health readings upset by the trip, a second
    rule seeing the same trip) is grouped under an active disruption of that exchange, for
    recipient and supplier alike; a condition on a recipient's own asset under the active
    upstream alert affecting it. Failing those, the first active alert of the same direction
    on the same exchange or asset is the episode's top (a slow fall seen first by the tank's
    ramp rule, then by the supply band, then by the disruption): one page per episode.
    """
    # Planned work informs on its own; advice to a restarting supplier is never held back.
    if draft.kind in ("maintenance", "restart_ramp"):
        return None
    if draft.exchange is not None:
        root = await store.active_disruption(conn, draft.org, draft.exchange,
                                             draft.dedup_key)
        if root is not None:
            return root.id
    if draft.symptom_of_upstream and draft.asset is not None and draft.kind not in ROOT_KINDS:
        root = await store.active_root(conn, draft.org, draft.asset)
        if root is not None:
            return root.id
    # The same episode seen first by another rule (a planned stop's slow fall: the tank's
    # ramp warning, then the supply band, then the disruption): the first alert of the
    # same direction on the same exchange or asset is its top.
    way = episode.direction(draft.condition)
    if way == 0:
        return None
    for top in await store.active_tops(conn, draft.org, draft.exchange, draft.asset,
                                       draft.dedup_key):
        if episode.direction(top.condition) == way:
            return top.id
    return None


async def settling_root(conn: asyncpg.Connection, draft: Draft, now: datetime) -> int | None:
    """The root cause, cleared within `SETTLE`, of the episode a recipient's new warning
    still belongs to; None when there is none or the symptom is news.

    Grouped under it, the warning is recorded and shown nested but pages nobody: the
    episode's one summary was sent when its root cleared. An alarm (a limit crossed, the
    rate limit broken) and a warning of too much heat (the supply coming back too fast)
    are new risks and page as ever.
    """
    if (not draft.symptom_of_upstream or draft.asset is None or draft.kind in ROOT_KINDS
            or draft.severity is not Severity.WARNING):
        return None
    # A root caused upstream is a supply lost (or fouled) and back: more cooling in its
    # wake is the same episode, warming is not.
    if episode.direction(draft.condition) >= 0:
        return None
    root = await store.settling_root(conn, draft.org, draft.asset, now - SETTLE)
    return root.id if root is not None else None
