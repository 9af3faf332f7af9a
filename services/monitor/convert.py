"""From what ingest hands over (keys, datetimes, floats, quality names) to engine arrays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat

import numpy as np
from numpy.typing import NDArray

from heatlink.quality import QUALITY_CODES


@dataclass(frozen=True)
class ReadingArrays:
    idx: NDArray[np.int64]
    t_s: NDArray[np.float64]
    values: NDArray[np.float64]
    quality: NDArray[np.int8]
    unknown: int  # readings of series the monitor does not know (dropped)

    @classmethod
    def from_lists(cls, index: Mapping[str, int], series_keys: Sequence[str],
                   ts: Sequence[datetime], values: Sequence[float],
                   quality: Sequence[str]) -> ReadingArrays:
        # One C-level pass each (map over dict look-ups), not a generator per reading:
        # this runs on the service's event loop for every stored reading.
        idx = np.fromiter(map(index.get, series_keys, repeat(-1)), dtype=np.int64,
                          count=len(series_keys))
        # Batches usually share few distinct timestamps and quality names: convert each once.
        stamps = {t: t.timestamp() for t in set(ts)}
        t_s = np.fromiter(map(stamps.__getitem__, ts), dtype=np.float64, count=len(ts))
        codes = {x: QUALITY_CODES.get(str(x), 2) for x in set(quality)}
        q = np.fromiter(map(codes.__getitem__, quality), dtype=np.int8, count=len(quality))
        v = np.asarray(values, dtype=np.float64)
        known = idx >= 0
        unknown = int((~known).sum())
        if unknown:
            idx, t_s, v, q = idx[known], t_s[known], v[known], q[known]
        return cls(idx, t_s, v, q, unknown)

    @classmethod
    def concat(cls, parts: Sequence[ReadingArrays]) -> ReadingArrays:
        if len(parts) == 1:
            return parts[0]
        return cls(np.concatenate([p.idx for p in parts]),
                   np.concatenate([p.t_s for p in parts]),
                   np.concatenate([p.values for p in parts]),
                   np.concatenate([p.quality for p in parts]),
                   sum(p.unknown for p in parts))
