"""What the monitor reports: a finding is one change of state of one rule on one series.

The alert module receives findings through `FindingSink`, and nothing else of the monitor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Protocol


class State(IntEnum):
    """States of a rule on a series. Codes are stored in numpy arrays (int8)."""

    OK = 0
    HIGH = 1
    LOW = 2
    PREDICTED_HIGH = 3
    PREDICTED_LOW = 4
    RISING = 5
    FALLING = 6
    DISRUPTED = 7
    FOULED = 8
    SUSPECT = 9
    # Not an outage: the monitor does not know. Shown differently from any process state.
    UNKNOWN = 10
    # A rate limit the recipient's heat balance says will be crossed (ramp rules).
    PREDICTED_RISING = 11
    PREDICTED_FALLING = 12

    @property
    def label(self) -> str:
        return self.name.lower()


# Higher ranks override lower ones; a state is left for a lower one only when it no longer
# holds (with hysteresis). Predictions rank below the breaches they announce.
RANK: tuple[int, ...] = (0, 2, 2, 1, 1, 2, 2, 2, 2, 3, 3, 1, 1)


@dataclass(frozen=True)
class Finding:
    """One change of state, with what the monitor knew when it happened.

    ``ts`` is the plant's source time of the sample that confirmed the change;
    ``since_ts`` when the condition began (earlier by the rule's on/off delay).
    ``late`` says the reading that revealed it arrived long after it happened (a gateway
    replaying its buffer): the change is reported with its true time anyway.
    """

    rule_id: str
    rule_version: int
    kind: str
    series: str
    owner: str
    severity: str
    state: str
    previous_state: str
    ts: datetime
    since_ts: datetime
    detected_at: datetime
    late: bool
    value: float | None
    slope_per_h: float | None
    predicted_time_to_limit_s: float | None
    reference_value: float | None = None  # e.g. the supply level before it dropped
    detail: str = ""

    @property
    def key(self) -> tuple[str, int, str, datetime, str]:
        """Identity of a finding: stored once, handed over at least once under this key."""
        return (self.rule_id, self.rule_version, self.series, self.ts, self.state)


class FindingSink(Protocol):
    """Receives findings after they are stored (the alert module implements it).

    Called from the monitor's background task with findings in source-time order. A call
    may repeat findings already handed over after a crash between storing and handing
    over: use `Finding.key` to deduplicate. Raising makes the monitor retry the same
    findings with the next batch; it never drops them.
    """

    async def findings(self, items: Sequence[Finding]) -> None: ...
