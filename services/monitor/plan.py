"""What the engine needs to know about a cluster, taken from the cluster file once.

Kept apart from `Cluster` so the engine can also run on a bare list of series (the
benchmark, `Rule.evaluate`) without building a whole cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from heatlink.cluster.model import Cluster
from heatlink.cluster.rule_spec import BandRule, RampRule, SupplyDisruptionRule
from heatlink.findings import State


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
    # Warm-water supply temperatures: below the recipient's low limit, no mixing can hold it.
    supply_series: tuple[str, ...] = ()
    # For the heat balance (ramp rules): how long the supply takes to reach the recipient,
    # the share of it in the inflow (a series in %), and how warm it can get at most.
    pipe_delay_s: float = 0.0
    warm_share_series: str | None = None
    supply_max_c: float = float("inf")
    # The supplier's own heat output (kW) feeding the exchanger, and the flow on the supply
    # side (m3/h): a change of the heat output moves the supply temperature by
    # ΔP/(ρ·cp·V̇) a loop's turnover later, so a restart is seen before the supply moves.
    source_power_series: tuple[str, ...] = ()
    # Each heat output's source's load in % (its `Asset.load_series`), "" where it has
    # none: a restart's ramp shows there at once, where the output's noise hides it.
    source_load_series: tuple[str, ...] = ()
    supply_flow_series: str | None = None
    # Temperatures of the supplier's loop downstream of that heat output (the exchanger's
    # hot-side inlet, its supply): heat really coming back warms them within a sample or
    # two, where a heat meter's lone spike moves none of them.
    loop_temp_series: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    series: tuple[str, ...]
    derived: tuple[DerivedPowerDef, ...] = ()
    recipients: Mapping[str, RecipientModel] = field(default_factory=dict)  # by band rule id
    # By ramp rule id: recipients whose heat balance predicts their rate of change.
    ramp_models: Mapping[str, RecipientModel] = field(default_factory=dict)
    # By band rule id, for bands on an exchange's supply: the disruptions upstream of it
    # (a trip seen at the source predicts the supply leaving its band).
    supply_upstream: Mapping[str, tuple[tuple[str, State], ...]] = field(
        default_factory=dict)
    # By band rule id, for bands on an exchange's supply: the supplier's heat output series
    # feeding it and the supply-side flow, whose ramp-down says where the supply is heading.
    supply_sources: Mapping[str, tuple[tuple[str, ...], str | None]] = field(
        default_factory=dict)
    # By band rule id, for bands on an exchange's supply: the loop temperatures downstream
    # of those heat outputs (`RecipientModel.loop_temp_series`).
    supply_loop_temps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


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


def _pipe_volume_m3(cluster: Cluster, start: str, target: str) -> float:
    """Volume of the pipes the water crosses from ``start`` to ``target`` (first path)."""
    assets = {a.id: a for a in cluster.assets}
    parents: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        current = frontier.pop(0)
        for nxt in assets[current].feeds if current in assets else []:
            if nxt not in parents:
                parents[nxt] = current
                frontier.append(nxt)
    volume, step = 0.0, parents.get(target)
    while step is not None:
        a = assets[step]
        if a.kind == "pipe" and a.volume_m3:
            volume += a.volume_m3
        step = parents[step]
    return volume


def _sources(cluster: Cluster, exchanger: str) -> tuple[str, ...]:
    """The heat output series of the heat sources feeding an exchanger."""
    assets = {a.id: a for a in cluster.assets}
    feeding = _ancestors(cluster, exchanger)
    return tuple(s.key for s in cluster.series if s.quantity == "power"
                  and s.asset in feeding and assets[s.asset].kind == "heat_source")


def _loop_temps(cluster: Cluster, exchanger: str, supply_key: str) -> tuple[str, ...]:
    """The exchanger's hot-side inlet (the temperature its other derived power is measured
    from), then its supply."""
    return (*(d.temp_in for d in cluster.derived
              if d.asset == exchanger and d.temp_in != supply_key), supply_key)


def plan_from_cluster(cluster: Cluster) -> Plan:
    asset_of = {s.key: s.asset for s in cluster.series}
    asset_of.update({d.key: d.asset for d in cluster.derived})
    assets = {a.id: a for a in cluster.assets}
    recipients: dict[str, RecipientModel] = {}
    ramp_models: dict[str, RecipientModel] = {}
    supply_upstream: dict[str, tuple[tuple[str, State], ...]] = {}
    supply_sources: dict[str, tuple[tuple[str, ...], str | None]] = {}
    supply_loop_temps: dict[str, tuple[str, ...]] = {}

    def flow_of(supply_key: str) -> str | None:
        return next((d.flow for d in cluster.derived if d.temp_in == supply_key), None)

    for rule in cluster.rules:
        if isinstance(rule, RampRule):
            asset = assets.get(asset_of.get(rule.series, ""))
            if asset is None or asset.thermal_model is None \
                    or asset.thermal_model.warm_share_series is None:
                continue
            model = asset.thermal_model
            for exchange in cluster.exchanges:
                if asset.id not in exchange.recipient_assets or exchange.supply_band is None:
                    continue
                pipe_m3 = _pipe_volume_m3(cluster, exchange.exchanger, asset.id)
                band_key = exchange.supply_band.series
                feeding_powers = _sources(cluster, exchange.exchanger)
                ramp_models[rule.id] = RecipientModel(
                    tau_s=model.volume_m3 / model.inflow_m3_per_h * 3600.0,
                    final_value=model.cold_water_temp_c, upstream=(),
                    supply_series=(exchange.supply_band.series,),
                    pipe_delay_s=pipe_m3 / model.inflow_m3_per_h * 3600.0,
                    warm_share_series=model.warm_share_series,
                    supply_max_c=exchange.supply_band.high,
                    source_power_series=feeding_powers,
                    source_load_series=tuple(assets[asset_of[k]].load_series or ""
                                             for k in feeding_powers),
                    supply_flow_series=next((d.flow for d in cluster.derived
                                             if d.temp_in == band_key), None),
                    loop_temp_series=_loop_temps(cluster, exchange.exchanger, band_key))
                break
            continue
        if not isinstance(rule, BandRule) or rule.low is None:
            continue
        for exchange in cluster.exchanges:
            if exchange.supply_band is not None and exchange.supply_band.series == rule.series:
                feeding = _ancestors(cluster, exchange.exchanger)
                supply_upstream[rule.id] = tuple(
                    (other.id, State.DISRUPTED) for other in cluster.rules
                    if isinstance(other, SupplyDisruptionRule)
                    and asset_of.get(other.series) in feeding)
                power = _sources(cluster, exchange.exchanger)
                supply_sources[rule.id] = (power, flow_of(rule.series))
                supply_loop_temps[rule.id] = _loop_temps(cluster, exchange.exchanger,
                                                         rule.series)
        asset = assets.get(asset_of.get(rule.series, ""))
        if asset is None or asset.thermal_model is None:
            continue
        model = asset.thermal_model
        upstream: list[tuple[str, State]] = []
        supplies: list[str] = []
        powers: tuple[str, ...] = ()
        supply_flow: str | None = None
        loop_temps: tuple[str, ...] = ()
        for exchange in cluster.exchanges:
            if asset.id not in exchange.recipient_assets:
                continue
            feeding = _ancestors(cluster, exchange.exchanger)
            if exchange.supply_band is not None:
                supplies.append(exchange.supply_band.series)
                # The first supply with a known source and flow, put first: its supplier
                # ramping down is a loss coming (the tank's model takes one supply trend).
                power = _sources(cluster, exchange.exchanger)
                if not powers and power and flow_of(exchange.supply_band.series):
                    powers, supply_flow = power, flow_of(exchange.supply_band.series)
                    loop_temps = _loop_temps(cluster, exchange.exchanger,
                                             exchange.supply_band.series)
                    supplies.insert(0, supplies.pop())
            # A supplier's disruption means the warm water is gone. A supply band's LOW is
            # not: a supply a little under its contract band is still mixed to setpoint.
            upstream += [(other.id, State.DISRUPTED) for other in cluster.rules
                         if isinstance(other, SupplyDisruptionRule)
                         and asset_of.get(other.series) in feeding]
        recipients[rule.id] = RecipientModel(
            tau_s=model.volume_m3 / model.inflow_m3_per_h * 3600.0,
            final_value=model.cold_water_temp_c,
            upstream=tuple(upstream), supply_series=tuple(supplies),
            source_power_series=powers, supply_flow_series=supply_flow,
            loop_temp_series=loop_temps)
    return Plan(
        series=tuple(s.key for s in cluster.series),
        derived=tuple(DerivedPowerDef(d.key, d.flow, d.temp_in, d.temp_out)
                      for d in cluster.derived),
        recipients=recipients, ramp_models=ramp_models, supply_upstream=supply_upstream,
        supply_sources=supply_sources, supply_loop_temps=supply_loop_temps)
