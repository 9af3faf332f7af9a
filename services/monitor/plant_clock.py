"""The plant's clock, per site: staleness is judged on source time, not on the service's.

A gateway replaying its backlog, or a scenario replayed faster than real time, delivers
readings whose source times run at their own pace; judged on the service's wall clock,
every series would look stale at the start and a real gap in the replay would not show.
Each site's clock is the newest source time its readings carried, moved on by the wall
clock since that reading came (a site that falls silent as a whole still grows stale),
and never ahead of the wall clock. Before a site's first reading it is the wall clock.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


class PlantClock:
    def __init__(self, keys: Sequence[str]) -> None:
        sites = sorted({k.split("/", 1)[0] for k in keys})
        index = {s: i for i, s in enumerate(sites)}
        self.site_of: I64 = np.array([index[k.split("/", 1)[0]] for k in keys],
                                     dtype=np.int64)
        self.newest_s = np.full(len(sites), -np.inf)  # newest source time per site
        self.seen_at_s = np.full(len(sites), -np.inf)  # wall time it arrived

    def saw(self, idx: I64, t_s: F64, now_s: float) -> None:
        """Readings (series index, source time) arrived at wall time ``now_s``."""
        if idx.size == 0:
            return
        newest = np.full(self.newest_s.size, -np.inf)
        np.maximum.at(newest, self.site_of[idx], t_s)
        moved = newest > self.newest_s
        self.newest_s[moved] = newest[moved]
        self.seen_at_s[moved] = now_s

    def now_by_series(self, now_s: float) -> F64:
        """Each series' plant time at wall time ``now_s``."""
        known = np.isfinite(self.newest_s)
        site_now = np.full(self.newest_s.size, now_s)
        site_now[known] = np.minimum(
            self.newest_s[known] + np.maximum(now_s - self.seen_at_s[known], 0.0), now_s)
        out: F64 = site_now[self.site_of]
        return out
