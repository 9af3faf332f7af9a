"""Retry delays as data: a pure function of the attempt number (and, for jitter, a random
source). One policy for every part that retries: the gateway's reconnects and uplink, the
alerts' deliveries."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol


class BackoffSettings(Protocol):
    """Where a part configures its backoff (the gateway's `BackoffConfig`)."""

    @property
    def initial_s(self) -> float: ...

    @property
    def max_s(self) -> float: ...

    @property
    def multiplier(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Backoff:
    initial_s: float = 0.5
    max_s: float = 30.0
    multiplier: float = 2.0

    @classmethod
    def from_config(cls, config: BackoffSettings) -> Backoff:
        return cls(config.initial_s, config.max_s, config.multiplier)

    def ceiling_s(self, attempt: int) -> float:
        """The longest delay before retry number `attempt` (1 = first retry): growing by
        `multiplier` from `initial_s`, capped at `max_s`."""
        return float(min(self.max_s, self.initial_s * self.multiplier ** max(0, attempt - 1)))

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """Delay before retry number `attempt`, with "equal jitter": half fixed so retries
        never come too fast, half random so many gateways coming back after a service outage
        do not all knock at the same moment."""
        ceiling = self.ceiling_s(attempt)
        return ceiling / 2 + rng.uniform(0, ceiling / 2)
