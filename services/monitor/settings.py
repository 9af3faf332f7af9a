"""The engine's tuning and its counters, apart from the engine so that `series` can use
them without importing the engine that imports it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineConfig:
    history_capacity: int = 512
    max_skew_s: float = 60.0  # inputs of a derived value may be at most this far apart
    late_after_s: float = 120.0  # a change detected later than this after it happened is late
    energy_max_gap_s: float = 600.0  # no energy is counted across a longer gap


@dataclass
class Counters:
    samples: int = 0
    derived: int = 0
    already_seen: int = 0
    bad_quality: int = 0
    findings: int = 0
