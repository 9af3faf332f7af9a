"""One page per episode per recipient: what a symptom grouped under a root cause may still
page, pure.

A root cause (a supply disruption) pages once; what follows from it (the tank cooling,
the supply leaving its band) is grouped under it. Two kinds of symptom are news the root
did not announce, and escalate it at once instead of waiting for it to clear: a limit in
the other direction (the heat coming back too fast after a loss), and a crossing sooner
than the root said.
"""

from __future__ import annotations

from datetime import datetime

LOSS = frozenset({"disrupted", "low", "predicted_low", "falling", "predicted_falling"})
EXCESS = frozenset({"high", "predicted_high", "rising", "predicted_rising"})
# A symptom's crossing in less than this share of the time the root announced is news
# (the two come from different estimates: a smaller gap is the models disagreeing).
SOONER_FRACTION = 0.5


def direction(condition: str | None) -> int:
    """−1 for a loss of heat, +1 for too much, 0 for anything else."""
    if condition in LOSS:
        return -1
    if condition in EXCESS:
        return 1
    return 0


def escalates(child_kind: str, child_condition: str, child_tti_s: float | None,
              root_condition: str | None, root_tti_s: float | None, root_told_at: datetime,
              now: datetime) -> str | None:
    """Why the symptom escalates its root now, or None when grouping it is enough.

    Times compare only for a symptom on the limit the root's time to impact names (the
    recipient's band): a ramp rule's time is to its rate limit, another thing."""
    child, root = direction(child_condition), direction(root_condition)
    if child and root and child != root:
        return "a limit in the other direction"
    if child_kind == "band" and child_tti_s is not None and root_tti_s is not None:
        remaining = root_tti_s - (now - root_told_at).total_seconds()
        if child_tti_s < SOONER_FRACTION * remaining:
            return f"the limit is crossed sooner ({child_tti_s / 60:.0f} min)"
    return None
