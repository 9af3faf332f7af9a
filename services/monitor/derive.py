"""Series computed from other series (heat power, exchanger UA), sample-and-hold, vectorised.

An output sample is made at every source time at which any input of it has a sample,
from the latest value of each input at that time. Inputs older than ``max_skew_s`` make
no output: a stale flow meter must not keep a power alive.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
BoolA = NDArray[np.bool_]

# (values of shape (m, K), row d of each) -> (outputs (m, n_out), valid (m,))
Formula = Callable[[F64, I64], tuple[F64, BoolA]]


class DerivedStage:
    """Computes ``outputs[d, :]`` from ``inputs[d, :]`` for every d with the same formula."""

    def __init__(self, inputs: I64, outputs: I64, formula: Formula, max_skew_s: float) -> None:
        self.inputs = inputs  # (D, K) series indices
        self.outputs = outputs  # (D, n_out) series indices
        self.formula = formula
        self.max_skew_s = max_skew_s
        d, k = inputs.shape
        self.last_v = np.full((d, k), np.nan)
        self.last_t = np.full((d, k), -np.inf)
        flat = inputs.ravel()
        self._order = np.argsort(flat, kind="stable")
        self._sorted_series = flat[self._order]

    def compute(self, idx: I64, t_s: F64, v: F64) -> tuple[I64, F64, F64]:
        """Output samples (series, t, value) for input samples sorted by time per series."""
        _n_d, n_k = self.inputs.shape
        left = np.searchsorted(self._sorted_series, idx, "left")
        right = np.searchsorted(self._sorted_series, idx, "right")
        count = right - left
        total = int(count.sum())
        if total == 0:
            return (np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
        sample = np.repeat(np.arange(idx.size), count)
        within = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
        pair = self._order[np.repeat(left, count) + within]
        ev_d, ev_k = pair // n_k, pair % n_k
        ev_t, ev_v = t_s[sample], v[sample]
        order = np.lexsort((ev_t, ev_d))
        ev_d, ev_k, ev_t, ev_v = ev_d[order], ev_k[order], ev_t[order], ev_v[order]
        new_row = np.r_[True, (ev_d[1:] != ev_d[:-1]) | (ev_t[1:] != ev_t[:-1])]
        out_d, out_t = ev_d[new_row], ev_t[new_row]
        t_min = float(ev_t.min())
        span = float(ev_t.max()) - t_min + 1.0
        out_key = out_d * span + (out_t - t_min)
        values = np.empty((out_d.size, n_k))
        times = np.empty((out_d.size, n_k))
        for k in range(n_k):
            mine = ev_k == k
            kd, kt, kv = ev_d[mine], ev_t[mine], ev_v[mine]
            key = kd * span + (kt - t_min)
            at = np.searchsorted(key, out_key, "right") - 1
            found = at >= 0
            found[found] = kd[at[found]] == out_d[found]
            safe = np.maximum(at, 0)
            values[:, k] = np.where(found, kv[safe] if kv.size else np.nan,
                                    self.last_v[out_d, k])
            times[:, k] = np.where(found, kt[safe] if kt.size else -np.inf,
                                   self.last_t[out_d, k])
            if kd.size:
                last = np.r_[kd[1:] != kd[:-1], True]
                self.last_v[kd[last], k] = kv[last]
                self.last_t[kd[last], k] = kt[last]
        fresh = np.all(out_t[:, None] - times <= self.max_skew_s, axis=1)
        outputs, valid = self.formula(values, out_d)
        ok = fresh & valid & np.all(np.isfinite(outputs), axis=1)
        n_out = self.outputs.shape[1]
        out_series = self.outputs[out_d[ok]].ravel()
        out_times = np.repeat(out_t[ok], n_out)
        return out_series, out_times, outputs[ok].ravel()
