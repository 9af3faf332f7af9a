"""The viewer's own view: its assets first (temperature, rate of change against its limits,
time to its limit if each upstream supply stopped now, the predicted path while one is
lost), and, for a supplier, what its recipients need from it (their limits and the time
margin its supply gives them, never their readings).

Figures come from the same places the alerts use: the monitor's current rule versions for
limits, the cluster file's thermal model (`alerts.thermal`) for times, the alert part's
table for which supplies are lost now.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import numpy as np

from alerts import history as alert_history
from alerts.conditions import LOSS_STATES
from alerts.impact import reach
from alerts.thermal import pipe_delay_s, time_to_limit_s
from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.model import Exchange, ThermalModel
from heatlink.cluster.rule_spec import BandRule, RampRule
from services.dashboard.own_schemas import (
    DependencyOut,
    OwnAssetOut,
    PointOut,
    RateLimitOut,
    RecipientNeedOut,
)
from services.dashboard.state import Latest, State, Status, Statuses
from services.monitor.group import AnyRule

RATE_WINDOW_S = 600.0  # the short window of the farm's ramp rules: what a trip shows in
PATH_POINTS = 60
_UNKNOWN = Status(State.UNKNOWN, "no state known")


@dataclass(frozen=True)
class Limits:
    series: str
    low: float | None
    high: float | None
    ramps: tuple[RampRule, ...]


def limits_of(index: ClusterIndex, asset: str, rules: Sequence[AnyRule]) -> Limits | None:
    """The asset's watched temperature: the first temperature series of it with a band
    rule of the asset's owner, the band's limits and the owner's ramp rules on the same
    series (current versions). A band another company keeps on it (a recipient's contract
    band on a supplier's exchanger) is that company's limit, not the asset's."""
    owner = index.assets[asset].owner
    for rule in rules:
        info = index.series.get(rule.series)
        if (isinstance(rule, BandRule) and info is not None and info.asset == asset
                and info.quantity == "temperature" and rule.owner == owner):
            ramps = tuple(r for r in rules if isinstance(r, RampRule)
                          and r.series == rule.series and r.owner == owner)
            return Limits(rule.series, rule.low, rule.high, ramps)
    return None


def slope_per_h(times: Sequence[datetime], values: Sequence[float],
                window_s: float = RATE_WINDOW_S) -> float | None:
    """Least-squares slope in unit per hour; None with too few samples or too short a span
    (half the window) for the number to mean anything."""
    if len(values) < 5:
        return None
    t0 = times[0]
    t_s = np.array([(t - t0).total_seconds() for t in times])
    if t_s[-1] < window_s / 2:
        return None
    slope = np.polyfit(t_s, np.asarray(values, dtype=float), 1)[0]
    return float(slope * 3600.0)


def dependency_time_s(model: ThermalModel | None, pipe_volume_m3: float, value: float | None,
                      limit: float | None, elapsed_s: float = 0.0) -> float | None:
    """Seconds to ``limit`` after the warm inflow stops (``elapsed_s`` ago): what is left
    of the pipe's delay plus the tank's first-order fall toward its cold water."""
    if model is None or value is None or limit is None:
        return None
    tau_s = model.volume_m3 / model.inflow_m3_per_h * 3600.0
    tank = time_to_limit_s(value, model.cold_water_temp_c, limit, tau_s)
    if tank is None:
        return None
    delay = max(0.0, pipe_delay_s(pipe_volume_m3, model.inflow_m3_per_h) - elapsed_s)
    return delay + tank if tank > 0 else 0.0


def predicted_path(model: ThermalModel, value: float, now: datetime, delay_s: float,
                   crossing_s: float | None) -> list[PointOut]:
    """The model's path from ``value`` now: flat for the pipe's remaining delay, then
    falling toward the cold water; long enough to show the crossing and a little after."""
    tau_s = model.volume_m3 / model.inflow_m3_per_h * 3600.0
    horizon = min(3 * 3600.0, max(1800.0, 1.3 * crossing_s if crossing_s else tau_s))
    points = []
    for i in range(PATH_POINTS + 1):
        t = horizon * i / PATH_POINTS
        falling = max(0.0, t - delay_s)
        v = model.cold_water_temp_c + (value - model.cold_water_temp_c) * math.exp(
            -falling / tau_s)
        points.append(PointOut(ts=now + timedelta(seconds=t), value=round(v, 3)))
    return points


async def lost_supplies(pool: asyncpg.Pool, org: str) -> dict[str, datetime]:
    """Exchange -> since when an active alert of ``org`` says its supply is lost upstream."""
    try:
        return await alert_history.supplies_lost(pool, org,
                                                 LOSS_STATES - {"predicted_low", "falling"})
    except asyncpg.UndefinedTableError:  # a service built without the alert part
        return {}


class OwnView:
    def __init__(self, index: ClusterIndex) -> None:
        self.index = index

    def own_assets(self, org: str, rules: Sequence[AnyRule]) -> list[str]:
        """Assets of ``org`` that receive heat or have a watched temperature."""
        receiving = {a for e in self.index.cluster.exchanges for a in e.recipient_assets}
        return [a.id for a in self.index.assets.values() if a.owner == org
                and (a.id in receiving or limits_of(self.index, a.id, rules) is not None)]

    def feeding(self, asset: str) -> list[Exchange]:
        return [e for e in self.index.cluster.exchanges if asset in e.recipient_assets]

    def asset(self, asset_id: str, rules: Sequence[AnyRule], latest: Mapping[str, Latest],
              quality: Mapping[str, str], rate: float | None, statuses: Statuses,
              lost: Mapping[str, datetime], now: datetime) -> OwnAssetOut:
        index = self.index
        asset = index.assets[asset_id]
        limits = limits_of(index, asset_id, rules)
        current = latest.get(limits.series) if limits else None
        value = current.value if current else None
        model = asset.thermal_model
        status = statuses.assets.get(asset_id, _UNKNOWN)
        deps = []
        path: list[PointOut] = []
        crossing_at = None
        for e in self.feeding(asset_id):
            pipe = reach(index, e.exchanger, e).pipe_volume_m3
            since = lost.get(e.id)
            elapsed = (now - since).total_seconds() if since else 0.0
            low = limits.low if limits else None
            ttl = dependency_time_s(model, pipe, value, low, elapsed)
            deps.append(DependencyOut(
                exchange=e.id, upstream=e.exchanger, upstream_name=index.assets[e.exchanger].name,
                supplier=e.supplier, state=statuses.exchanges.get(e.id, _UNKNOWN).state,
                limit_c=low, side="low" if low is not None else None, time_to_limit_s=ttl,
                lost_since=since))
            if since is not None and model is not None and value is not None and not path:
                delay = max(0.0, pipe_delay_s(pipe, model.inflow_m3_per_h) - elapsed)
                path = predicted_path(model, value, now, delay, ttl)
                crossing_at = now + timedelta(seconds=ttl) if ttl is not None else None
        return OwnAssetOut(
            asset=asset_id, name=asset.name, state=status.state, reason=status.reason,
            series=limits.series if limits else None, value=value,
            ts=current.ts if current else None,
            quality=quality.get(limits.series) if limits and current else None,
            rate_k_per_h=rate, rate_window_s=RATE_WINDOW_S,
            low=limits.low if limits else None, high=limits.high if limits else None,
            rate_limits=[RateLimitOut(rule_id=r.id, severity=r.severity,
                                      max_rise_per_h=r.max_rise_per_h,
                                      max_fall_per_h=r.max_fall_per_h)
                         for r in (limits.ramps if limits else ())],
            dependencies=deps, predicted=path, crossing_at=crossing_at)

    def needs(self, org: str, rules: Sequence[AnyRule], private: Mapping[str, Latest],
              statuses: Statuses) -> tuple[list[RecipientNeedOut], list[str]]:
        """What ``org``'s recipients need from it, and the recipients' series the figures
        were computed from (for their access log)."""
        out, used = [], []
        for e in self.index.cluster.exchanges:
            if e.supplier != org:
                continue
            for asset_id in e.recipient_assets:
                asset = self.index.assets[asset_id]
                limits = limits_of(self.index, asset_id, rules)
                current = private.get(limits.series) if limits else None
                if limits and current:
                    used.append(limits.series)
                rates = [r for lim in ([limits] if limits else []) for r in lim.ramps
                         if r.severity == "alarm"]
                pipe = reach(self.index, e.exchanger, e).pipe_volume_m3
                out.append(RecipientNeedOut(
                    exchange=e.id, recipient=e.recipient,
                    recipient_name=self.index.organisations[e.recipient].name,
                    asset_name=asset.name,
                    state=statuses.exchanges.get(e.id, _UNKNOWN).state,
                    low=limits.low if limits else None, high=limits.high if limits else None,
                    max_rate_per_h=min((r.max_fall_per_h or math.inf for r in rates),
                                       default=None),
                    time_to_limit_s=dependency_time_s(
                        asset.thermal_model, pipe, current.value if current else None,
                        limits.low if limits else None)))
        return out, used
