"""The end of the pipeline: silence → route → outbox for one recorded transition.

Runs inside the transaction that recorded the transition, so the transition and its
deliveries commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from alerts import outbox, route, silence
from alerts.signing import LinkSigner
from alerts.store import AlertRow
from heatlink.cluster.index import ClusterIndex

DEFAULT_SHELVE_S = 3600.0  # what the one-click "shelve" link does


@dataclass
class Notifier:
    index: ClusterIndex
    signer: LinkSigner

    def payload(self, alert: AlertRow, transition_id: int, event: str,
                now: datetime, *, symptom: AlertRow | None = None,
                still_active: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event": event, "transition_id": transition_id, "at": now.isoformat(),
            "alert": alert.public(),
            "links": {"acknowledge": self.signer.link(alert.id, "ack", alert.org, now),
                      "shelve for 1 h": self.signer.link(alert.id, "shelve", alert.org,
                                                         now)}}
        if symptom is not None:  # what escalated this root cause
            out["symptom"] = symptom.public()
        if still_active:  # a root cause's one summary at recovery
            out["still_active"] = list(still_active)
        return out

    async def notify(self, conn: asyncpg.Connection, alert: AlertRow, transition_id: int,
                     event: str, now: datetime, *, levels: range | None = None,
                     ignore_silence: bool = False, symptom: AlertRow | None = None,
                     still_active: Sequence[dict[str, Any]] = ()) -> list[str]:
        """Enqueue deliveries of one transition; returns their idempotency keys ([] when
        silenced or nobody subscribed)."""
        if not ignore_silence and silence.silenced(alert, now) is not None:
            return []
        cluster = self.index.cluster
        subs = [s for level in (levels or range(1))
                for s in route.subscriptions_for(cluster.subscriptions, alert.org,
                                                 alert.severity, level)]
        if not subs:
            return []
        return await outbox.enqueue(conn, alert_id=alert.id, transition_id=transition_id,
                                    subscriptions=subs,
                                    payload=self.payload(alert, transition_id, event, now,
                                                         symptom=symptom,
                                                         still_active=still_active),
                                    now=now, policy=cluster.alerting)
