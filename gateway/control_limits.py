"""The bounds a gateway holds a node to, whatever the service sends: pure, no I/O, no clock.

Range and single step are plain comparisons; the step is measured from the value read from
the node just before the write, so a change made at the plant's own panel counts. Rate is a
token bucket in the node's units: it fills at ``max_rate_per_h`` up to ``max_step`` and a
write spends what it moves the node. Over any stretch of time T the node then moves at most
``max_step + max_rate_per_h·T``: a slow, steady ramp always passes (the service's plan
keeps well under the rate), and neither a burst of small steps nor one that arrives late
and then early can outrun it, which a check of each step against the time since the last
one could not promise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from gateway.config import WritableNode


@dataclass(frozen=True)
class Allowance:
    """How far the node may still move now (units), as of ``at``."""

    units: float
    at: datetime

    def now(self, node: WritableNode, now: datetime) -> float:
        elapsed_s = max((now - self.at).total_seconds(), 0.0)
        return min(node.max_step, self.units + node.max_rate_per_h * elapsed_s / 3600.0)


@dataclass(frozen=True)
class Refusal:
    reason: str  # not_finite | out_of_range | step | rate: a metric label
    detail: str


def full(node: WritableNode, now: datetime) -> Allowance:
    """A node never written by this gateway: one step's worth."""
    return Allowance(node.max_step, now)


def check_value(node: WritableNode, value: float) -> Refusal | None:
    """What needs no plant value: finite and in range."""
    if not math.isfinite(value):
        return Refusal("not_finite", f"value {value} is not a finite number; not written")
    low, high = node.range
    if not low <= value <= high:
        return Refusal("out_of_range", f"value {value} is outside the node's range "
                       f"[{low}, {high}] in this gateway's config; not written")
    return None


def check_move(node: WritableNode, value: float, current: float, allowance: Allowance,
               now: datetime) -> Refusal | None:
    """Whether moving the node from ``current`` to ``value`` now keeps it within its step
    and rate."""
    if not math.isfinite(current):
        return Refusal("step", f"the node reads {current}, so no step from it can be judged; "
                       "not written")
    moved = abs(value - current)
    if moved > node.max_step + 1e-9:
        return Refusal("step", f"a step of {moved:.4g} from {current:.6g} (read from the node "
                       f"now) to {value:.6g} exceeds max_step {node.max_step}; not written")
    left = allowance.now(node, now)
    if moved > left + 1e-9:
        return Refusal("rate", f"moving {moved:.4g} now would exceed max_rate_per_h "
                       f"{node.max_rate_per_h} (at most {left:.4g} allowed at this moment); "
                       "not written")
    return None


def spend(node: WritableNode, allowance: Allowance, moved: float, now: datetime) -> Allowance:
    return Allowance(max(allowance.now(node, now) - moved, 0.0), now)
