"""Routing stage: which contacts of the alert's organisation hear of a transition.

An organisation's subscriptions are the only addresses an alert ever goes to, so a company
receives only alerts drafted for it, that is about what it is party to (see impact.py).
"""

from __future__ import annotations

import hashlib

from alerts.model import Severity
from heatlink.cluster.model import Subscription


def subscriptions_for(subscriptions: list[Subscription], org: str, severity: Severity,
                      level: int) -> list[Subscription]:
    return [s for s in subscriptions
            if s.org == org and s.escalation_level == level
            and severity.rank >= Severity(s.min_severity).rank]


def has_level(subscriptions: list[Subscription], org: str, level: int) -> bool:
    return any(s.org == org and s.escalation_level == level for s in subscriptions)


def delivery_key(alert_id: int, transition_id: int, channel: str, address: str) -> str:
    """Idempotency key of one delivery: (alert, transition, channel, recipient)."""
    digest = hashlib.sha256(address.encode()).hexdigest()[:12]
    return f"hl-{alert_id}-{transition_id}-{channel}-{digest}"
