"""Per-series bookkeeping of the engine: index, last values, derived series, history rows,
and the building of rule groups over them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from heatlink.cluster.rule_spec import (
    BandRule,
    ExchangerHealthRule,
    RampRule,
    StaleRule,
    SupplyDisruptionRule,
)
from heatlink.findings import State
from services.monitor.derive import DerivedStage
from services.monitor.group import F64, I64, BoolA, Chunk, RuleGroup, UpstreamLookup, VersionedRule
from services.monitor.history import History
from services.monitor.physics import heat_power_kw, lmtd_k
from services.monitor.plan import Plan
from services.monitor.plant_rules import DisruptionGroup, HealthGroup
from services.monitor.signal_rules import (
    LOAD_NOISE_SPAN_S,
    LOAD_WINDOW_S,
    LOOP_BASELINE_S,
    ONSET_BASELINE_S,
    ONSET_SPAN_S,
    SOURCE_DECLINE_WINDOW_S,
    SOURCE_RAMP_WINDOW_S,
    SOURCE_SLOPE_WINDOW_S,
    SUPPLY_SLOPE_WINDOW_S,
    BandGroup,
    RampGroup,
    RampLink,
    SourceLink,
    ThermalLink,
)
from services.monitor.stale import StaleGroup

if TYPE_CHECKING:
    from services.monitor.settings import Counters, EngineConfig


def ua_key(rule_id: str) -> str:
    return f"{rule_id}#ua_w_per_k"


def mismatch_key(rule_id: str) -> str:
    return f"{rule_id}#power_mismatch_fraction"


def _power_formula(values: F64, rows: I64) -> tuple[F64, BoolA]:
    # Heat exchanged, whichever way it flows: the cluster file names a side's "in" and
    # "out" by its pipes, and rules compare levels (a drop to half), not directions.
    p = np.abs(heat_power_kw(values[:, 0], values[:, 1], values[:, 2]))
    return p[:, None], np.ones(p.size, dtype=bool)


class SeriesTable:
    def __init__(self, plan: Plan, rules: Sequence[VersionedRule], start_s: float,
                 config: EngineConfig) -> None:
        self.plan = plan
        keys = list(plan.series) + [d.key for d in plan.derived]
        health = [r for r in rules if isinstance(r.spec, ExchangerHealthRule)]
        for r in health:
            keys += [ua_key(r.spec.id), mismatch_key(r.spec.id)]
        self.keys = keys
        self.index = {k: i for i, k in enumerate(keys)}
        self.measured = len(plan.series)
        n = len(keys)
        self.last_t = np.full(n, start_s)  # "seen" from the start: stale counts from there
        self.watermark = np.full(n, -np.inf)
        self.last_v = np.full(n, np.nan)
        self.flat_since = np.full(n, start_s)
        # When the source said the series went offline (quality unknown); NaN while alive.
        self.dead_since = np.full(n, np.nan)
        self.flat_tol = np.zeros(n)
        self.energy_kwh = np.zeros(n)
        self._power_rows = np.zeros(n, dtype=bool)
        self.max_skew_s = config.max_skew_s
        self.energy_max_gap_s = config.energy_max_gap_s
        self._power = DerivedStage(
            np.array([[self.index[d.flow], self.index[d.temp_in], self.index[d.temp_out]]
                      for d in plan.derived], dtype=np.int64).reshape(-1, 3),
            np.array([[self.index[d.key]] for d in plan.derived], dtype=np.int64).reshape(-1, 1),
            _power_formula, config.max_skew_s)
        self._power_rows[[self.index[d.key] for d in plan.derived]] = True
        self._health_min_dt = np.array([r.spec.min_delta_t_k for r in health
                                        if isinstance(r.spec, ExchangerHealthRule)])
        roles = ("hot_in", "hot_out", "hot_flow", "cold_in", "cold_out", "cold_flow")
        inputs = [[self.index[r.spec.series_keys()[role]] for role in roles]
                  for r in health if isinstance(r.spec, ExchangerHealthRule)]
        self._health = DerivedStage(
            np.array(inputs, dtype=np.int64).reshape(-1, 6),
            np.array([[self.index[ua_key(r.spec.id)], self.index[mismatch_key(r.spec.id)]]
                      for r in health], dtype=np.int64).reshape(-1, 2),
            self._health_formula, config.max_skew_s)
        self.history, self.hist_row = self._history(rules, config.history_capacity)

    # -- setup ---------------------------------------------------------------------------

    def series_of(self, key: str) -> int:
        try:
            return self.index[key]
        except KeyError:
            raise ValueError(f"a rule names series {key!r}, which the cluster does not "
                             "declare (measured or derived)") from None

    def _history(self, rules: Sequence[VersionedRule], capacity: int) -> tuple[History, I64]:
        keep = self._keep_s(rules)
        rows = np.full(len(self.keys), -1, dtype=np.int64)
        order = sorted(keep)
        rows[order] = np.arange(len(order))
        return History(len(order), capacity, np.array([keep[i] for i in order])), rows

    def update_keep(self, rules: Sequence[VersionedRule]) -> None:
        """After a rule change: keep as much past as the new windows need. Series that
        had no history get none (only the cluster file adds series to watch)."""
        for i, seconds in self._keep_s(rules).items():
            row = self.hist_row[i]
            if row >= 0:
                self.history.keep_s[row] = seconds

    def _keep_s(self, rules: Sequence[VersionedRule]) -> dict[int, float]:
        """Seconds of past each series' rules need, by series index."""
        keep: dict[int, float] = {}

        def need(key: str, seconds: float) -> None:
            i = self.series_of(key)
            keep[i] = max(keep.get(i, 0.0), seconds)

        for r in rules:
            s = r.spec
            if isinstance(s, BandRule) and s.predict_horizon_s > 0:
                need(s.series, s.predict_window_s)
            elif isinstance(s, RampRule):
                need(s.series, max(s.windows_s))
            elif isinstance(s, SupplyDisruptionRule):
                need(s.series, s.within_s + 60.0)
                if s.flow_series:
                    need(s.flow_series, 60.0)
            elif isinstance(s, ExchangerHealthRule):
                need(ua_key(s.id), s.window_s)
                need(mismatch_key(s.id), s.window_s)
        # A ramp-down is read over two windows half a minute apart.
        decline_s = max(SOURCE_DECLINE_WINDOW_S + SOURCE_SLOPE_WINDOW_S,
                        ONSET_SPAN_S + ONSET_BASELINE_S) + 60.0
        for model in self.plan.recipients.values():
            for key in model.supply_series:
                need(key, 60.0)
            for key in (*model.source_power_series, *model.loop_temp_series):
                need(key, decline_s)
            if model.supply_flow_series:
                need(model.supply_flow_series, 60.0)
        for temps in self.plan.supply_loop_temps.values():
            for key in temps:
                need(key, decline_s)
        for powers, flow in self.plan.supply_sources.values():
            for key in powers:
                need(key, decline_s)
            if flow:
                need(flow, 60.0)
        for model in self.plan.ramp_models.values():
            for key in model.supply_series:
                need(key, model.pipe_delay_s + SUPPLY_SLOPE_WINDOW_S + 60.0)
            if model.warm_share_series:
                need(model.warm_share_series, 60.0)
            for key in model.source_power_series:
                need(key, max(SOURCE_SLOPE_WINDOW_S + SOURCE_RAMP_WINDOW_S,
                              ONSET_SPAN_S + ONSET_BASELINE_S) + 60.0)
            for key in model.loop_temp_series:
                need(key, max(LOOP_BASELINE_S, ONSET_SPAN_S + ONSET_BASELINE_S) + 60.0)
            for key in model.source_load_series:
                if key:
                    need(key, max(LOAD_WINDOW_S, LOAD_NOISE_SPAN_S) + 60.0)
            if model.supply_flow_series:
                need(model.supply_flow_series, 60.0)
        return keep

    def _health_formula(self, values: F64, rows: I64) -> tuple[F64, BoolA]:
        hot_in, hot_out, hot_flow, cold_in, cold_out, cold_flow = values.T
        q_hot = np.abs(heat_power_kw(hot_flow, hot_in, hot_out))
        q_cold = np.abs(heat_power_kw(cold_flow, cold_out, cold_in))
        lmtd = lmtd_k(hot_in, hot_out, cold_in, cold_out)
        q_mean = (q_hot + q_cold) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            ua = q_mean * 1000.0 / lmtd
            mismatch = np.abs(q_hot - q_cold) / q_mean
        min_dt = self._health_min_dt[rows]
        valid = ((np.abs(hot_in - hot_out) >= min_dt) & (np.abs(cold_out - cold_in) >= min_dt)
                 & np.isfinite(lmtd) & (q_mean > 0))
        return np.stack([ua, mismatch], axis=1), valid

    def build_groups(self, rules: Sequence[VersionedRule], upstream_lost: UpstreamLookup
                     ) -> tuple[list[RuleGroup], StaleGroup]:
        by_kind: dict[type, list[VersionedRule]] = {}
        for r in rules:
            by_kind.setdefault(type(r.spec), []).append(r)

        def idx(rs: Sequence[VersionedRule]) -> I64:
            return np.array([self.series_of(r.spec.series) for r in rs], dtype=np.int64)

        bands = by_kind.get(BandRule, [])
        plain = [r for r in bands if r.spec.id not in self.plan.recipients]
        thermal = [r for r in bands if r.spec.id in self.plan.recipients]
        links = []
        for r in thermal:
            m = self.plan.recipients[r.spec.id]
            links.append(ThermalLink(m.tau_s, m.final_value,
                                     tuple((rid, int(st)) for rid, st in m.upstream),
                                     tuple(self.series_of(k) for k in m.supply_series),
                                     tuple(self.series_of(k) for k in m.source_power_series),
                                     self.series_of(m.supply_flow_series)
                                     if m.supply_flow_series else -1,
                                     tuple(self.series_of(k) for k in m.loop_temp_series)))
        limits: dict[str, tuple[float, float]] = {}
        for r in bands:
            if isinstance(r.spec, BandRule) and r.spec.series not in limits:
                limits[r.spec.series] = (np.nan if r.spec.low is None else r.spec.low,
                                         np.nan if r.spec.high is None else r.spec.high)
        ramps = by_kind.get(RampRule, [])
        lim = [limits.get(r.spec.series, (np.nan, np.nan)) for r in ramps]
        ramp_links: list[RampLink | None] = []
        for r in ramps:
            rm = self.plan.ramp_models.get(r.spec.id)
            ramp_links.append(None if rm is None or rm.warm_share_series is None
                              or not rm.supply_series else RampLink(
                rm.tau_s, rm.final_value, rm.pipe_delay_s, rm.supply_max_c,
                self.series_of(rm.supply_series[0]), self.series_of(rm.warm_share_series),
                tuple(self.series_of(k) for k in rm.source_power_series),
                self.series_of(rm.supply_flow_series) if rm.supply_flow_series else -1,
                tuple(self.series_of(k) for k in rm.loop_temp_series),
                tuple(self.series_of(k) if k else -1 for k in rm.source_load_series)))
        disruptions = by_kind.get(SupplyDisruptionRule, [])
        flows = np.array([self.series_of(r.spec.flow_series)
                          if isinstance(r.spec, SupplyDisruptionRule) and r.spec.flow_series
                          else -1 for r in disruptions], dtype=np.int64)
        health = by_kind.get(ExchangerHealthRule, [])
        stale = by_kind.get(StaleRule, [])
        for r in stale:
            if isinstance(r.spec, StaleRule):
                i = self.series_of(r.spec.series)
                self.flat_tol[i] = max(self.flat_tol[i], r.spec.flat_tolerance)
        groups: list[RuleGroup] = [
            DisruptionGroup(disruptions, idx(disruptions), flows),
            BandGroup(plain, idx(plain), [None] * len(plain), upstream_lost,
                      [tuple((rid, int(st)) for rid, st in
                             self.plan.supply_upstream.get(r.spec.id, ()))
                       for r in plain],
                      [self._source_link(r.spec.id) for r in plain]),
            RampGroup(ramps, idx(ramps), np.array([a for a, _ in lim]),
                      np.array([b for _, b in lim]), ramp_links),
            HealthGroup(health, np.array([self.index[ua_key(r.spec.id)] for r in health],
                                         dtype=np.int64),
                        np.array([self.index[mismatch_key(r.spec.id)] for r in health],
                                 dtype=np.int64)),
            # Recipients last: they read the upstream groups' transitions of the same chunk.
            BandGroup(thermal, idx(thermal), links, upstream_lost),
        ]
        return groups, StaleGroup(stale, idx(stale))

    def _source_link(self, rule_id: str) -> SourceLink | None:
        powers, flow = self.plan.supply_sources.get(rule_id, ((), None))
        if not powers or flow is None:
            return None
        return SourceLink(tuple(self.series_of(k) for k in powers), self.series_of(flow),
                          tuple(self.series_of(k) for k in
                                self.plan.supply_loop_temps.get(rule_id, ())))

    # -- per batch -----------------------------------------------------------------------

    def new_only(self, idx: I64, t_s: F64, v: F64, counters: Counters
                 ) -> tuple[I64, F64, F64]:
        """Sorted by (series, time), without readings at or before the series' watermark
        (already evaluated: a replay) and without repeats inside the batch."""
        order = np.lexsort((t_s, idx))
        idx, t_s, v = idx[order], t_s[order], v[order]
        repeat = np.r_[False, (idx[1:] == idx[:-1]) & (t_s[1:] == t_s[:-1])]
        new = (t_s > self.watermark[idx]) & ~repeat
        counters.already_seen += int((~new).sum())
        counters.samples += int(new.sum())
        return idx[new], t_s[new], v[new]

    def derive(self, idx: I64, t_s: F64, v: F64, counters: Counters) -> tuple[I64, F64, F64]:
        parts_i, parts_t, parts_v = [idx], [t_s], [v]
        if self._power.inputs.size:
            pi, pt, pv = self._power.compute(idx, t_s, v)
            parts_i.append(pi)
            parts_t.append(pt)
            parts_v.append(pv)
        if self._health.inputs.size:
            hi, ht, hv = self._health.compute(np.concatenate(parts_i), np.concatenate(parts_t),
                                              np.concatenate(parts_v))
            parts_i.append(hi)
            parts_t.append(ht)
            parts_v.append(hv)
        if len(parts_i) == 1:
            return idx, t_s, v
        all_i, all_t, all_v = (np.concatenate(parts_i), np.concatenate(parts_t),
                               np.concatenate(parts_v))
        order = np.lexsort((all_t, all_i))
        all_i, all_t, all_v = all_i[order], all_t[order], all_v[order]
        keep = (all_t > self.watermark[all_i]) & np.r_[
            True, (all_i[1:] != all_i[:-1]) | (all_t[1:] != all_t[:-1])]
        counters.derived += int(keep.sum()) - idx.size
        return all_i[keep], all_t[keep], all_v[keep]

    def track(self, idx: I64, t_s: F64, v: F64) -> None:
        """Last value and time, start of the current run of equal values, delivered energy."""
        first = np.r_[True, idx[1:] != idx[:-1]]
        last = np.r_[idx[1:] != idx[:-1], True]
        prev_v = np.where(first, self.last_v[idx], np.r_[np.nan, v[:-1]])
        prev_t = np.where(first, self.watermark[idx], np.r_[-np.inf, t_s[:-1]])
        with np.errstate(invalid="ignore"):
            changed = ~(np.abs(v - prev_v) <= self.flat_tol[idx])
        pos = np.arange(idx.size)
        run_start = np.maximum.accumulate(np.where(changed | first, pos, 0))
        since = np.where(changed[run_start], t_s[run_start], self.flat_since[idx])
        power = self._power_rows[idx]
        dt = t_s - prev_t
        use = power & (dt <= self.energy_max_gap_s) & np.isfinite(prev_v)
        if use.any():
            np.add.at(self.energy_kwh, idx[use], (v[use] + prev_v[use]) / 2 * dt[use] / 3600)
        self.flat_since[idx[last]] = since[last]
        self.last_v[idx[last]] = v[last]
        self.last_t[idx[last]] = t_s[last]
        self.watermark[idx[last]] = t_s[last]

    def mark_dead(self, idx: I64, t_s: F64) -> None:
        """The source declared these series offline at these times: stale from then, unless
        a newer value already came."""
        newer = t_s >= self.watermark[idx]
        idx, t_s = idx[newer], t_s[newer]
        latest = np.full(self.dead_since.size, -np.inf)
        np.maximum.at(latest, idx, t_s)
        hit = np.isfinite(latest)
        with np.errstate(invalid="ignore"):
            self.dead_since[hit] = np.fmin(self.dead_since[hit], latest[hit])

    def revive(self) -> None:
        """A value newer than a series' death brings it back."""
        with np.errstate(invalid="ignore"):
            self.dead_since[self.last_t > self.dead_since] = np.nan

    def chunks(self, idx: I64, t_s: F64, v: F64) -> Iterator[Chunk]:
        """Pieces small enough for history, in time order, each appended before yielding."""
        limit = self.history.max_batch
        for sel in _split(idx, t_s, limit):
            ci, ct, cv = idx[sel], t_s[sel], v[sel]
            starts = np.flatnonzero(np.r_[True, ci[1:] != ci[:-1]])
            counts = np.diff(np.r_[starts, ci.size])
            rank = np.arange(ci.size) - np.repeat(starts, counts)
            rows = self.hist_row[ci]
            has = rows >= 0
            cols = np.full(ci.size, -1, dtype=np.int64)
            cols[has] = self.history.append(rows[has], ct[has], cv[has])
            yield Chunk(idx=ci, t_s=ct, v=cv, rank=rank, hist_col=cols, history=self.history,
                        hist_row=self.hist_row)


def _split(idx: I64, t_s: F64, limit: int) -> list[I64]:
    """Selections (sorted by series, time) with at most ``limit`` samples per series, cut
    at common times so every piece covers one stretch of time for all series."""
    counts = np.bincount(idx) if idx.size else np.zeros(0, np.int64)
    if idx.size == 0 or counts.max() <= limit:
        return [np.arange(idx.size)]
    busiest = int(counts.argmax())
    times = t_s[idx == busiest]
    edges = times[limit::limit]  # each piece starts at one of these times
    piece = np.searchsorted(edges, t_s, "right")
    out: list[I64] = []
    for k in range(edges.size + 1):
        sel = np.flatnonzero(piece == k)
        for sub in _split(idx[sel], t_s[sel], limit):
            out.append(sel[sub])
    return out


__all__ = ["SeriesTable", "State"]
