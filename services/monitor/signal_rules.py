"""Band (limits with deadband, predicted breach) and ramp (least-squares slope) rules."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from heatlink.cluster.rule_spec import BandRule, RampRule
from heatlink.findings import State
from services.monitor.group import (
    F64,
    I64,
    Chunk,
    RuleGroup,
    UpstreamLookup,
    VersionedRule,
    param,
    value_at,
)
from services.monitor.latch import HOLD_ANY, Features
from services.monitor.physics import (
    heat_power_kw,
    time_to_limit_first_order_s,
    time_to_limit_from_slope_s,
)
from services.monitor.small_arrays import nan_to_num, select

I8 = np.int8
DECELERATION_RATIO = 0.8


@dataclass(frozen=True)
class ThermalLink:
    """A recipient with a first-order thermal model and the upstream rule instances whose
    non-OK state means its warm supply is lost."""

    tau_s: float
    final_value: float
    upstream: tuple[tuple[str, int], ...]  # (rule id, state code meaning "lost")
    supply_series: tuple[int, ...] = ()  # series indices of warm-water supply temperatures
    # The supplier's heat output feeding the first supply, and that supply's flow: a
    # sustained ramp-down there is a loss coming (`SourceDecline`).
    source_power: tuple[int, ...] = ()
    supply_flow: int = -1
    loop_temps: tuple[int, ...] = ()  # as `RampLink.loop_temps`


@dataclass(frozen=True)
class RampLink:
    """A recipient whose rate of change follows its heat balance: the tank moves toward
    its inflow temperature with time constant τ, the inflow being the warm supply (which
    reaches it ``pipe_delay_s`` after leaving the exchanger) mixed with cold water."""

    tau_s: float
    cold_c: float
    pipe_delay_s: float
    supply_max_c: float
    supply: int  # series index of the exchanger's supply temperature
    warm_share: int  # series index of the warm share of the inflow, in %
    source_power: tuple[int, ...] = ()  # series indices of the supplier's heat output, kW
    supply_flow: int = -1  # series index of the exchanger's supply-side flow, m3/h
    # Series indices of the supplier's loop temperatures downstream of its heat output
    # (the exchanger's hot-side inlet, its supply): what corroborates a one-sample restart.
    loop_temps: tuple[int, ...] = ()
    # Per heat output, its source's load in % (-1 where it has none).
    source_load: tuple[int, ...] = ()


SUPPLY_SLOPE_WINDOW_S = 120.0  # short: a restart or a trip shows within a few samples
# Shorter still on the supplier's heat output: it moves the moment a furnace restarts or
# trips, by hundreds of kW against a noise of a few; three samples are enough to see it.
SOURCE_SLOPE_WINDOW_S = 30.0
# A heat output's noise is about 1 % of its level; a restart or a trip moves it by tens of
# per cent within that half minute. Changes smaller than this share say nothing.
SOURCE_MIN_CHANGE_FRACTION = 0.1
# A trip: a third of the output gone in one sample. The supplier's own disruption rule
# (the cluster's furnace-trip) pages on that one sample already, so the recipient's fall
# is predicted from it too, without waiting for a second sample to move the median. A
# rise keeps the median: a restart has no rule of its own that one spike would also trip.
SOURCE_TRIP_FRACTION = 0.3
# A restart at full heat is as sudden, but nothing else pages on it: its one sample (a third
# of the output new) counts only where a loop temperature downstream of the heat output
# rose in the same sample beyond its own noise, to more than LOOP_RISE_SIGMAS standard
# deviations above its mean over the LOOP_BASELINE_S before. Heat really arriving warms the
# loop within a sample (the hot side by about 5 sigma, the supply by 2 to 5); a lone spike
# of the heat meter moves no thermometer, and noise alone passes 3 sigma about once in a
# few hundred samples, so both together are a restart, not a coincidence.
LOOP_BASELINE_S = 120.0
LOOP_RISE_SIGMAS = 3.0
# A ramped restart (half an hour back to full heat) moves the output by a few per cent a
# minute: seen by the least-squares slope of two minutes, where its change over the window
# is five times the noise (about 1 % of the level, the slope's own error over that window),
# in two windows half a minute apart.
SOURCE_RAMP_WINDOW_S = 120.0
SOURCE_MIN_RAMP_FRACTION = 0.05
# A planned ramp-down (an hour from full output to none) moves the output by under 2 % of
# its level a minute: within a two-minute slope's noise. Over four minutes the slope's
# error is about 0.3 % a minute (a normal day's largest, over all its windows, 0.6 %);
# a decline of 1 % a minute, held in two such windows half a minute apart, is a cause.
# A day's load profile (0.03 % a minute) and a decline over weeks are far below it.
SOURCE_DECLINE_WINDOW_S = 240.0
SOURCE_MIN_DECLINE_FRACTION_PER_S = 0.01 / 60.0
# A fixed window dilutes a ramp that began within it with the flat output before (half a
# four-minute window into a ramp, its slope shows half the rate). The ramp's onset is
# fitted instead: the output's level before a candidate onset, then a straight line from
# it, over every onset in the last ONSET_SPAN_S; the ramp counts where its rate is
# ONSET_SIGMAS standard errors from none. The fit reads the median of three samples (a
# lone spike is no onset); the noise is the raw samples' scatter about the fit itself,
# baseline and line, so whatever wanders more than its sample-to-sample noise says
# widens its own error. On white noise the largest z of all onsets passes 5 about once
# in ten days and 6 about once in two hundred (simulated, 200 days at 1 %); a planned
# ramp-down of under 2 % a minute against a 1 % noise counts after about a minute and a
# half.
# The loop the output heats turns with it a minute later and, read by a thermometer of
# 0.05 K, often more clearly: the two independent instruments' evidence is added (their z
# summed over the square root of two, each at least LOOP_ONSET_MIN_SIGMAS the same way)
# against the same six sigma. The loop's turn counts only if it began no earlier than
# LOOP_ONSET_LAG_S before the output's: water does not cool before its heat goes. HX-2's
# supply drifts with the district heating's load for many minutes (z about -4, "begun"
# at the span's far end); added to a -4 sigma flicker of the flue gas begun 40 s before,
# it predicted HX-2's band lost upstream in the demo's day (seed 2, 85 900 s).
ONSET_SPAN_S = 240.0
ONSET_BASELINE_S = 120.0
ONSET_SIGMAS = 6.0
LOOP_ONSET_MIN_SIGMAS = 2.0
LOOP_ONSET_LAG_S = 20.0
ONSET_MIN_AFTER = 4
# The median of three samples of white noise varies by 0.45 of the samples' variance, but
# successive medians share samples: a sum of many varies by 1.18 times as much as a sum of
# the raw samples would (simulated), and a fitted line's error with it.
MEDIAN3_VARIANCE = 1.18

# A source's load (a setpoint in %, `Asset.load_series`) carries no noise to speak of: a
# move of a few of its quanta over three samples of a 10 s source is the source moving.
LOAD_WINDOW_S = 30.0
LOAD_MIN_CHANGE_PCT = 0.3
# A load that is measured rather than set has noise: its move must also stand this many of
# its samples' standard deviations clear of it, taken over the span before.
LOAD_SIGMAS = 6.0
LOAD_NOISE_SPAN_S = 600.0
# Below this load the heat output per load point is not known (0/0 at a cold start).
LOAD_MIN_LEVEL_PCT = 1.0


@dataclass(frozen=True)
class SourceLink:
    """The heat sources feeding a supply temperature, and the supply-side flow."""

    source_power: tuple[int, ...]
    supply_flow: int
    loop_temps: tuple[int, ...] = ()  # as `RampLink.loop_temps`


def _value_before(chunk: Chunk, j: I64, back_s: F64) -> F64:
    """Each pair's series value ``back_s`` before its sample; NaN when history is short."""
    rows = chunk.rows(j)
    out = np.full(j.size, np.nan)
    has = rows >= 0
    if has.any():
        out[has] = chunk.history.value_at_or_before(rows[has], chunk.hist_col[j[has]],
                                                    back_s[has])
    return out


def _window_stats(chunk: Chunk, j: I64, window_s: F64) -> tuple[I64, F64, F64]:
    """Sample count, time span and least-squares slope (per s) of each pair's window."""
    n, span, slope, _ = _window_fit(chunk, j, window_s)
    return n, span, slope


def _window_fit(chunk: Chunk, j: I64, window_s: F64) -> tuple[I64, F64, F64, F64]:
    """`_window_stats` and the fitted line's value at each pair's sample: where the
    series is now, without the one sample's noise."""
    rows = chunk.rows(j)
    has = rows >= 0
    n = np.zeros(j.size, dtype=np.int64)
    span = np.zeros(j.size)
    slope = np.full(j.size, np.nan)
    fitted = np.full(j.size, np.nan)
    if has.any():
        cols = chunk.hist_col[j[has]]
        sums = chunk.history.window(rows[has], cols, window_s[has])
        n[has], span[has], slope[has] = sums.n, sums.span_s, sums.slope_per_s()
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_t = sums.t / sums.n
            fitted[has] = sums.mean() + slope[has] * (chunk.history.t[rows[has], cols] - mean_t)
    return n, span, slope, fitted


class BandGroup(RuleGroup):
    kind = "band"

    def __init__(self, rules: Sequence[VersionedRule], series: I64,
                 thermal: Sequence[ThermalLink | None], upstream_lost: UpstreamLookup,
                 supply_upstream: Sequence[tuple[tuple[str, int], ...]] | None = None,
                 supply_sources: Sequence[SourceLink | None] | None = None) -> None:
        specs = [r.spec for r in rules]
        assert all(isinstance(s, BandRule) for s in specs)
        super().__init__(rules, series, param(rules, lambda r: _band(r).on_delay_s),
                         param(rules, lambda r: _band(r).off_delay_s))
        self.low = param(rules, lambda r: _band(r).low)
        self.high = param(rules, lambda r: _band(r).high)
        self.deadband = param(rules, lambda r: _band(r).deadband)
        self.window_s = param(rules, lambda r: _band(r).predict_window_s)
        self.horizon_s = param(rules, lambda r: _band(r).predict_horizon_s)
        self.min_slope_per_s = param(rules, lambda r: _band(r).predict_min_slope_per_h) / 3600
        self.thermal = list(thermal)
        self.upstream_lost = upstream_lost
        self.supply_upstream = list(supply_upstream) if supply_upstream is not None \
            else [()] * len(rules)
        self.supply_sources = list(supply_sources) if supply_sources is not None \
            else [None] * len(rules)

    def features(self, chunk: Chunk, inst: I64, j: I64) -> Features:
        v = chunk.v[j]
        low, high, db = self.low[inst], self.high[inst], self.deadband[inst]
        horizon = self.horizon_s[inst]
        w = self.window_s[inst]
        n, span, slope, fitted = _window_fit(chunk, j, w)
        n_half, _, slope_half = _window_stats(chunk, j, w / 2)
        # A value levelling off (a controller reaching its setpoint, an exponential
        # approach) is no straight line to a limit: predict only if the recent half of the
        # window falls as fast as the whole.
        steady = slope_half * slope >= DECELERATION_RATIO * slope * slope
        valid = (n >= 5) & (span >= 0.5 * w) & (n_half >= 3) \
            & (np.abs(slope) >= self.min_slope_per_s[inst])
        # A prediction once raised is held while the value keeps heading for the limit,
        # levelling or not: one noisy half-window withdraws nothing (and pages nothing
        # again when it comes back).
        held_slope = np.where(valid, slope, np.nan)
        slope = np.where(valid & steady, slope, np.nan)
        # Extrapolated from the fitted line's value now, not from the last sample: near a
        # limit, one sample's noise (0.05 K against a drift of 0.4 K/h) would move the time
        # to it by many minutes, and hold a prediction back until the noise happens to help.
        start = np.where(np.isfinite(held_slope) & np.isfinite(fitted), fitted, v)
        ttl_slope = time_to_limit_from_slope_s(start, nan_to_num(slope), low, high)
        ttl_held = time_to_limit_from_slope_s(start, nan_to_num(held_slope), low, high)
        # A drift that steepens (a supply declining ever faster as its source fades) reaches
        # the limit sooner than the whole window's line says: the early end of the range, at
        # the recent half's slope, is what a warning an hour ahead must meet.
        with np.errstate(invalid="ignore"):
            steeper = np.where(slope_half * slope > slope * slope, slope_half, slope)
        ttl_early = np.minimum(ttl_slope, time_to_limit_from_slope_s(
            start, nan_to_num(steeper), low, high))
        falling, rising = slope < 0, slope > 0
        held_falling, held_rising = held_slope < 0, held_slope > 0
        # A value that was beyond the other limit a window ago is recovering (a supply
        # coming back after a trip): its slope says where it comes from, not that it will
        # overshoot the far limit. Such a prediction would not come true.
        with np.errstate(invalid="ignore"):
            for part in (0.25, 0.5, 0.75, 1.0):
                before = _value_before(chunk, j, part * w)
                rising &= ~(before < low)
                falling &= ~(before > high)
                held_rising &= ~(before < low)
                held_falling &= ~(before > high)
        lost, ttl_thermal = self._thermal(chunk, inst, j, v, low)
        # A supply whose source is disrupted upstream will leave its band: said at once.
        # (Not while it recovers: the source's alarm outlasts the supply's return.)
        with np.errstate(invalid="ignore"):
            source_lost = self._source_lost(chunk, inst, j) & (v >= low) & ~(slope > 0)
        # A supplier ramping its heat down: the supply follows ΔP/(ρ·cp·V̇) and crosses
        # long before its own slope says so. (A trip is the disruption's business.)
        ttl_decline = np.where(source_lost, np.inf, self._decline_ttl(chunk, inst, j, v, low))
        declining = ttl_decline < horizon
        pred_low = ((falling & (ttl_early < horizon)) | (lost & np.isfinite(ttl_thermal))
                    | source_lost | declining)
        pred_high = rising & (ttl_early < horizon)
        enter = select([v > high, v < low, pred_low, pred_high],
                       [State.HIGH, State.LOW, State.PREDICTED_LOW, State.PREDICTED_HIGH],
                       State.OK).astype(I8)
        hold_a = select([v > high - db, v < low + db], [State.HIGH, State.LOW],
                        State.OK).astype(I8)
        hold_b = select([(held_falling & (ttl_held < 2 * horizon))
                         | (lost & np.isfinite(ttl_thermal)) | source_lost
                         | (ttl_decline < 2 * horizon),
                         held_rising & (ttl_held < 2 * horizon)],
                        [State.PREDICTED_LOW, State.PREDICTED_HIGH], State.OK).astype(I8)
        ttl = np.minimum(np.minimum(ttl_slope, ttl_thermal), ttl_decline)
        # A loss at the supply's source is confirmed by that source's own rule: the supply
        # band's prediction is raised at once, not after its on-delay (a trip's supply
        # crosses in under one); so is a ramp-down, held over two windows already. A
        # recipient's thermal prediction keeps its on-delay: its time to limit needs the
        # supply's first fall to be right.
        confirmed = (enter == State.PREDICTED_LOW) & (source_lost | declining)
        return Features(enter=enter, hold_a=hold_a, hold_b=hold_b, value=v,
                        slope_per_h=slope * 3600, ttl_s=ttl, confirmed=confirmed)


    def _decline_ttl(self, chunk: Chunk, inst: I64, j: I64, v: F64, low: F64) -> F64:
        """Seconds until a supply reaches its low limit at the rate its sources' ramp-down
        implies; inf where they do not ramp down, or stop above the limit when gone."""
        ttl = np.full(j.size, np.inf)
        for i in {int(x) for x in inst if self.supply_sources[int(x)] is not None}:
            link = self.supply_sources[i]
            assert link is not None
            mine = inst == i
            rate, floor = source_decline(chunk, link, chunk.t_s[j[mine]], v[mine])
            with np.errstate(invalid="ignore", divide="ignore"):
                ttl[mine] = np.where((rate < 0) & (floor < low[mine]) & (v[mine] >= low[mine]),
                                     (v[mine] - low[mine]) / -rate, np.inf)
        return ttl

    def _source_lost(self, chunk: Chunk, inst: I64, j: I64) -> NDArray[np.bool_]:
        lost = np.zeros(j.size, dtype=bool)
        for i in {int(x) for x in inst if self.supply_upstream[int(x)]}:
            mine = inst == i
            lost[mine] = self.upstream_lost(self.supply_upstream[i], chunk.t_s[j[mine]])
        return lost

    def _thermal(self, chunk: Chunk, inst: I64, j: I64, v: F64, low: F64
                 ) -> tuple[NDArray[np.bool_], F64]:
        """Whether a recipient's warm supply is lost at each sample, and the time its
        first-order model takes to reach the low limit from there.

        Lost means a supplier's disruption, or a supply colder than the limit (no mixing
        can then hold the tank above it). The tank falls toward what the supply still
        brings (all of the inflow warm: the best the recipient can do), the cold water
        when it is not measured: a total loss, a partial loss and a slow decline each give
        their own horizon.
        """
        lost = np.zeros(j.size, dtype=bool)
        ttl = np.full(j.size, np.inf)
        for i in {int(x) for x in inst if self.thermal[int(x)] is not None}:
            link = self.thermal[i]
            assert link is not None
            mine = inst == i
            times = chunk.t_s[j[mine]]
            upstream = self.upstream_lost(link.upstream, times)
            gone = upstream.copy()
            # Where the supply is only too cold, the tank heads for it (the valve fully
            # open is the best the recipient can do), not for the cold water: the heat
            # balance now, not an assumed total loss.
            final = np.full(times.size, -np.inf)
            for supply in link.supply_series:
                supply_c = _value_of(chunk, supply, times)
                # Where the supply is heading: its trend over the last two minutes carried
                # on (one spike moves neither median), for ten minutes after a disruption
                # (a trip's supply falls for minutes before it settles), two otherwise.
                now_c = _median3_at(chunk, supply, times)
                then_c = _median3_at(chunk, supply, times - SUPPLY_SLOPE_WINDOW_S)
                ahead = np.where(upstream, 5.0, 1.0)
                heading_c = np.where(np.isfinite(then_c), now_c + ahead * (now_c - then_c),
                                     now_c)
                with np.errstate(invalid="ignore"):
                    gone |= supply_c < low[mine]
                final = np.fmax(final, np.fmin(heading_c, supply_c))
            # A disruption too: the supply measured at the exchanger says how much is left
            # (near the cold water after a trip, half-warm when one of two furnaces trips).
            final = np.where(~np.isfinite(final), link.final_value,
                             np.maximum(final, link.final_value))
            ttl_now = np.where(gone, time_to_limit_first_order_s(
                v[mine], low[mine], final, np.full(times.size, link.tau_s)), np.inf)
            # The supplier ramping its heat down (a planned stop): the supply will follow,
            # and the tank after it; a loss coming, before the supply has moved much.
            if link.source_power and link.supply_flow >= 0 and link.supply_series:
                sup = _median3_at(chunk, link.supply_series[0], times)
                rate, floor = source_decline(chunk, SourceLink(
                    link.source_power, link.supply_flow, link.loop_temps), times, sup)
                floor = np.maximum(floor, link.final_value)
                ttl_down = np.where(upstream, np.inf, tank_time_to_low_s(
                    v[mine], low[mine], sup, rate, floor, link.tau_s))
                gone |= np.isfinite(ttl_down)
                ttl_now = np.minimum(ttl_now, ttl_down)
            lost[mine] = gone
            ttl[mine] = ttl_now
        return lost, ttl


def _band(r: VersionedRule) -> BandRule:
    assert isinstance(r.spec, BandRule)
    return r.spec


def _ramp(r: VersionedRule) -> RampRule:
    assert isinstance(r.spec, RampRule)
    return r.spec


class RampGroup(RuleGroup):
    kind = "ramp"

    def __init__(self, rules: Sequence[VersionedRule], series: I64, limits_low: F64,
                 limits_high: F64, links: Sequence[RampLink | None] | None = None) -> None:
        super().__init__(rules, series, param(rules, lambda r: _ramp(r).on_delay_s),
                         param(rules, lambda r: _ramp(r).off_delay_s))
        n_w = max((len(_ramp(r).windows_s) for r in rules), default=1)
        self.windows_s = np.full((len(rules), n_w), np.nan)
        for i, r in enumerate(rules):
            ws = _ramp(r).windows_s
            self.windows_s[i, :len(ws)] = ws
        self.max_rise_per_s = param(rules, lambda r: _ramp(r).max_rise_per_h) / 3600
        self.max_fall_per_s = param(rules, lambda r: _ramp(r).max_fall_per_h) / 3600
        self.min_samples = np.array([_ramp(r).min_samples for r in rules], dtype=np.int64)
        self.coverage = param(rules, lambda r: _ramp(r).min_coverage_fraction)
        self.clear = param(rules, lambda r: _ramp(r).clear_fraction)
        self.limits_low = limits_low  # the band limits of the same series, for time to limit
        self.limits_high = limits_high
        self.links = list(links) if links is not None else [None] * len(rules)
        self.horizon_s = param(rules, lambda r: _ramp(r).predict_horizon_s)
        self.min_supply_slope_per_s = param(
            rules, lambda r: _ramp(r).predict_min_supply_slope_per_h) / 3600

    def features(self, chunk: Chunk, inst: I64, j: I64) -> Features:
        rise = np.full(j.size, -np.inf)  # largest slope / limit over valid windows
        fall = np.full(j.size, -np.inf)
        best_ratio = np.full(j.size, -np.inf)
        best_slope = np.full(j.size, np.nan)
        recent = np.full(j.size, np.nan)  # slope of the shortest valid window: the rate now
        for w in range(self.windows_s.shape[1]):
            win = self.windows_s[inst, w]
            n, span, slope = _window_stats(chunk, j, nan_to_num(win, nan=1.0))
            ok = (n >= self.min_samples[inst]) & (span >= self.coverage[inst] * win)
            slope = np.where(ok, slope, np.nan)
            recent = np.where(np.isnan(recent), slope, recent)
            with np.errstate(invalid="ignore"):
                r_rise = nan_to_num(slope / self.max_rise_per_s[inst], nan=-np.inf)
                r_fall = nan_to_num(-slope / self.max_fall_per_s[inst], nan=-np.inf)
            rise, fall = np.maximum(rise, r_rise), np.maximum(fall, r_fall)
            ratio = np.maximum(r_rise, r_fall)
            better = ratio > best_ratio
            best_ratio = np.where(better, ratio, best_ratio)
            best_slope = np.where(better, slope, best_slope)
        any_valid = np.isfinite(best_ratio) | ~np.isnan(best_slope)
        clear = self.clear[inst]
        to_rise, to_fall, stepped = self._heat_balance(chunk, inst, j, recent)
        horizon = self.horizon_s[inst]
        pred_rise, pred_fall = to_rise < horizon, to_fall < horizon
        # A crossing now (time 0) is the measured state's business; a turn coming is news.
        pred_rise &= (to_rise <= to_fall) | (to_fall == 0)
        pred_fall &= ~pred_rise | (to_rise == 0)
        pred_rise &= ~pred_fall
        measured = select([(rise > 1) & (rise >= fall), fall > 1],
                          [State.RISING, State.FALLING], State.OK).astype(I8)
        # A turn the heat balance sees coming (the supply back while the tank still falls)
        # is news before the measured slope turns: it replaces the measured state.
        enter = select([pred_rise & (measured != State.RISING),
                        pred_fall & (measured != State.FALLING), measured != State.OK],
                       [State.PREDICTED_RISING, State.PREDICTED_FALLING, measured],
                       State.OK).astype(I8)
        hold_a = np.where((rise > clear) & ~pred_fall, State.RISING, State.OK).astype(I8)
        hold_a = np.where(any_valid | pred_fall | pred_rise, hold_a, HOLD_ANY).astype(I8)
        hold_b = np.where((fall > clear) & ~pred_rise, State.FALLING, State.OK).astype(I8)
        hold_c = select([to_rise < 2 * horizon, to_fall < 2 * horizon],
                        [State.PREDICTED_RISING, State.PREDICTED_FALLING],
                        State.OK).astype(I8)
        # A turn drawn from a step in the supplier's heat output (a trip, a restart) held
        # over two samples is a cause, not a noisy slope swinging about its limit: raised at
        # once, without the on-delay or the turn's delay (the tank still rising from the
        # last restart when the furnace trips again).
        confirmed = ((enter == State.PREDICTED_RISING) & (stepped > 0)) \
            | ((enter == State.PREDICTED_FALLING) & (stepped < 0))
        v = chunk.v[j]
        ttl = time_to_limit_from_slope_s(v, nan_to_num(best_slope), self.limits_low[inst],
                                         self.limits_high[inst])
        # A predicted crossing reports the time until the rate limit is crossed.
        ttl = np.where(enter == State.PREDICTED_RISING, to_rise,
                       np.where(enter == State.PREDICTED_FALLING, to_fall, ttl))
        return Features(enter=enter, hold_a=hold_a, hold_b=hold_b, value=v,
                        slope_per_h=best_slope * 3600, ttl_s=ttl, hold_c=hold_c,
                        confirmed=confirmed)

    def _heat_balance(self, chunk: Chunk, inst: I64, j: I64, rate_per_s: F64
                      ) -> tuple[F64, F64, F64]:
        """Seconds until the recipient's rate of change crosses its rise and its fall
        limit, from its heat balance; inf when it does not (or nothing is known). Also the
        sign of a step in the supplier's heat output at each sample (0 where none).

        The rate now is measured; the supply temperature now leaving the exchanger
        reaches the tank one pipe delay later, and changes its rate by
        w·(T_supply − T_supply then)/τ (w the warm share); past that the supply's
        own trend (a restart ramping up, a trip falling away) is extrapolated up to its
        ceiling (the contract band's top) or floor (the cold water)."""
        to_rise = np.full(j.size, np.inf)
        to_fall = np.full(j.size, np.inf)
        stepped = np.zeros(j.size)
        for i in {int(x) for x in inst if self.links[int(x)] is not None}:
            link = self.links[i]
            assert link is not None
            mine = np.flatnonzero(inst == i)
            t = chunk.t_s[j[mine]]
            n = t.size
            share = _value_of(chunk, link.warm_share, t) / 100.0
            w = np.clip(share, 0.0, 1.0)
            sup_now = _median3_at(chunk, link.supply, t)
            d = link.pipe_delay_s
            sup_in = _median3_at(chunk, link.supply, t - d) if d > 0 else sup_now
            # History shorter than the pipe delay (a start, a replay's first minutes): the
            # oldest supply kept is the best guess of what is arriving now.
            sup_in = np.where(np.isnan(sup_in), _oldest(chunk, link.supply, n), sup_in)
            slope = (sup_now - _median3_at(chunk, link.supply, t - SUPPLY_SLOPE_WINDOW_S)
                     ) / SUPPLY_SLOPE_WINDOW_S
            slope = np.where(np.abs(slope) >= self.min_supply_slope_per_s[i],
                             nan_to_num(slope), 0.0)
            # The supply's trend to come, from the supplier's heat output: a restart
            # shows there a minute before the loop's water warms the supply.
            coming, step = _source_slope(chunk, link, t, sup_now)
            stepped[mine] = np.sign(step)
            coming = np.where(np.abs(coming) >= self.min_supply_slope_per_s[i],
                              nan_to_num(coming), 0.0)
            # No valid slope yet (a start, a replay's first minutes): taken as steady.
            r0 = nan_to_num(rate_per_s[mine])
            tau = link.tau_s
            with np.errstate(invalid="ignore", divide="ignore"):
                r_d = r0 + w * (sup_now - sup_in) / tau  # the rate one pipe delay ahead
                for limit, out, sign, bound in (
                        (self.max_rise_per_s[i], to_rise, 1.0, link.supply_max_c),
                        (self.max_fall_per_s[i], to_fall, -1.0, link.cold_c)):
                    if not np.isfinite(limit):
                        continue
                    target = sign * limit
                    # Within the pipe delay: between the rate now and the rate then.
                    in_pipe = np.where(sign * (r_d - r0) > 0,
                                       d * (target - r0) / (r_d - r0), np.inf)
                    # Past it: the supply must move to where its share gives the limit.
                    needed_c = sup_now + (target - r_d) * tau / w
                    reachable = sign * (bound - needed_c) >= 0
                    # The faster of the supply's own trend and the one its source brings.
                    trend = sign * np.maximum(sign * slope, sign * coming)
                    later = np.where((sign * trend > 0) & reachable,
                                     d + (needed_c - sup_now) / trend, np.inf)
                    ttl = select([sign * r0 >= limit, sign * r_d >= limit],
                                 [0.0, in_pipe], later)
                    ttl = np.where(np.isfinite(r0) & np.isfinite(w) & np.isfinite(sup_now)
                                   & np.isfinite(sup_in), ttl, np.inf)
                    out[mine] = np.where(np.isnan(ttl), np.inf, ttl)
        return to_rise, to_fall, stepped


def _source_slope(chunk: Chunk, link: RampLink, t: F64, supply_c: F64) -> tuple[F64, F64]:
    """The supply temperature's rate of change (K/s) the supplier's heat output implies:
    its change over the last half minute divided by the heat the supply-side flow carries
    per kelvin (ρ·cp·V̇). Zero where the link names no source or flow, or nothing is known.
    Second, the heat output's step (kW/s; 0 where it only ramps or holds): a trip or a
    restart, as against a slope.

    In steady state all of a loop's heat leaves through its exchanger, so a change of ΔP
    moves the supply by ΔP/(ρ·cp·V̇); the loop's water only delays it by its turnover.
    """
    if not link.source_power or link.supply_flow < 0:
        return np.zeros(t.size), np.zeros(t.size)
    dp_per_s = np.zeros(t.size)
    steps = np.zeros(t.size)
    for k, source in enumerate(link.source_power):
        now = _median3_at(chunk, source, t)
        then = _median3_at(chunk, source, t - SOURCE_SLOPE_WINDOW_S)
        ramp = _ls_slope_at(chunk, source, t, SOURCE_RAMP_WINDOW_S)
        # The same ramp half a minute earlier: one unflagged spike at a window's end tilts
        # one slope, not two windows that end half a minute apart.
        ramp_then = _ls_slope_at(chunk, source, t - SOURCE_SLOPE_WINDOW_S,
                                 SOURCE_RAMP_WINDOW_S)
        with np.errstate(invalid="ignore"):
            level = np.maximum(np.abs(now), np.abs(then))
            step = np.where(np.abs(now - then) >= SOURCE_MIN_CHANGE_FRACTION * level,
                            nan_to_num(now - then) / SOURCE_SLOPE_WINDOW_S, 0.0)
            last = _value_of(chunk, source, t)
            tripped = (step == 0.0) & (then - last >= SOURCE_TRIP_FRACTION * np.abs(then))
            jumped = (step == 0.0) & (last - then >= SOURCE_TRIP_FRACTION * np.abs(last))
        if jumped.any():
            jumped[jumped] = _loop_warmed(chunk, link.loop_temps, t[jumped])
        with np.errstate(invalid="ignore"):
            step = np.where(tripped | jumped, nan_to_num(last - then) / SOURCE_SLOPE_WINDOW_S,
                            step)
            gate = SOURCE_MIN_RAMP_FRACTION * level / SOURCE_RAMP_WINDOW_S
            # A lone spike tilts both slopes the same way for half a minute; it moves no
            # median of three, so the median's change over the window must go along.
            moved = now - _median3_at(chunk, source, t - SOURCE_RAMP_WINDOW_S)
            steady = (np.abs(ramp) >= gate) & (np.abs(ramp_then) >= gate) \
                & (ramp * ramp_then > 0) & (moved * ramp > 0) \
                & (np.abs(moved) >= 0.5 * gate * SOURCE_RAMP_WINDOW_S)
            ramp = np.where(steady, np.sign(ramp) * np.minimum(np.abs(ramp),
                                                               np.abs(ramp_then)), 0.0)
            # A ramp fitted from its onset is seen before the windows fill with it.
            onset_rate = source_onset(chunk, source, link.loop_temps, t)
            began = np.abs(onset_rate) >= gate
            ramp = np.where(began & (np.abs(onset_rate) > np.abs(ramp)), onset_rate, ramp)
            # The source's own load moving is the heat coming, before the output's noise
            # lets its ramp be fitted: a restart's first samples.
            load = link.source_load[k] if k < len(link.source_load) else -1
            if load >= 0:
                coming = load_ramp_kw_per_s(chunk, load, t, now)
                ramp = np.where(np.abs(coming) > np.abs(ramp), coming, ramp)
        dp_per_s += np.where(np.abs(step) >= np.abs(ramp), step, ramp)
        steps += step
    flow = _value_of(chunk, link.supply_flow, t)
    kw_per_k = heat_power_kw(flow, supply_c + 0.5, supply_c - 0.5)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = dp_per_s / kw_per_k
    ok = np.isfinite(rate) & (kw_per_k > 1.0)
    return np.where(ok, rate, 0.0), np.where(ok, steps, 0.0)


def load_ramp_kw_per_s(chunk: Chunk, load: int, t_s: F64, output_kw: F64) -> F64:
    """The heat output's rate of change (kW/s) its source's load implies: the load's move
    over LOAD_WINDOW_S (medians of three) times the output per load point now. 0 where it
    moved less than LOAD_MIN_CHANGE_PCT, stands below LOAD_MIN_LEVEL_PCT, or nothing is
    known. The output is taken as proportional to the load, as a furnace's cooling heat is
    to its power."""
    now = _median3_at(chunk, load, t_s)
    moved = now - _median3_at(chunk, load, t_s - LOAD_WINDOW_S)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = moved / LOAD_WINDOW_S * np.abs(output_kw) / now
        known = (np.abs(moved) >= LOAD_MIN_CHANGE_PCT) & (now >= LOAD_MIN_LEVEL_PCT) \
            & np.isfinite(rate)
    # The noise only where the load moved at all: a held setpoint (nearly every sample)
    # costs no ten minutes of its history a time.
    if known.any():
        noise = _step_scatter(chunk, load, t_s[known], LOAD_NOISE_SPAN_S)
        known[known] = np.abs(moved[known]) >= LOAD_SIGMAS * noise
    return np.where(known, rate, 0.0)


def _step_scatter(chunk: Chunk, series: int, t_s: F64, span_s: float) -> F64:
    """The noise of one sample of a series over the span before each time, from the spread
    of its successive differences (their median absolute deviation about their median,
    scaled to a normal standard deviation): a held value or a straight ramp has none, and
    one step moves it little. NaN where the span holds fewer than five samples."""
    out = np.full(t_s.size, np.nan)
    if (known := _known(chunk, series, t_s, 4)) is None:
        return out
    ok, r, c = known
    h = chunk.history
    first = h.first_at_or_after(r, c, h.t[r, c] - span_s)
    k = int((c - first).max()) + 1
    if k < 2:
        return out
    idx = c[:, None] - np.arange(k)[None, :]  # newest first
    v = h.v[r[:, None], np.maximum(idx, 0)]
    both = idx[:, 1:] >= first[:, None]  # each difference's older sample inside the span
    d = np.where(both, v[:, :-1] - v[:, 1:], np.nan)
    n = both.sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a row with no difference: NaN
        mad = np.nanmedian(np.abs(d - np.nanmedian(d, axis=1)[:, None]), axis=1)
    out[ok] = np.where(n >= 4, mad / (0.6745 * np.sqrt(2.0)), np.nan)
    return out


def ramp_onset(chunk: Chunk, series: int, t_s: F64) -> tuple[F64, F64, F64]:
    """The most significant ramp of a series that began within ONSET_SPAN_S before each
    time: its rate (per s), the rate in standard errors (signed) and its onset (seconds
    before the time); all 0 where there is none to fit (too little history).

    The model is the level over ONSET_BASELINE_S before an onset, then a straight line
    from that level; the onset runs over the samples of the span with at least
    ONSET_MIN_AFTER (filtered) samples after it. Every onset is fitted at once from
    running sums. The level and the line are fitted to the median of three samples; the
    noise is the raw samples' scatter about that same fit, so whatever the model does not
    explain (a wandering output, a spike) widens the error instead of passing as a ramp.
    """
    return _memo(chunk, ("ramp_onset", series, t_s.tobytes()),
                 lambda: _frozen(_ramp_onset(chunk, series, t_s)))


def _ramp_onset(chunk: Chunk, series: int, t_s: F64) -> tuple[F64, F64, F64]:
    rate, z, onset = np.zeros(t_s.size), np.zeros(t_s.size), np.zeros(t_s.size)
    if (known := _known(chunk, series, t_s, 8)) is None:
        return rate, z, onset
    ok, r, c = known
    h = chunk.history
    end_t = h.t[r, c]
    first = h.first_at_or_after(r, c, end_t - ONSET_SPAN_S - ONSET_BASELINE_S)
    k = int((c - first).max()) + 1
    if k < 8:
        return rate, z, onset
    idx = c[:, None] - np.arange(k - 1, -1, -1)[None, :]  # oldest first, newest last
    inside = idx >= first[:, None]
    idx = np.maximum(idx, 0)
    tt = h.t[r[:, None], idx] - end_t[:, None]  # seconds before each time: small sums
    # Relative to the last sample: the sums of squares below stay small.
    vv = h.v[r[:, None], idx] - h.v[r, c][:, None]
    med = np.zeros(vv.shape)
    med[:, 2:] = _middle_of_three(vv[:, 2:], vv[:, 1:-1], vv[:, :-2])
    has = np.zeros(vv.shape, dtype=bool)
    has[:, 2:] = inside[:, :-2]
    w = has.astype(np.float64)
    m = np.where(has, med, 0.0)
    x = np.where(has, vv, 0.0)

    # Running sums of all eight terms in one pass: [:, i] sums the terms of [:, :i].
    terms = np.stack([w, m, w * tt, w * tt * tt, w * tt * m, x, x * x, w * tt * x])
    running = np.zeros((*terms.shape[:2], k + 1))
    np.cumsum(terms, axis=2, out=running[:, :, 1:])
    cw, cm, ct, ctt, ctm, cx, cxx, ctx = running
    rr = np.arange(r.size)[:, None]
    j0 = np.arange(k)[None, :]
    b0 = _baseline_starts(h.t[r[0]], c, idx, k)  # one series: one history row

    def base(cum: F64) -> F64:  # over each onset's baseline, the onset's sample included
        out: F64 = cum[:, 1:] - cum[rr, b0]
        return out

    def after(cum: F64) -> F64:  # over the samples after each onset
        return cum[:, -1:] - cum[:, 1:]

    n_base, n_after = base(cw), after(cw)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = base(cm) / n_base
        st, stt = after(ct), after(ctt)
        su = st - n_after * tt
        suu = stt - 2.0 * tt * st + n_after * tt * tt
        sux = after(ctm) - tt * after(cm) - level * su
        slope = sux / suu
        # The raw samples' squared residuals about the level, then the line from it.
        sx_a, sx_b = after(cx), base(cx)
        rss_base = base(cxx) - 2.0 * level * sx_b + n_base * level * level
        dev_a = after(cxx) - 2.0 * level * sx_a + n_after * level * level
        xu = after(ctx) - tt * sx_a - level * su
        rss = rss_base + dev_a - 2.0 * slope * xu + slope * slope * suu
        sigma = np.sqrt(np.maximum(rss, 0.0) / (n_base + n_after - 2.0))
        se = sigma * np.sqrt(MEDIAN3_VARIANCE * (1.0 / suu + (su / suu) ** 2 / n_base))
        zz = slope / se
    use = (has & (j0 >= 2) & (tt >= -ONSET_SPAN_S) & (n_base >= 5)
           & (n_after >= ONSET_MIN_AFTER) & np.isfinite(zz))
    zz = np.where(use, zz, 0.0)
    best = np.argmax(np.abs(zz), axis=1)
    at = np.arange(r.size)
    z[ok] = zz[at, best]
    rate[ok] = np.where(z[ok] != 0.0, slope[at, best], 0.0)
    onset[ok] = np.where(z[ok] != 0.0, -tt[at, best], 0.0)
    return rate, z, onset


def _baseline_starts(times: F64, c: I64, idx: I64, k: int) -> I64:
    """Where each onset's baseline starts: the position, in each time's window of ``k``
    samples (``idx``, columns ``c - k + 1 .. c`` of one series' history ``times``, clipped
    at 0), of the first sample no more than ONSET_BASELINE_S before the onset. Searched in
    the history's own times, not by comparing every pair of samples: that took k² a time,
    hundreds of MB for a backlog of a source sampled each second."""
    used = times[: int(c.max()) + 1]  # sorted up to the last column any window reads
    first = np.searchsorted(used, times[idx] - ONSET_BASELINE_S, side="left")
    start = (c - k + 1)[:, None]  # each window's first column, before clipping
    # Positions clipped to column 0 count only where column 0 itself is early enough.
    return np.where(first > 0, np.clip(first - start, 0, k), 0)


def source_onset(chunk: Chunk, source: int, loop_temps: tuple[int, ...], t_s: F64
                 ) -> F64:
    """The heat output's rate (per s) where it began a ramp within ONSET_SPAN_S: by its own
    fit at ONSET_SIGMAS, or by its fit and a loop temperature's the same way adding up to
    it, the loop turning the same way and not before the output did; 0 elsewhere."""
    rate, z, onset = ramp_onset(chunk, source, t_s)
    loop_z = np.zeros(t_s.size)
    for series in loop_temps:
        _, zl, at = ramp_onset(chunk, series, t_s)
        # The loop follows the heat that moves it: a loop temperature already drifting
        # before the output turned (a network's return, a day's load) confirms nothing.
        agrees = (np.sign(zl) == np.sign(z)) & (at <= onset + LOOP_ONSET_LAG_S)
        loop_z = np.where(agrees & (np.abs(zl) > np.abs(loop_z)), zl, loop_z)
    joint = ((np.abs(z) + np.abs(loop_z)) / np.sqrt(2.0) >= ONSET_SIGMAS) \
        & (np.abs(z) >= LOOP_ONSET_MIN_SIGMAS) & (np.abs(loop_z) >= LOOP_ONSET_MIN_SIGMAS)
    return np.where((np.abs(z) >= ONSET_SIGMAS) | joint, rate, 0.0)


def _loop_warmed(chunk: Chunk, loop_temps: tuple[int, ...], t_s: F64) -> NDArray[np.bool_]:
    """Whether any of the loop temperatures' last sample at or before each time lies more
    than LOOP_RISE_SIGMAS of its own scatter above its mean over the LOOP_BASELINE_S
    before (at least five samples there); False where nothing is known."""
    out = np.zeros(t_s.size, dtype=bool)
    for series in loop_temps:
        if (known := _known(chunk, series, t_s, 5)) is None:
            continue
        ok, r, c = known
        h = chunk.history
        first = h.first_at_or_after(r, c, h.t[r, c] - LOOP_BASELINE_S)
        back = np.arange(1, int((c - first).max()) + 1)
        prev = c[:, None] - back[None, :]
        valid = prev >= first[:, None]
        v_prev = h.v[r[:, None], np.maximum(prev, 0)]
        n = valid.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(valid, v_prev, 0.0).sum(axis=1) / n
            var = np.where(valid, (v_prev - mean[:, None]) ** 2, 0.0).sum(axis=1) / (n - 1)
            rose = (n >= 5) & (h.v[r, c] - mean > LOOP_RISE_SIGMAS * np.sqrt(var))
        out[ok] |= rose
    return out


def _known(chunk: Chunk, series: int, t_s: F64, min_col: int
           ) -> tuple[NDArray[np.bool_], I64, I64] | None:
    """Which times have at least ``min_col`` samples of the series before their last one,
    and those times' history rows and last columns; None where no time has."""
    found = _history_at(chunk, series, t_s)
    if found is None:
        return None
    rows, cols = found
    ok = cols >= min_col
    return (ok, rows[ok], cols[ok]) if ok.any() else None


def _history_at(chunk: Chunk, series: int, t_s: F64
                ) -> tuple[NDArray[np.int64], NDArray[np.int64]] | None:
    """The series' history row (once per time) and its last column at or before each
    time (-1 where none); None when the series keeps no history."""
    row = int(chunk.hist_row[series]) if series >= 0 else -1
    if row < 0:
        return None
    return _memo(chunk, ("history_at", row, t_s.tobytes()),
                 lambda: _frozen(_last_cols(chunk, row, t_s)))


def _last_cols(chunk: Chunk, row: int, t_s: F64) -> tuple[I64, I64]:
    rows = np.full(t_s.size, row, dtype=np.int64)
    return rows, chunk.history.last_col_at_or_before(rows, t_s)


_T = TypeVar("_T")


def _memo(chunk: Chunk, key: tuple[object, ...], compute: Callable[[], _T]) -> _T:
    """What ``compute`` gives for ``key`` in this chunk, computed once. The rules ask for
    the same series at the same times many times over (a heat output's median, slope and
    onset fit for the supply's band, the tank's band and the tank's ramp): with a chunk a
    batch of a few seconds, those numpy calls on small arrays were most of the monitor's
    time. A memoised array is read-only, so that no caller changes another's."""
    if (known := chunk.memo.get(key)) is None:
        known = chunk.memo[key] = compute()
    return known  # type: ignore[return-value]


def _frozen(value: _T) -> _T:
    """``value``, an array or a tuple of them, made read-only."""
    arrays: tuple[NDArray[np.generic], ...] = value if isinstance(value, tuple) \
        else (value,)  # type: ignore[assignment]
    for array in arrays:
        array.flags.writeable = False
    return value


def source_decline(chunk: Chunk, link: SourceLink, t: F64, supply_c: F64
                   ) -> tuple[F64, F64]:
    """Where the supplier's heat output ramps down: the supply temperature's rate (K/s,
    negative) the decline implies, and the supply once the sources are gone (the supply
    less all the heat it carries now, ΔT = P/(ρ·cp·V̇): the return's temperature).

    Rate 0 and floor NaN where nothing ramps down (a steady output, a day's profile, a
    decline over weeks) or nothing is known. A step (a trip) tilts the window too: the
    disruption rules own it, and callers leave it to them.
    """
    zero, nan = np.zeros(t.size), np.full(t.size, np.nan)
    if not link.source_power or link.supply_flow < 0:
        return zero, nan
    dp_per_s, power = np.zeros(t.size), np.zeros(t.size)
    for source in link.source_power:
        now = _median3_at(chunk, source, t)
        slope = _ls_slope_at(chunk, source, t, SOURCE_DECLINE_WINDOW_S)
        # Held half a minute apart: one spike at a window's end tilts one slope, not both.
        slope_then = _ls_slope_at(chunk, source, t - SOURCE_SLOPE_WINDOW_S,
                                  SOURCE_DECLINE_WINDOW_S)
        then = _median3_at(chunk, source, t - SOURCE_DECLINE_WINDOW_S)
        onset_rate = source_onset(chunk, source, link.loop_temps, t)
        with np.errstate(invalid="ignore"):
            gate = SOURCE_MIN_DECLINE_FRACTION_PER_S * np.fmax(np.abs(now), np.abs(then))
            down = (slope <= -gate) & (slope_then <= -gate)
            # A ramp-down fitted from its onset: significant, and a decline at all.
            began = onset_rate <= -gate
        dp_per_s += np.where(down, np.maximum(slope, slope_then),
                             np.where(began, onset_rate, 0.0))
        power += nan_to_num(now)
    flow = _value_of(chunk, link.supply_flow, t)
    kw_per_k = heat_power_kw(flow, supply_c + 0.5, supply_c - 0.5)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = dp_per_s / kw_per_k
        floor = supply_c - power / kw_per_k
    ok = np.isfinite(rate) & np.isfinite(floor) & (kw_per_k > 1.0) & (rate < 0)
    return np.where(ok, rate, 0.0), np.where(ok, floor, np.nan)


def tank_time_to_low_s(tank_c: F64, low: F64, supply_c: F64, rate_per_s: F64,
                       floor_c: F64, tau_s: float) -> F64:
    """Seconds until a first-order recipient (time constant τ) falls to ``low`` while its
    supply falls at ``rate_per_s`` to ``floor_c`` and then stays.

    The recipient's mixing holds it while the supply is warmer than it (all of the inflow
    warm is the best it can do); from then on it lags the falling supply, its gap growing
    toward |rate|·τ, until the supply settles and it decays toward the floor. inf where it
    never reaches ``low``.
    """
    b = -rate_per_s
    with np.errstate(invalid="ignore", divide="ignore"):
        wait = np.maximum(supply_c - tank_c, 0.0) / b  # until the supply is the tank's
        start = np.minimum(supply_c, tank_c)
        gap0 = tank_c - start
        settle = np.maximum(start - floor_c, 0.0) / b  # then until the supply floors

        def temp(s: F64) -> F64:
            return start - b * s + b * tau_s + (gap0 - b * tau_s) * np.exp(-s / tau_s)

        lo, hi = np.zeros(tank_c.size), settle.copy()
        crosses = temp(hi) <= low
        for _ in range(40):  # bisection: the temperature falls monotonically
            mid = (lo + hi) / 2
            below = temp(mid) <= low
            hi, lo = np.where(below, mid, hi), np.where(below, lo, mid)
        after = settle + tau_s * np.log((temp(settle) - floor_c) / (low - floor_c))
        ttl = wait + np.where(crosses, hi, after)
        ttl = np.where(tank_c <= low, 0.0, ttl)
    return np.where(np.isfinite(ttl) & (b > 0) & (floor_c < low), ttl, np.inf)


def _ls_slope_at(chunk: Chunk, series: int, t_s: F64, window_s: float) -> F64:
    """Least-squares slope (per s) of a series over the window ending at each time; NaN
    where unknown or the window holds fewer than five samples."""
    return _memo(chunk, ("ls_slope", series, window_s, t_s.tobytes()),
                 lambda: _frozen(_ls_slope(chunk, series, t_s, window_s)))


def _ls_slope(chunk: Chunk, series: int, t_s: F64, window_s: float) -> F64:
    out = np.full(t_s.size, np.nan)
    if (known := _known(chunk, series, t_s, 0)) is not None:
        ok, r, c = known
        sums = chunk.history.window(r, c, window_s)
        out[ok] = np.where(sums.n >= 5, sums.slope_per_s(), np.nan)
    return out


def _value_of(chunk: Chunk, series: int, t_s: F64) -> F64:
    """`value_at` of one series at each time, once per chunk."""
    return _memo(chunk, ("value", series, t_s.tobytes()),
                 lambda: _frozen(value_at(chunk, np.full(t_s.size, series), t_s)))


def _oldest(chunk: Chunk, series: int, n: int) -> F64:
    """The oldest value a series keeps in history, n times; NaN when it keeps none."""
    row = int(chunk.hist_row[series]) if series >= 0 else -1
    if row < 0 or chunk.history.length[row] == 0:
        return np.full(n, np.nan)
    return np.full(n, float(chunk.history.v[row, 0]))


def _median3_at(chunk: Chunk, series: int, t_s: F64) -> F64:
    """Median of a series' last three samples at or before each time: one unflagged spike
    (a loose sensor connection) moves no prediction. NaN where unknown."""
    return _memo(chunk, ("median3", series, t_s.tobytes()),
                 lambda: _frozen(_median3(chunk, series, t_s)))


def _median3(chunk: Chunk, series: int, t_s: F64) -> F64:
    out = np.full(t_s.size, np.nan)
    if (known := _known(chunk, series, t_s, 2)) is not None:
        ok, r, c = known
        v = chunk.history.v
        out[ok] = _middle_of_three(v[r, c], v[r, c - 1], v[r, c - 2])
    return out


def _middle_of_three(a: F64, b: F64, c: F64) -> F64:
    """The median of three arrays, element by element, by min and max: np.median's sort
    cost a fifth of the monitor's time on a day's run. A NaN among them makes it NaN, as
    np.median does."""
    out: F64 = np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))
    return out
