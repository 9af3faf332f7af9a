"""Ground truth: what the simulated plant really did, for scoring alerts against.

Two categories of event: ``injected`` (what the scenario did to the plant: a trip, a
stuck sensor, lost communication) and ``limit`` (the moment a recipient's true,
noise-free value crosses one of its limits, and the moment it comes back). Limits
come from the scenario file. Events are written as JSON lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from simulators.scenario import Limit

# A value must come this far back inside a limit before the crossing counts as cleared,
# so that a value hovering at a limit does not write an event every step.
BAND_HYSTERESIS_K = 0.05
RAMP_HYSTERESIS_FRACTION = 0.05


@dataclass(frozen=True, slots=True)
class TruthEvent:
    category: str  # "injected" | "limit"
    kind: str  # e.g. trip, restart, sensor_stuck, below_min, above_max, ramp_exceeded
    sim_s: float  # seconds since the scenario started
    sim_at: datetime  # the plant's clock: what source timestamps of readings use
    wall_at: datetime | None  # when it happened in real time (None in offline runs)
    asset: str
    series: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "kind": self.kind,
            "sim_s": self.sim_s,
            "sim_at": self.sim_at.isoformat(),
            "wall_at": self.wall_at.isoformat() if self.wall_at else None,
            "asset": self.asset,
            "series": self.series,
            "detail": self.detail,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"), sort_keys=True)


def write_jsonl(path: Path, events: Iterable[TruthEvent]) -> None:
    with path.open("w") as out:
        for event in events:
            out.write(event.to_json() + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class LimitWatcher:
    """Watches one series' true value against one recipient's limits."""

    limit: Limit
    below: bool = False
    above: bool = False
    ramping: bool = False

    def check(self, value: float, rate_k_per_h: float) -> list[tuple[str, dict[str, Any]]]:
        """Transitions at this step, as (kind, detail)."""
        lim = self.limit
        out: list[tuple[str, dict[str, Any]]] = []
        if lim.min is not None:
            if not self.below and value < lim.min:
                self.below = True
                out.append(("below_min", {"value": round(value, 4), "limit": lim.min}))
            elif self.below and value >= lim.min + BAND_HYSTERESIS_K:
                self.below = False
                out.append(("back_above_min", {"value": round(value, 4), "limit": lim.min}))
        if lim.max is not None:
            if not self.above and value > lim.max:
                self.above = True
                out.append(("above_max", {"value": round(value, 4), "limit": lim.max}))
            elif self.above and value <= lim.max - BAND_HYSTERESIS_K:
                self.above = False
                out.append(("back_below_max", {"value": round(value, 4), "limit": lim.max}))
        if lim.max_ramp_k_per_h is not None:
            speed = abs(rate_k_per_h)
            if not self.ramping and speed > lim.max_ramp_k_per_h:
                self.ramping = True
                out.append(("ramp_exceeded", {"rate_k_per_h": round(rate_k_per_h, 4),
                                              "limit_k_per_h": lim.max_ramp_k_per_h}))
            elif self.ramping and speed <= lim.max_ramp_k_per_h * (1 - RAMP_HYSTERESIS_FRACTION):
                self.ramping = False
                out.append(("ramp_within_limit", {"rate_k_per_h": round(rate_k_per_h, 4),
                                                  "limit_k_per_h": lim.max_ramp_k_per_h}))
        return out
