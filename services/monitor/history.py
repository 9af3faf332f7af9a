"""Recent samples of many series in one numpy array, with running sums for window statistics.

Each row holds one series' samples in time order from column 0. Next to time and value it
keeps inclusive prefix sums of t, v, t·t and t·v, so the least-squares slope over any
window costs O(1) after a vectorised binary search for the window's start. Times are
stored relative to a per-row origin that moves when the row is compacted: that keeps the
sums small enough for float64 to subtract them without losing the slope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

# Up to this many rows a search goes row by row (`History._search_each`).
FEW_ROWS = 32


@dataclass(frozen=True)
class WindowSums:
    n: I64
    t: F64
    v: F64
    tt: F64
    tv: F64
    span_s: F64

    def slope_per_s(self) -> F64:
        """Least-squares slope; NaN where fewer than two samples or no time spread."""
        n = self.n.astype(np.float64)
        denom = n * self.tt - self.t * self.t
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = (n * self.tv - self.t * self.v) / denom
        # Cancellation leaves a tiny denominator where all times are (nearly) equal.
        return np.where((self.n >= 2) & (self.span_s > 0), slope, np.nan)

    def mean(self) -> F64:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.n > 0, self.v / self.n, np.nan)


class History:
    """Samples of ``rows`` series, at most ``capacity`` each, keeping ``keep_s`` of past."""

    def __init__(self, rows: int, capacity: int, keep_s: float | F64) -> None:
        if capacity < 8:
            raise ValueError("capacity must be at least 8")
        self.capacity = capacity
        self.keep_s = np.broadcast_to(np.asarray(keep_s, dtype=np.float64), (rows,)).copy()
        self.length = np.zeros(rows, dtype=np.int64)
        self.origin_s = np.zeros(rows, dtype=np.float64)
        shape = (rows, capacity)
        self.t = np.zeros(shape)
        self.v = np.zeros(shape)
        self.pt = np.zeros(shape)
        self.pv = np.zeros(shape)
        self.ptt = np.zeros(shape)
        self.ptv = np.zeros(shape)

    @property
    def max_batch(self) -> int:
        """Most samples one row may receive in one `append`."""
        return self.capacity // 4

    def append(self, rows: I64, t_s: F64, v: F64) -> I64:
        """Add samples sorted by (row, t), each newer than its row's last; returns columns."""
        if rows.size == 0:
            return np.zeros(0, dtype=np.int64)
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        counts = np.diff(np.r_[starts, rows.size])
        group_rows = rows[starts]
        if counts.max() > self.max_batch:
            raise ValueError(f"at most {self.max_batch} samples per row and call")
        full = group_rows[self.length[group_rows] + counts > self.capacity]
        for row in full:  # rare: once per (capacity − kept) samples of a row
            self._compact(int(row))
        rank = np.arange(rows.size) - np.repeat(starts, counts)
        cols = self.length[rows] + rank
        empty = self.length[group_rows] == 0
        self.origin_s[group_rows[empty]] = t_s[starts[empty]]
        tr = t_s - self.origin_s[rows]
        self.t[rows, cols] = tr
        self.v[rows, cols] = v
        for prefix, term in ((self.pt, tr), (self.pv, v), (self.ptt, tr * tr),
                             (self.ptv, tr * v)):
            csum = np.cumsum(term)
            before = np.r_[0.0, csum][starts]  # cumulative sum before each group
            within = csum - np.repeat(before, counts)
            last = np.where(self.length[group_rows] > 0,
                            prefix[group_rows, np.maximum(self.length[group_rows] - 1, 0)], 0.0)
            prefix[rows, cols] = within + np.repeat(last, counts)
        self.length[group_rows] += counts
        return cols

    def _compact(self, row: int) -> None:
        n = int(self.length[row])
        t = self.t[row, :n]
        keep_from = int(np.searchsorted(t, t[n - 1] - self.keep_s[row], side="left"))
        keep_from = max(keep_from, n - (self.capacity - self.max_batch))  # room for a batch
        m = n - keep_from
        shift = t[keep_from]
        tr = t[keep_from:] - shift
        v = self.v[row, keep_from:n].copy()
        self.origin_s[row] += shift
        self.t[row, :m] = tr
        self.v[row, :m] = v
        self.pt[row, :m] = np.cumsum(tr)
        self.pv[row, :m] = np.cumsum(v)
        self.ptt[row, :m] = np.cumsum(tr * tr)
        self.ptv[row, :m] = np.cumsum(tr * v)
        self.length[row] = m

    def first_at_or_after(self, rows: I64, hi: I64, t_rel: F64) -> I64:
        """First column in [0, hi] of each row with t ≥ t_rel (hi where none is)."""
        if rows.size <= FEW_ROWS:
            return self._search_each(rows, hi, t_rel, "left")
        return self._search_vectorised(rows, hi, t_rel)

    def _search_each(self, rows: I64, hi: I64, t_rel: F64, side: Literal["left", "right"]
                     ) -> I64:
        """One `searchsorted` per row: a handful of rows (the common case, each chunk of a
        batch) cost microseconds, where the vectorised search costs a dozen numpy calls
        per halving whatever the number of rows. A NaN target finds column 0, as the
        vectorised search does (``t < NaN`` is false)."""
        out = np.zeros(rows.size, dtype=np.int64)
        t = self.t
        targets = [float(t_rel)] * rows.size if np.ndim(t_rel) == 0 else t_rel.tolist()
        for i, (row, end, target) in enumerate(zip(rows.tolist(), hi.tolist(), targets,
                                                   strict=True)):
            if target == target:  # not NaN
                out[i] = t[row, :end].searchsorted(target, side)
        return out

    def _search_vectorised(self, rows: I64, hi: I64, t_rel: F64) -> I64:
        """Binary search of every row at once: first column in [0, hi] with t ≥ t_rel."""
        lo = np.zeros_like(hi)
        hi = hi.copy()
        while True:
            active = lo < hi
            if not active.any():
                return lo
            mid = (lo + hi) // 2
            below = self.t[rows, mid] < t_rel
            lo = np.where(active & below, mid + 1, lo)
            hi = np.where(active & ~below, mid, hi)

    def window(self, rows: I64, cols: I64, window_s: F64 | float) -> WindowSums:
        """Sums over the samples of each row in (t[col] − window_s, t[col]]... inclusive."""
        end_t = self.t[rows, cols]
        start = self.first_at_or_after(rows, cols, end_t - window_s)
        sums = []
        for prefix, term in ((self.pt, self.t), (self.pv, self.v)):
            sums.append(prefix[rows, cols] - prefix[rows, start] + term[rows, start])
        st = self.t[rows, start]
        stt = self.ptt[rows, cols] - self.ptt[rows, start] + st * st
        stv = self.ptv[rows, cols] - self.ptv[rows, start] + st * self.v[rows, start]
        return WindowSums(n=cols - start + 1, t=sums[0], v=sums[1], tt=stt, tv=stv,
                          span_s=end_t - st)

    def value_at_or_before(self, rows: I64, cols: I64, back_s: F64 | float) -> F64:
        """Value of each row at time t[col] − back_s (the last sample not after it); NaN
        when the row's history does not reach back that far."""
        target = self.t[rows, cols] - back_s
        first_after = self.first_at_or_after(rows, cols, np.nextafter(target, np.inf))
        idx = first_after - 1
        ok = idx >= 0
        return np.where(ok, self.v[rows, np.maximum(idx, 0)], np.nan)

    def last_col_at_or_before(self, rows: I64, t_abs: F64) -> I64:
        """Column of each row's last sample at or before absolute time ``t_abs``; −1 if none."""
        hi = self.length[rows]
        if rows.size <= FEW_ROWS:
            # The last sample at or before t is the one before the first after it.
            after = self._search_each(rows, hi, t_abs - self.origin_s[rows], "right")
            return np.where(np.isnan(t_abs), -1, after - 1)
        t_rel = np.nextafter(t_abs - self.origin_s[rows], np.inf)
        lo = np.zeros_like(hi)
        while True:  # first column with t > t_rel, in [0, length]
            active = lo < hi
            if not active.any():
                return lo - 1
            mid = (lo + hi) // 2
            below = self.t[rows, np.minimum(mid, self.capacity - 1)] < t_rel
            lo = np.where(active & below, mid + 1, lo)
            hi = np.where(active & ~below, mid, hi)
