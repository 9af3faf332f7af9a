"""What the engine needs to know about a cluster, taken from the cluster file once.

Kept apart from `Cluster` so the engine can also run on a bare list of series (the
benchmark, `Rule.evaluate`) without building a whole cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.cluster.model import Cluster
from services.monitor.findings import State
from services.monitor.spec import BandRule, SupplyDisruptionRule


@dataclass(frozen=True)
class DerivedPowerDef:
    key: str
    flow: str
    temp_in: str
    temp_out: str


@dataclass(frozen=True)
class RecipientModel:
    """First-order model of a recipient and the rules that say its warm supply is lost."""

    tau_s: float
    final_value: float
    upstream: tuple[tuple[str, State], ...]  # (rule id, state meaning "lost")


@dataclass(frozen=True)
class Plan:
    series: tuple[str, ...]
    derived: tuple[DerivedPowerDef, ...] = ()
    recipients: Mapping[str, RecipientModel] = field(default_factory=dict)  # by band rule id


def _ancestors(cluster: Cluster, asset: str) -> set[str]:
    """The asset and every asset that feeds it, directly or through others."""
    found = {asset}
    frontier = [asset]
    while frontier:
        current = frontier.pop()
        for a in cluster.assets:
            if current in a.feeds and a.id not in found:
                found.add(a.id)
                frontier.append(a.id)
    return found


def plan_from_cluster(cluster: Cluster) -> Plan:
    asset_of = {s.key: s.asset for s in cluster.series}
    asset_of.update({d.key: d.asset for d in cluster.derived})
    assets = {a.id: a for a in cluster.assets}
    recipients: dict[str, RecipientModel] = {}
    for rule in cluster.rules:
        if not isinstance(rule, BandRule) or rule.low is None:
            continue
        asset = assets.get(asset_of.get(rule.series, ""))
        if asset is None or asset.thermal_model is None:
            continue
        model = asset.thermal_model
        upstream: list[tuple[str, State]] = []
        for exchange in cluster.exchanges:
            if asset.id not in exchange.recipient_assets:
                continue
            feeding = _ancestors(cluster, exchange.exchanger)
            supply = exchange.supply_band.series if exchange.supply_band else None
            for other in cluster.rules:
                if other.id == rule.id:
                    continue
                if isinstance(other, SupplyDisruptionRule) and \
                        asset_of.get(other.series) in feeding:
                    upstream.append((other.id, State.DISRUPTED))
                elif isinstance(other, BandRule) and other.low is not None and (
                        other.series == supply or
                        asset_of.get(other.series) == exchange.exchanger):
                    upstream.append((other.id, State.LOW))
        recipients[rule.id] = RecipientModel(
            tau_s=model.volume_m3 / model.inflow_m3_per_h * 3600.0,
            final_value=model.cold_water_temp_c,
            upstream=tuple(upstream))
    return Plan(
        series=tuple(s.key for s in cluster.series),
        derived=tuple(DerivedPowerDef(d.key, d.flow, d.temp_in, d.temp_out)
                      for d in cluster.derived),
        recipients=recipients)
