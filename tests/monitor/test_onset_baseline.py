"""The onset fit's baselines (`signal_rules._baseline_starts`): searched in the series'
history times, they start where comparing every pair of samples in the window says, also
over repeated times and windows clipped at the history's first column."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from services.monitor import signal_rules


def pairwise_starts(t: np.ndarray, c: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The definition: how many samples of each window lie more than the baseline's length
    before each sample."""
    tt = t[idx] - t[c][:, None]
    before = tt[:, None, :] < (tt - signal_rules.ONSET_BASELINE_S)[:, :, None]
    return np.asarray(before.sum(axis=2))


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300), k=st.integers(2, 60),
       m=st.integers(1, 30))
def test_baselines_start_where_comparing_every_pair_says(seed: int, n: int, k: int,
                                                          m: int) -> None:
    rng = np.random.default_rng(seed)
    # A history of nondecreasing times, some repeated, sampled 1 to 60 s apart.
    t = np.cumsum(rng.choice([0.0, 1.0, 10.0, 60.0], size=n))
    c = rng.integers(0, n, size=m)
    idx = np.maximum(c[:, None] - np.arange(k - 1, -1, -1)[None, :], 0)
    found = signal_rules._baseline_starts(t, c, idx, k)
    assert np.array_equal(found, pairwise_starts(t, c, idx))
