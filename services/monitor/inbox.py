"""The monitor's inbox rows as engine arrays, for the partitions a replica holds.

A row is one ingest batch's readings, the binary COPY body ingest stored
(`services/ingest/copy_binary.py`); the holder keeps the readings of its series, and of a
partition taken over mid-way only those of rows at or above that partition's horizon.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg
import numpy as np

from services.ingest.copy_binary import readings_of_copy

PG_EPOCH_S = 946_684_800.0  # 2000-01-01 UTC, PostgreSQL's zero, in Unix seconds
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class HeldSeries:
    by_id: np.ndarray  # series id -> engine index; -1: not held (or unknown)
    partition_by_idx: np.ndarray  # engine index -> partition

    def arrays(self, rows: Sequence[asyncpg.Record], done: Mapping[int, int]) -> Arrays:
        """(engine index, time in s, value, quality code) of the held readings of
        ``rows`` (``xid``, ``readings``), in row order; ``done``: each held partition's
        horizon (rows of transactions below it are applied already)."""
        parts: list[Arrays] = []
        for r in rows:
            batch = readings_of_copy(r["readings"])
            sid = batch["series_id"].astype(np.int64)
            known = sid < self.by_id.size
            idx = np.where(known, self.by_id[np.where(known, sid, 0)], -1)
            keep = idx >= 0
            if not keep.any():
                continue
            if any(d > r["xid"] for d in done.values()):
                keep &= self._above_horizon(idx, r["xid"], done)
            parts.append((idx[keep], batch["ts"][keep].astype(np.int64) / 1e6 + PG_EPOCH_S,
                          batch["value"][keep].astype(np.float64),
                          batch["quality"][keep].astype(np.int8)))
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, np.int8)
        idx, t_s, v, q = (np.concatenate(c) for c in zip(*parts, strict=True))
        return idx, t_s, v, q

    def _above_horizon(self, idx: np.ndarray, xid: int, done: Mapping[int, int]
                       ) -> np.ndarray:
        """Which readings of a row of transaction ``xid`` are new to their partition."""
        behind = np.array([p for p, d in done.items() if d <= xid], np.int64)
        out: np.ndarray = np.isin(self.partition_by_idx[np.maximum(idx, 0)], behind)
        return out
