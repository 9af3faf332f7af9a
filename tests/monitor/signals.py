"""Synthetic signals for the monitor's tests (numpy, seeded)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
DAY_S = 86_400.0


def regular(duration_s: float, step_s: float = 10.0, start_s: float = 1.7e9) -> F64:
    return start_s + np.arange(0.0, duration_s, step_s)


def irregular(duration_s: float, seed: int, low_s: float = 2.0, high_s: float = 20.0,
              start_s: float = 1.7e9) -> F64:
    rng = np.random.default_rng(seed)
    steps = rng.uniform(low_s, high_s, int(duration_s / low_s) + 2)
    t = np.cumsum(steps)
    return start_s + t[t < duration_s]


def noise(t: F64, sigma: float, seed: int) -> F64:
    return np.random.default_rng(seed).normal(0.0, sigma, t.size)


def hinge(t: F64, start_s: float, rate_per_h: float) -> F64:
    """0 before ``start_s``, then a straight ramp of ``rate_per_h``."""
    return np.maximum(t - start_s, 0.0) * rate_per_h / 3600.0
