"""What every kind of sample-driven rule shares: its instances, their pairing with the
samples of a chunk, and the latch walk. Kinds differ only in `features`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from heatlink.cluster.rule_spec import (
    BandRule,
    ExchangerHealthRule,
    RampRule,
    StaleRule,
    SupplyDisruptionRule,
)
from services.monitor.history import History
from services.monitor.latch import DynamicHold, Features, Fired, LatchState

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
BoolA = NDArray[np.bool_]

AnyRule = BandRule | RampRule | StaleRule | SupplyDisruptionRule | ExchangerHealthRule


@dataclass(frozen=True)
class VersionedRule:
    """A rule as the monitor runs it: the spec and the version number that produced it."""

    spec: AnyRule
    version: int


@dataclass
class Chunk:
    """New samples of one evaluation step, sorted by (series, time), each newer than its
    series' last; ``rank`` counts a series' samples within the chunk from 0."""

    idx: I64
    t_s: F64
    v: F64
    rank: I64
    hist_col: I64  # column in `history` (−1 when the series keeps none)
    history: History
    hist_row: I64  # per series index: row in `history` or −1
    # What a rule derived from this step's history and others ask for again (a heat
    # output's onset fit, read by the tank's ramps and bands and the supply's band).
    memo: dict[tuple[object, ...], object] = field(default_factory=dict)

    def rows(self, j: I64) -> I64:
        return self.hist_row[self.idx[j]]


# (upstream instance refs of one thermal rule instance, sample times) -> supply lost at each
UpstreamLookup = Callable[[Sequence[tuple[str, int]], F64], NDArray[np.bool_]]


class RuleGroup:
    """All instances of one kind; instance i watches series ``series[i]``."""

    kind = ""

    def __init__(self, rules: Sequence[VersionedRule], series: I64, on_delay_s: F64,
                 off_delay_s: F64) -> None:
        self.rules = list(rules)
        self.series = series
        self.latch = LatchState(on_delay_s, off_delay_s)
        self._order = np.argsort(series, kind="stable")
        self._sorted = series[self._order]

    def __len__(self) -> int:
        return len(self.rules)

    def pairs(self, chunk: Chunk) -> tuple[I64, I64]:
        """Every (instance, sample) with the sample on the instance's series."""
        left = np.searchsorted(self._sorted, chunk.idx, "left")
        count = np.searchsorted(self._sorted, chunk.idx, "right") - left
        total = int(count.sum())
        j = np.repeat(np.arange(chunk.idx.size), count)
        within = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
        inst = self._order[np.repeat(left, count) + within]
        return inst, j

    def features(self, chunk: Chunk, inst: I64, j: I64) -> Features:
        raise NotImplementedError

    def dynamic_hold(self, chunk: Chunk, inst: I64, j: I64,
                     feats: Features) -> DynamicHold | None:
        return None

    def run(self, chunk: Chunk) -> tuple[Fired, I64, I64, Features | None]:
        if not self.rules:
            return Fired(), np.zeros(0, np.int64), np.zeros(0, np.int64), None
        inst, j = self.pairs(chunk)
        if inst.size == 0:
            return Fired(), inst, j, None
        feats = self.features(chunk, inst, j)
        dyn = self.dynamic_hold(chunk, inst, j, feats)
        fired = self.latch.run(inst, chunk.rank[j], chunk.t_s[j], feats, dyn)
        return fired, inst, j, feats


def param(rules: Sequence[VersionedRule], get: Callable[[VersionedRule], float | None]) -> F64:
    """One float per instance; None becomes NaN (comparisons with it are False)."""
    return np.array([np.nan if (x := get(r)) is None else float(x) for r in rules],
                    dtype=np.float64)


def value_at(chunk: Chunk, series: I64, t_s: F64) -> F64:
    """Latest value of each series at or before ``t_s`` from history; NaN when unknown."""
    out = np.full(series.size, np.nan)
    rows = np.where(series >= 0, chunk.hist_row[np.maximum(series, 0)], -1)
    has = rows >= 0
    if has.any():
        cols = chunk.history.last_col_at_or_before(rows[has], t_s[has])
        out[has] = np.where(cols >= 0, chunk.history.v[rows[has], np.maximum(cols, 0)], np.nan)
    return out
