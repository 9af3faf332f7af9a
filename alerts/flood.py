"""Flood control, pure: notifications to one address are grouped within a window and rate
limited per hour; what is held back goes out later as one summary, never dropped."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta


def first_attempt_at(now: datetime, last_send_at: datetime | None,
                     group_window_s: float) -> datetime:
    """The first notification to a quiet address goes at once; later ones wait for the end of
    the window opened by the last send, and then travel together."""
    if last_send_at is None:
        return now
    return max(now, last_send_at + timedelta(seconds=group_window_s))


def rate_limit_release(now: datetime, sends_in_hour: Sequence[datetime],
                       max_per_hour: int) -> datetime | None:
    """When an address that has had ``max_per_hour`` messages in the last hour may have the
    next one; None when it may have it now."""
    recent = sorted(t for t in sends_in_hour if t > now - timedelta(hours=1))
    if len(recent) < max_per_hour:
        return None
    return recent[len(recent) - max_per_hour] + timedelta(hours=1)


def group_key(keys: Sequence[str]) -> str:
    """A stable key for a group of deliveries: the delivery's own key when it is alone."""
    if len(keys) == 1:
        return keys[0]
    digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:24]
    return f"hl-group-{digest}"

