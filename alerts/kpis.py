"""Alarm-system figures after ISA-18.2 and EEMUA 191, from the journal: pure arithmetic.

An annunciation is a transition into an active, unacknowledged state (``raised`` or
``returned``). Figures are per organisation, which stands for one operator position (the
cluster file has no finer notion of consoles):

- annunciations per 10 minutes, on average and at most, and the share of 10-minute periods
  in a flood (more than 10, EEMUA 191's figure);
- standing alarms: active now and raised more than 24 h ago;
- chattering: an alert annunciated 3 times or more within 60 s (ISA-18.2 TR5's example);
- fleeting: active for less than 60 s before it cleared;
- the ten most frequent alerts.
Per exchange: availability (the share of the period without an active supply-disruption
alert), disruptions per 30 days and the mean time to restore a disruption.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

BUCKET_S = 600.0
FLOOD_PER_BUCKET = 10
CHATTER_COUNT = 3
CHATTER_WINDOW_S = 60.0
FLEETING_S = 60.0
ANNUNCIATIONS = frozenset({"raised", "returned"})
DAYS_PER_MONTH = 30.0


@dataclass(frozen=True)
class Transition:
    at: datetime
    alert_id: int
    event: str
    key: str  # the condition (the alert's dedup key): what "the same alarm" means
    title: str


@dataclass
class AlarmFigures:
    annunciations: int
    per_10_min_avg: float
    per_10_min_max: int
    flood_share: float
    chattering: list[int]  # alert ids
    fleeting: int
    top: list[tuple[str, int]] = field(default_factory=list)  # (title, annunciations)


def alarm_figures(rows: Sequence[Transition], start: datetime, end: datetime
                  ) -> AlarmFigures:
    period_s = max((end - start).total_seconds(), 1.0)
    buckets = max(1, int(-(-period_s // BUCKET_S)))
    raised = [r for r in rows if r.event in ANNUNCIATIONS]
    per_bucket = Counter(int((r.at - start).total_seconds() // BUCKET_S) for r in raised)
    times: dict[int, list[datetime]] = defaultdict(list)
    for r in raised:
        times[r.alert_id].append(r.at)
    chattering = sorted(a for a, ts in times.items() if _chatters(ts))
    fleeting = 0
    since: dict[int, datetime] = {}
    for r in rows:
        if r.event in ANNUNCIATIONS:
            since.setdefault(r.alert_id, r.at)
        elif (r.event == "cleared" and r.alert_id in since
              and (r.at - since.pop(r.alert_id)).total_seconds() < FLEETING_S):
            fleeting += 1
    titles = {r.key: r.title for r in raised}
    top = Counter(r.key for r in raised).most_common(10)
    return AlarmFigures(
        annunciations=len(raised), per_10_min_avg=len(raised) / buckets,
        per_10_min_max=max(per_bucket.values(), default=0),
        flood_share=sum(1 for n in per_bucket.values() if n > FLOOD_PER_BUCKET) / buckets,
        chattering=chattering, fleeting=fleeting,
        top=[(titles[k], n) for k, n in top])


def _chatters(times: Sequence[datetime]) -> bool:
    window = timedelta(seconds=CHATTER_WINDOW_S)
    return any(times[i + CHATTER_COUNT - 1] - times[i] <= window
               for i in range(len(times) - CHATTER_COUNT + 1))


@dataclass(frozen=True)
class ExchangeFigures:
    availability: float
    disruptions: int
    disruptions_per_month: float
    mean_time_to_restore_s: float | None


def exchange_figures(intervals: Sequence[tuple[datetime, datetime | None]], start: datetime,
                     end: datetime) -> ExchangeFigures:
    """From the active intervals of an exchange's disruption alerts (None: still active).
    Overlapping alerts are one disruption: a trip seen by two rules, or by the supplier's
    and the recipient's alerts, is one outage to restore, not two."""
    period_s = max((end - start).total_seconds(), 1.0)
    episodes = _episodes(intervals)
    down_s = 0.0
    for a, b in episodes:
        a, b = max(a, start), min(b or end, end)
        if b > a:
            down_s += (b - a).total_seconds()
    restored = [(b - a).total_seconds() for a, b in episodes if b is not None]
    return ExchangeFigures(
        availability=1.0 - down_s / period_s, disruptions=len(episodes),
        disruptions_per_month=len(episodes) / (period_s / 86400.0 / DAYS_PER_MONTH),
        mean_time_to_restore_s=sum(restored) / len(restored) if restored else None)


def _episodes(intervals: Sequence[tuple[datetime, datetime | None]]
              ) -> list[tuple[datetime, datetime | None]]:
    """The union of the intervals as disjoint episodes, in order; an episode still active
    (None) swallows every interval that starts after it."""
    out: list[tuple[datetime, datetime | None]] = []
    for a, b in sorted(intervals, key=lambda ab: ab[0]):
        if out:
            first, last = out[-1]
            if last is None or a <= last:
                out[-1] = (first, None if last is None or b is None else max(last, b))
                continue
        out.append((a, b))
    return out
