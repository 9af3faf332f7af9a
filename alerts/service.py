"""The alert service: findings in (it is the monitor's `FindingSink`) and alarms of other
domains (`alerts.alarms.Alarms`), alerts and their deliveries out, in one transaction per
batch of findings or per alarm.

Pipeline per finding: dedup (seen before?) → impact (who is affected, along the topology)
→ lifecycle → inhibit (a symptom of an active root cause?) → silence (shelved, out of
service, maintenance window?) → route → outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import asyncpg

from alerts import alarms, dedup, episode, impact, inhibit, lifecycle, route, silence, store
from alerts.maintenance import close_ended, send_reminders
from alerts.metrics import AlertMetrics
from alerts.model import AlertState, Draft
from alerts.notify import Notifier
from alerts.queries import q
from alerts.signing import LinkSigner
from heatlink.clock import Clock
from heatlink.cluster.index import ClusterIndex
from heatlink.findings import Finding

log = logging.getLogger(__name__)

REPAGE_AFTER = timedelta(hours=1)  # a prediction made again sooner than this pages no more
# What a title is composed from in another language (alerts/texts.py).
_TITLE_FIELDS = frozenset({"kind", "role", "state", "rule_id", "series", "asset", "exchange",
                           "detail", "time_to_impact_s"})


# The newest value of each series asked for, read in the caller's transaction: the readings
# domain answers (services/readings/store.py latest_values); alerts never read its tables.
LatestValues = Callable[[asyncpg.Connection, list[str]], Awaitable[dict[str, float]]]


@dataclass
class AlertService:
    pool: asyncpg.Pool
    index: ClusterIndex
    clock: Clock
    signer: LinkSigner
    wake: Callable[[], None] = lambda: None
    metrics: AlertMetrics = field(default_factory=AlertMetrics)
    latest: LatestValues = field(kw_only=True)

    def __post_init__(self) -> None:
        self.notifier = Notifier(self.index, self.signer)

    async def findings(self, items: Sequence[Finding]) -> None:
        """FindingSink: safe to call again with the same findings; raises to be retried."""
        now = self.clock.now()
        queued = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for finding in items:
                if not await dedup.first_time(conn, finding, now):
                    continue
                for draft in await self._drafts(conn, finding):
                    queued += await self.apply(conn, draft, now, actor="monitor")
        if queued:
            self.wake()

    async def raise_alarm(self, alarm: alarms.Alarm) -> None:
        """Alarms (alerts/alarms.py): a condition another domain saw begin."""
        async with self.pool.acquire() as conn, conn.transaction():
            queued = await self.apply(conn, alarms.raised(alarm), self.clock.now(),
                                      actor=alarm.source)
        if queued:
            self.wake()

    async def clear_alarm(self, source: str, key: str, org: str, text: str) -> None:
        """Alarms: the condition ``source`` raised as ``key`` for ``org`` has ended."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await store.lock(conn, key, org)
            if row is None or row.kind != source:  # no domain ends another's alert
                return
            queued = await self.apply(conn, alarms.cleared(row, text), self.clock.now(),
                                      actor=source)
        if queued:
            self.wake()

    async def _drafts(self, conn: asyncpg.Connection, finding: Finding) -> list[Draft]:
        latest = await self.latest(conn, impact.needed_series(self.index, finding))
        try:
            return impact.drafts(self.index, finding, latest)
        except Exception:
            # One finding the topology cannot place must not hold up every alert after it
            # (the monitor would retry the batch for ever): its owners are told as is.
            log.exception("impact of %s failed; telling its owners only", finding.key)
            self.metrics.sink_errors.inc()
            return impact.owner_drafts(self.index, finding)

    async def apply(self, conn: asyncpg.Connection, draft: Draft, now: datetime, *,
                    actor: str) -> int:
        """Run one draft through lifecycle, inhibition, silence and routing; returns the
        number of deliveries queued."""
        current = await store.lock(conn, draft.dedup_key, draft.org)
        change = lifecycle.on_draft(current.state if current else None,
                                    current.severity if current else None,
                                    current.condition if current else None, draft)
        if change is None:
            return 0
        if (change.event == "raised" and current is not None
                and draft.condition.startswith("predicted_")
                and await store.withdrawn_since(conn, current.id, now - REPAGE_AFTER)):
            # A prediction withdrawn a moment ago and made again (a slope at the edge of
            # its horizon) is the same news: back without a second page.
            change = replace(change, event="resumed", notify=False)
        if draft.active:
            parent = await inhibit.root_cause(conn, draft)
            if parent is None and change.event in ("raised", "returned"):
                parent = await inhibit.settling_root(conn, draft, now)
            # A maintenance notice is never silenced by the window it announces.
            window = None if draft.kind == "maintenance" else await silence.maintenance_window(
                conn, self._exchanges_for(draft), draft.since_ts or now)
        else:
            parent = current.parent_id if current else None
            window = current.suppressed_by if current else None
        new_episode = change.event in ("raised", "returned", "severity_raised")
        subs = self.index.cluster.subscriptions
        # Notices of planned work inform; they do not climb the escalation ladder.
        escalates = (new_episode and parent is None and window is None
                     and draft.kind != "maintenance" and route.has_level(subs, draft.org, 1))
        escalate_at = (now + timedelta(seconds=self.index.cluster.alerting.escalate_after_s)
                       if escalates else None)
        row = await store.upsert(conn, draft, change.to_state, now, parent_id=parent,
                                 suppressed_by=window, escalate_at=escalate_at,
                                 new_episode=new_episode)
        if not change.to_state.active and row.escalate_at is not None:
            row = await store.set_fields(conn, row.id, now, escalate_at=None)
        quiet = silence.silenced(row, now)
        self.metrics.transitions.labels(change.event).inc()
        if change.notify:
            log.info("alert %d %s for %s: %s%s", row.id, change.event, row.org, row.title,
                     f" ({quiet.reason})" if quiet else "")
        transition_id = await store.transition(
            conn, row.id, now, actor, change.event, change.from_state, change.to_state,
            note=quiet.reason if quiet else "")
        escalated = 0
        if parent is not None and change.event in ("raised", "returned", "updated",
                                                   "severity_raised"):
            root = await store.get(conn, parent)
            if root is not None:
                if change.event == "raised":
                    await store.transition(conn, parent, now, actor, "symptom_grouped",
                                           root.state, root.state, note=f"alert {row.id}: "
                                           f"{row.title}")
                escalated = await self._escalate_root(conn, root, row, current, draft, now,
                                                      actor)
        released = 0
        still: list[dict[str, object]] = []
        if not change.to_state.active:
            released, still, goes_on = await self.release(conn, now, actor, parent_id=row.id)
            if goes_on:
                return released  # the same root cause, seen by another rule, goes on
        if not change.notify:
            return released + escalated
        if change.event == "cleared" and not await store.was_told(conn, row.id):
            return released + escalated  # never paged (grouped, held): nothing to take back
        # A clearing goes to everyone the alert reached; news goes to the first level.
        levels = range(row.escalation_level + 1) if change.event == "cleared" else range(1)
        keys = await self.notifier.notify(conn, row, transition_id, change.event, now,
                                          levels=levels, still_active=still)
        self.metrics.queued.inc(len(keys))
        return released + escalated + len(keys)

    async def _escalate_root(self, conn: asyncpg.Connection, root: AlertRow, row: AlertRow,
                             current: AlertRow | None, draft: Draft, now: datetime,
                             actor: str) -> int:
        """A grouped symptom that is news pages at once, as an escalation of its root."""
        if not root.state.active:
            return 0
        why = episode.escalates(draft.kind, draft.condition, draft.time_to_impact_s,
                                root.condition, root.time_to_impact_s, root.raised_at, now)
        before = None if current is None or not current.state.active else episode.escalates(
            current.kind, current.condition or "", current.time_to_impact_s, root.condition,
            root.time_to_impact_s, root.raised_at, now)
        if why is None or before is not None:
            return 0
        reason = why.split(" (")[0]
        if await conn.fetchval(q("escalated_for_already"), root.id, reason):
            return 0  # escalated for this already in this episode: one page per news
        transition_id = await store.transition(conn, root.id, now, actor,
                                               "symptom_escalated", root.state, root.state,
                                               note=f"alert {row.id}: {row.title} ({why})")
        keys = await self.notifier.notify(conn, root, transition_id, "symptom_escalated", now,
                                          symptom=row, ignore_silence=root.parent_id is None
                                          and root.suppressed_by is None)
        self.metrics.queued.inc(len(keys))
        return len(keys)

    async def release(self, conn: asyncpg.Connection, now: datetime, actor: str, *,
                      parent_id: int | None = None, window_id: int | None = None
                      ) -> tuple[int, list[dict[str, object]], bool]:
        """Alerts held back by a root cause that has cleared, or by a maintenance window that
        has ended. Returns (deliveries queued, alerts still active, whether the episode goes
        on under another root).

        After a root cause: another disruption of the same exchange grouped under it (the
        same cause seen by a second rule) takes over as the root, silently, and the rest
        stay grouped under it; otherwise the symptoms still active (the tank still cold
        after the furnace restarted) are named in the root's one clearing message instead
        of paging one by one. After a maintenance window they annunciate now."""
        rows = await store.held_by(conn, parent_id=parent_id, window_id=window_id)
        if parent_id is not None:
            return await self._hand_on(conn, rows, now, actor, parent_id)
        queued = 0
        for alert in rows:
            row = await store.set_fields(conn, alert.id, now, **(
                {"parent_id": None} if parent_id is not None else {"suppressed_by": None}))
            why = (f"root cause alert {parent_id} cleared" if parent_id is not None
                   else f"maintenance window {window_id} ended")
            transition_id = await store.transition(conn, row.id, now, actor, "released",
                                                   row.state, row.state,
                                                   note=f"{why}; the condition persists")
            keys = await self.notifier.notify(conn, row, transition_id, "released", now)
            self.metrics.queued.inc(len(keys))
            queued += len(keys)
        return queued, [], False

    async def _hand_on(self, conn: asyncpg.Connection, rows: list[AlertRow], now: datetime,
                       actor: str, parent_id: int) -> tuple[int, list[dict[str, object]], bool]:
        heir = next((a for a in rows if a.kind in inhibit.ROOT_KINDS), None)
        still: list[dict[str, object]] = []
        for alert in rows:
            if heir is not None and alert.id != heir.id:
                await store.set_fields(conn, alert.id, now, parent_id=heir.id)
                await store.transition(conn, alert.id, now, actor, "regrouped", alert.state,
                                       alert.state, note=f"root cause alert {parent_id} "
                                       f"cleared; alert {heir.id} has the same cause")
                continue
            row = await store.set_fields(conn, alert.id, now, parent_id=None)
            # The heir carries on the episode its root paged for: its clearing is told.
            await store.transition(conn, row.id, now, actor,
                                   "took_over" if heir is not None else "released",
                                   row.state, row.state,
                                   note=f"root cause alert {parent_id} cleared; the "
                                   "condition persists" + ("" if heir is not None else
                                                           "; told in its summary"))
            if heir is None:
                # Its fields too, for the title in the receiver's language.
                still.append({"id": row.id, "title": row.title, "condition": row.condition,
                              **{k: v for k, v in row.public().items()
                                 if k in _TITLE_FIELDS}})
        return 0, still, heir is not None

    def _exchanges_for(self, draft: Draft) -> list[str]:
        """The exchanges whose maintenance window may explain this alert: the work stops
        an exchange, so what it causes is at its exchanger and downstream of it, and, up
        its supply, on the announcing supplier's own plant (the furnace it stops). Another
        company's assets upstream are not the work's doing: a downstream company's window
        must not hide the trip of the plant that heats it."""
        found = {draft.exchange} if draft.exchange else set()
        asset = draft.cause_asset or draft.asset  # where the condition arose
        if asset is not None:
            below = set(self.index.downstream(asset))
            owner = self.index.assets[asset].owner if asset in self.index.assets else None
            for e in self.index.cluster.exchanges:
                if (asset == e.exchanger or asset in e.recipient_assets
                        or asset in self.index.downstream(e.exchanger)
                        or (e.exchanger in below and owner == e.supplier)):
                    found.add(e.id)
        return sorted(found)

    async def tick(self) -> int:
        """Time-driven transitions: escalation, shelf expiry, maintenance reminders. Returns
        the number of deliveries queued."""
        now = self.clock.now()
        queued = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for alert in await store.due_unshelves(conn, now):
                queued += await self._unshelve(conn, alert, now, "system", "shelf_expired")
            for alert in await store.due_escalations(conn, now):
                queued += await self._escalate(conn, alert, now)
            queued += await send_reminders(conn, self, now)
            queued += await close_ended(conn, self, now)
            # Findings older than a week will not be handed over again.
            await conn.execute(q("forget_seen"), now - timedelta(days=7))
        if queued:
            self.wake()
        return queued

    async def _escalate(self, conn: asyncpg.Connection, alert: AlertRow, now: datetime) -> int:
        subs = self.index.cluster.subscriptions
        level = alert.escalation_level + 1
        if (not lifecycle.needs_escalation(alert.state)
                or silence.silenced(alert, now) is not None
                or not route.has_level(subs, alert.org, level)):
            await store.set_fields(conn, alert.id, now, escalate_at=None)
            return 0
        more = route.has_level(subs, alert.org, level + 1)
        after = timedelta(seconds=self.index.cluster.alerting.escalate_after_s)
        row = await store.set_fields(conn, alert.id, now, escalation_level=level,
                                     escalate_at=now + after if more else None)
        transition_id = await store.transition(conn, row.id, now, "system", "escalated",
                                               row.state, row.state,
                                               note=f"unacknowledged; level {level}")
        return len(await self.notifier.notify(conn, row, transition_id, "escalated", now,
                                              levels=range(level, level + 1)))

    async def _unshelve(self, conn: asyncpg.Connection, alert: AlertRow, now: datetime,
                        actor: str, event: str) -> int:
        after = timedelta(seconds=self.index.cluster.alerting.escalate_after_s)
        unacked = alert.state is AlertState.ACTIVE_UNACK
        row = await store.set_fields(
            conn, alert.id, now, shelved_until=None,
            escalate_at=now + after if unacked and route.has_level(
                self.index.cluster.subscriptions, alert.org, alert.escalation_level + 1)
            else None)
        transition_id = await store.transition(conn, row.id, now, actor, event, row.state,
                                               row.state)
        if not row.state.active:
            return 0
        # Still active when the shelf ends: it annunciates again.
        return len(await self.notifier.notify(conn, row, transition_id, event, now))


AlertRow = store.AlertRow

