"""Supply disruption (a supplier's power or temperature drops, or its flow stops) and
exchanger health (UA below its clean value, hot and cold power disagreeing)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from heatlink.cluster.rule_spec import ExchangerHealthRule, SupplyDisruptionRule
from heatlink.findings import State
from services.monitor.group import (
    F64,
    I64,
    BoolA,
    Chunk,
    RuleGroup,
    VersionedRule,
    param,
    value_at,
)
from services.monitor.latch import HOLD_ANY, DynamicHold, Features
from services.monitor.small_arrays import select

I8 = np.int8
NAN_SLOPE = np.nan


def _disruption(r: VersionedRule) -> SupplyDisruptionRule:
    assert isinstance(r.spec, SupplyDisruptionRule)
    return r.spec


def _health(r: VersionedRule) -> ExchangerHealthRule:
    assert isinstance(r.spec, ExchangerHealthRule)
    return r.spec


class _KeepReference(DynamicHold):
    """A disruption stays until the value recovers to most of the level before the drop."""

    def __init__(self, group: DisruptionGroup, value: F64, reference: F64) -> None:
        self.group, self.value, self.reference = group, value, reference

    def holds(self, inst: I64, pairs: I64, state: I8) -> BoolA:  # type: ignore[override]
        g = self.group
        with np.errstate(invalid="ignore"):
            low = self.value[pairs] < (1 - g.max_drop[inst] / 2) * g.reference[inst]
        return np.asarray((state == State.DISRUPTED) & low)

    def fired(self, inst: I64, pairs: I64, new_state: I8) -> None:  # type: ignore[override]
        entered = new_state == State.DISRUPTED
        ref = self.reference[pairs]
        # Remember the level before the drop; a flow stop without one keeps the value seen.
        self.group.reference[inst[entered]] = np.where(
            np.isnan(ref[entered]), self.value[pairs[entered]], ref[entered])


class DisruptionGroup(RuleGroup):
    kind = "supply_disruption"

    def __init__(self, rules: Sequence[VersionedRule], series: I64, flow_series: I64) -> None:
        super().__init__(rules, series, param(rules, lambda r: _disruption(r).on_delay_s),
                         param(rules, lambda r: _disruption(r).off_delay_s))
        self.max_drop = param(rules, lambda r: _disruption(r).max_drop_fraction)
        self.within_s = param(rules, lambda r: _disruption(r).within_s)
        self.min_flow = param(rules, lambda r: _disruption(r).min_flow)
        self.flow_series = flow_series  # −1 when the rule names none
        self.reference = np.full(len(rules), np.nan)

    def features(self, chunk: Chunk, inst: I64, j: I64) -> Features:
        v = chunk.v[j]
        ref = np.full(j.size, np.nan)
        rows = chunk.rows(j)
        has = rows >= 0
        if has.any():
            ref[has] = chunk.history.value_at_or_before(rows[has], chunk.hist_col[j[has]],
                                                        self.within_s[inst[has]])
            # History shorter than the window (the monitor just started, a replay's first
            # minutes): the oldest sample kept is still within it, and a fair reference.
            short = has & np.isnan(ref)
            ref[short] = chunk.history.v[rows[short], 0]
        with np.errstate(invalid="ignore"):
            drop = (ref > 0) & (v < (1 - self.max_drop[inst]) * ref)
            flow = value_at(chunk, self.flow_series[inst], chunk.t_s[j])
            flow_low = flow < self.min_flow[inst]
        enter = np.where(drop | flow_low, State.DISRUPTED, State.OK).astype(I8)
        hold_a = np.where(flow_low, State.DISRUPTED, State.OK).astype(I8)
        none = np.full(j.size, np.nan)
        return Features(enter=enter, hold_a=hold_a, hold_b=np.zeros(j.size, I8), value=v,
                        slope_per_h=none, ttl_s=np.full(j.size, np.inf), reference=ref)

    def dynamic_hold(self, chunk: Chunk, inst: I64, j: I64,
                     feats: Features) -> DynamicHold | None:
        assert feats.reference is not None
        return _KeepReference(self, feats.value, feats.reference)


class HealthGroup(RuleGroup):
    """Instances watch their UA series (an output of the health derivation); the mismatch
    series is read from history at the same times."""

    kind = "exchanger_health"

    def __init__(self, rules: Sequence[VersionedRule], ua_series: I64,
                 mismatch_series: I64) -> None:
        super().__init__(rules, ua_series, param(rules, lambda r: _health(r).on_delay_s),
                         param(rules, lambda r: _health(r).off_delay_s))
        self.mismatch_series = mismatch_series
        self.ua_clean = param(rules, lambda r: _health(r).ua_clean_w_per_k)
        self.min_fraction = param(rules, lambda r: _health(r).min_ua_fraction)
        self.max_mismatch = param(rules, lambda r: _health(r).max_power_mismatch_fraction)
        self.window_s = param(rules, lambda r: _health(r).window_s)

    def features(self, chunk: Chunk, inst: I64, j: I64) -> Features:
        w = self.window_s[inst]
        rows = chunk.rows(j)
        sums = chunk.history.window(rows, chunk.hist_col[j], w)
        enough = (sums.n >= 5) & (sums.span_s >= 0.5 * w)
        ua = np.where(enough, sums.mean(), np.nan)
        m_rows = chunk.hist_row[self.mismatch_series[inst]]
        m_cols = chunk.history.last_col_at_or_before(m_rows, chunk.t_s[j])
        m_sums = chunk.history.window(m_rows, np.maximum(m_cols, 0), w)
        mismatch = np.where(enough & (m_cols >= 0), m_sums.mean(), np.nan)
        clean, frac, max_mm = self.ua_clean[inst], self.min_fraction[inst], self.max_mismatch[inst]
        with np.errstate(invalid="ignore"):
            enter = select([mismatch > max_mm, ua < frac * clean],
                           [State.SUSPECT, State.FOULED], State.OK).astype(I8)
            hold_a = np.where(mismatch > 0.8 * max_mm, State.SUSPECT, State.OK).astype(I8)
            hold_b = np.where(ua < (frac + 0.025) * clean, State.FOULED, State.OK).astype(I8)
        hold_a = np.where(enough, hold_a, HOLD_ANY).astype(I8)
        return Features(enter=enter, hold_a=hold_a, hold_b=hold_b, value=ua,
                        slope_per_h=np.full(j.size, NAN_SLOPE), ttl_s=np.full(j.size, np.inf),
                        reference=mismatch)
