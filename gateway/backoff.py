"""Retry delays as data: a pure function of the attempt number and a random source."""

from __future__ import annotations

import random
from dataclasses import dataclass

from gateway.config import BackoffConfig


@dataclass(frozen=True, slots=True)
class Backoff:
    initial_s: float = 0.5
    max_s: float = 30.0
    multiplier: float = 2.0

    @classmethod
    def from_config(cls, config: BackoffConfig) -> Backoff:
        return cls(config.initial_s, config.max_s, config.multiplier)

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """Delay before retry number `attempt` (1 = first retry), with "equal jitter":
        half fixed so retries never come too fast, half random so many gateways coming back
        after a service outage do not all knock at the same moment."""
        ceiling = min(self.max_s, self.initial_s * self.multiplier ** max(0, attempt - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)
