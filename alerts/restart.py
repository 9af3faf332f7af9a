"""The supplier told, at its restart, how slowly the recipient needs the heat back.

A recipient's ramp rule predicting (or seeing) its rise limit crossed means the warm supply
is coming back faster than the recipient can take. A tank following a supply that rises
slowly warms at about w·(supply's rate) (w the warm share of its inflow, the first-order
lag aside), so the supply may climb the gap between the tank and its normal level no
faster than the limit / w: the slowest ramp, in minutes, goes to the supplier.
"""

from __future__ import annotations

from collections.abc import Mapping

from alerts.model import Draft, Role
from alerts.severity import severity_for
from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.model import Exchange
from heatlink.cluster.rule_spec import RampRule
from heatlink.findings import Finding

RISE_STATES = frozenset({"predicted_rising", "rising"})


def _ramp_rule(index: ClusterIndex, finding: Finding) -> RampRule | None:
    for rule in index.cluster.rules:
        if rule.id == finding.rule_id and isinstance(rule, RampRule):
            return rule
    return None


def concerns(index: ClusterIndex, finding: Finding) -> bool:
    """A rise of a recipient's alarm ramp rule, on an asset some exchange supplies."""
    state = finding.state if finding.state != "ok" else finding.previous_state
    rule = _ramp_rule(index, finding)
    if state not in RISE_STATES or rule is None or rule.max_rise_per_h is None \
            or rule.severity != "alarm":
        return False
    info = index.series.get(finding.series)
    return info is not None and bool(_exchanges(index, info.asset))


def _exchanges(index: ClusterIndex, asset: str) -> list[Exchange]:
    return [e for e in index.cluster.exchanges
            if asset in e.recipient_assets and e.supply_band is not None]


def needed_series(index: ClusterIndex, finding: Finding) -> list[str]:
    info = index.series.get(finding.series)
    if info is None or not concerns(index, finding):
        return []
    model = index.assets[info.asset].thermal_model
    keys = [e.supply_band.series for e in _exchanges(index, info.asset) if e.supply_band]
    if model is not None and model.warm_share_series:
        keys.append(model.warm_share_series)
    return keys


def slowest_ramp_s(tank_c: float, supply_normal_c: float, warm_share: float,
                   max_rise_k_per_h: float) -> float:
    """Seconds over which the supply may come back without the tank rising faster than
    ``max_rise_k_per_h``: the gap the supply closes above the tank, times the warm share,
    at the limit's rate. 0 when the supply's normal level is not above the tank."""
    gap_k = max(0.0, supply_normal_c - tank_c)
    return gap_k * min(max(warm_share, 0.0), 1.0) / max_rise_k_per_h * 3600.0


def drafts(index: ClusterIndex, finding: Finding, latest: Mapping[str, float]
           ) -> list[Draft]:
    """One draft per supplier of the recipient's asset."""
    rule = _ramp_rule(index, finding)
    info = index.series.get(finding.series)
    if not concerns(index, finding) or rule is None or rule.max_rise_per_h is None \
            or info is None:
        return []
    asset = index.assets[info.asset]
    model = asset.thermal_model
    share_key = model.warm_share_series if model is not None else None
    # Unknown share: the valve fully open, as it is when a cold tank waits for its heat.
    share = latest.get(share_key, 100.0) / 100.0 if share_key else 1.0
    active = finding.state != "ok"
    out = []
    for e in _exchanges(index, asset.id):
        band = e.supply_band
        assert band is not None
        exchanger = index.assets[e.exchanger].name if e.exchanger in index.assets \
            else e.exchanger
        # The supply's normal level: the middle of the band the contract promises.
        normal_c = (band.low + band.high) / 2
        tank_c = finding.value if finding.value is not None else band.low
        ramp_s = slowest_ramp_s(tank_c, normal_c, share, rule.max_rise_per_h)
        minutes = max(1, round(ramp_s / 60))
        when = finding.predicted_time_to_limit_s
        title = (f"Bring {exchanger} back over at least {minutes} min: {asset.name} "
                 f"({index.organisations[e.recipient].name}) may warm at most "
                 f"{rule.max_rise_per_h:g} K/h"
                 + (f"; at this pace it is crossed in {max(0, round(when / 60))} min"
                    if when is not None and finding.state == "predicted_rising" else
                    "; it is crossed now" if finding.state == "rising" else ""))
        detail = {"rule_id": finding.rule_id, "state": finding.state,
                  "previous_state": finding.previous_state, "ts": finding.ts.isoformat(),
                  "slowest_ramp_s": ramp_s, "max_rise_k_per_h": rule.max_rise_per_h,
                  "recipient": e.recipient, "affected_asset": {"asset": asset.id,
                                                               "name": asset.name},
                  "exchange": {"id": e.id, "name": e.name}, "exchanger_name": exchanger,
                  "recipient_name": index.organisations[e.recipient].name}
        out.append(Draft(f"restart|{e.id}", e.supplier, Role.SUPPLIER, "restart_ramp",
                         finding.state, active, severity_for("warning", None), title,
                         finding.rule_id, None, e.exchanger, asset.id, e.id,
                         finding.predicted_time_to_limit_s, finding.since_ts, detail))
    return out


def ahead_s(index: ClusterIndex, e: Exchange, latest: Mapping[str, float]) -> float | None:
    """Before a restart (the supply lost): the slowest ramp the recipient's tank needs as
    it is now, all of its inflow warm (its valve opens fully as it cools); None when no
    recipient asset has a rise limit and a known temperature."""
    band = e.supply_band
    if band is None:
        return None
    found = []
    for asset_id in e.recipient_assets:
        temp = next((s for s in index.cluster.series if s.asset == asset_id
                     and s.quantity == "temperature" and s.key in latest), None)
        rises = [r.max_rise_per_h for r in index.cluster.rules if isinstance(r, RampRule)
                 and r.severity == "alarm" and r.max_rise_per_h is not None
                 and temp is not None and r.series == temp.key]
        if temp is None or not rises:
            continue
        found.append(slowest_ramp_s(latest[temp.key], (band.low + band.high) / 2, 1.0,
                                    min(rises)))
    return max(found) if found else None
