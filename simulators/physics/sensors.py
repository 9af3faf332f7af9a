"""Sensors between the physics and the wire: noise, quantisation, sample rate, faults.

Each sensor has its own random stream seeded from (run seed, series key), so adding a
sensor or changing one sensor's settings leaves every other sensor's noise unchanged.
A sample carries the plant's source timestamp and a quality: outside the instrument's
range it is 'bad' (a broken Pt100 reads open-circuit); a spike is 'uncertain' when the
instrument's self-check flags it (``spike_flagged``), otherwise it passes as 'good',
as it does in real plants. A stuck sensor keeps reporting 'good': that is the hazard.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SensorSpec:
    noise_sd: float = 0.0  # absolute, in the series' unit (0.05 K for a Pt100)
    noise_fraction: float = 0.0  # relative to the value (flow meters, power)
    quantum: float = 0.0  # resolution of the transmitter or ADC
    period_s: float = 10.0
    dropout_probability: float = 0.0
    spike_probability: float = 0.0
    spike_size: float = 0.0
    spike_flagged: bool = False
    low: float = float("-inf")
    high: float = float("inf")


@dataclass(frozen=True, slots=True)
class Sample:
    value: float
    quality: str


class Sensor:
    def __init__(self, key: str, spec: SensorSpec, seed: int) -> None:
        self.key = key
        self.spec = spec
        self._rng = random.Random(f"{seed}:{key}")
        self.stuck_value: float | None = None
        self.last_value: float | None = None

    def stick(self, fallback: float) -> None:
        """Freeze at the last value reported, or at ``fallback`` before the first one."""
        self.stuck_value = self.last_value if self.last_value is not None else fallback

    def unstick(self) -> None:
        self.stuck_value = None

    @property
    def stuck(self) -> bool:
        return self.stuck_value is not None

    def sample(self, true_value: float) -> Sample | None:
        """One sample of ``true_value``; None for a dropout (nothing reaches the wire)."""
        spec = self.spec
        rng = self._rng
        # Draw the same number of random numbers every sample so that one sensor's
        # dropouts or spikes never shift its noise sequence: same seed, same run.
        u_dropout, u_spike, sign, noise = rng.random(), rng.random(), rng.random(), rng.gauss()
        if u_dropout < spec.dropout_probability:
            return None
        if self.stuck_value is not None:
            return Sample(self.stuck_value, "good")
        value = true_value + noise * (spec.noise_sd + spec.noise_fraction * abs(true_value))
        quality = "good"
        if u_spike < spec.spike_probability:
            value += spec.spike_size if sign < 0.5 else -spec.spike_size
            if spec.spike_flagged:
                quality = "uncertain"
        if spec.quantum > 0.0:
            value = round(value / spec.quantum) * spec.quantum
        if not spec.low <= value <= spec.high:
            quality = "bad"
        value = round(value, 6)
        self.last_value = value
        return Sample(value, quality)
