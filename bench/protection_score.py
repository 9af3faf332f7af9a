"""Scoring protection against a simulated plant's ground truth (issue 18), pure.

A *breach* is a true limit crossing in the truth file (below_min, above_max,
ramp_exceeded) on a watched series; it is *warned* by the first finding, on a rule watching
that series, whose state points the same way (low or predicted_low for below_min; high or
predicted_high for above_max; falling/predicted_falling or rising/predicted_rising for a
ramp by the sign of the rate) entered after the breach's cause and at most
``DETECT_AFTER_S`` after the crossing; otherwise it is *missed*. Its *lead* is the crossing
minus the warning, as a fraction of the time the cause left (crossing minus the last
injected event before it), counted where that time exceeds ``DETECTION_S``. A lasting
cause (a decline, fouling) is no moment after which a warning was due: the supply drifts
for hours or weeks before it crosses, so its available time is capped at
``LASTING_WARN_S``, the hour ahead a recipient needs to act (start a backup heater, call
the supplier) and the horizon the cluster's supply band predicts over.

A *page* is one notification transition queued for a recipient organisation; it is
*false* when no injected event lies within ``EPISODE_S`` before it (fouling and a
decline last to the end of the run). An *episode* starts at
each injected cause (a trip, a stop, a restart or the end of a stop, a decline, a lost
connection, a stuck sensor, fouling); a setpoint written is a response within one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DETECT_AFTER_S = 600.0
DETECTION_S = 120.0
EPISODE_S = 6 * 3600.0
LASTING_WARN_S = 3600.0
# A supply's return is a cause of its own: the heat coming back too fast is a second
# episode for the recipient, after the loss. A setpoint written (a backup heater started)
# is a response within an episode, not a cause.
CAUSE_KINDS = frozenset({"trip", "planned_stop_start", "decline_start", "comms_lost",
                         "sensor_stuck", "fouling_start", "restart", "planned_stop_end"})
FOLLOW_KINDS = frozenset({"planned_stop_announced", "comms_restored", "sensor_recovered",
                          "setpoint_written"})
LASTING_KINDS = frozenset({"fouling_start", "decline_start"})
DIRECTIONS = {"below_min": {"low", "predicted_low"}, "above_max": {"high", "predicted_high"},
              "fall": {"falling", "predicted_falling"}, "rise": {"rising", "predicted_rising"}}


@dataclass(frozen=True)
class Seen:
    """A finding, as far as scoring needs it."""

    t_s: float  # seconds since the scenario's start
    series: str
    state: str


@dataclass(frozen=True)
class Page:
    t_s: float
    org: str
    event: str
    title: str


@dataclass
class Score:
    breaches: int = 0
    missed: list[str] = field(default_factory=list)
    leads: list[float] = field(default_factory=list)  # fractions, where counted
    unwatched: int = 0  # crossings on series no rule watches (not scored)
    pages: dict[str, int] = field(default_factory=dict)
    false_pages: list[str] = field(default_factory=list)
    episodes: int = 0
    days: float = 0.0
    log: list[str] = field(default_factory=list)  # each breach's warning and each page


def direction(event: Mapping[str, Any]) -> str | None:
    kind = event["kind"]
    if kind in ("below_min", "above_max"):
        return str(kind)
    if kind == "ramp_exceeded":
        return "rise" if event["detail"].get("rate_k_per_h", 0.0) > 0 else "fall"
    return None


def score(truth: Sequence[Mapping[str, Any]], seen: Sequence[Seen], pages: Sequence[Page],
          watched: frozenset[str], duration_s: float) -> Score:
    out = Score(days=duration_s / 86_400.0)
    causes = sorted(e["sim_s"] for e in truth if e["category"] == "injected"
                    and e["kind"] in CAUSE_KINDS)
    # Windows in which a page is about something that happened: six hours after an event,
    # to the end of the run after one that lasts (fouling, a decline).
    around = [(e["sim_s"] - 600.0, float("inf") if e["kind"] in LASTING_KINDS
               else e["sim_s"] + EPISODE_S) for e in truth if e["category"] == "injected"
              and e["kind"] in CAUSE_KINDS | FOLLOW_KINDS]
    lasting = {e["sim_s"] for e in truth if e["category"] == "injected"
               and e["kind"] in LASTING_KINDS}
    out.episodes = sum(1 for e in truth if e["category"] == "injected"
                       and e["kind"] in CAUSE_KINDS)
    for e in truth:
        way = direction(e) if e["category"] == "limit" else None
        if way is None:
            continue
        if e["series"] not in watched:
            out.unwatched += 1
            continue
        out.breaches += 1
        crossing = float(e["sim_s"])
        before = [c for c in causes if c <= crossing]
        cause = before[-1] if before else 0.0
        states = DIRECTIONS[way]
        hits = [s.t_s for s in seen if s.series == e["series"] and s.state in states
                and cause <= s.t_s <= crossing + DETECT_AFTER_S]
        label = f"{e['series']} {way} at {crossing:.0f} s"
        if not hits:
            out.missed.append(label)
            continue
        available = crossing - cause
        if before and cause in lasting:
            available = min(available, LASTING_WARN_S)
        out.log.append(f"{label}: warned at {min(hits):.0f} s, cause at {cause:.0f} s")
        if available > DETECTION_S:
            out.leads.append(max(0.0, min(1.0, (crossing - min(hits)) / available)))
    for p in pages:
        out.pages[p.org] = out.pages.get(p.org, 0) + 1
        out.log.append(f"page {p.org} at {p.t_s:.0f} s ({p.event}): {p.title}")
        if not any(lo <= p.t_s <= hi for lo, hi in around):
            out.false_pages.append(f"{p.org} at {p.t_s:.0f} s: {p.title}")
    return out
