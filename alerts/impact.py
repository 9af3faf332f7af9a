"""Who a finding concerns, along the cluster's topology: one draft per organisation.

A condition at a heat source or exchanger (the supply side of an exchange) reaches every
recipient downstream of it, each told the upstream cause, its own affected asset, its time
to impact and the exchange's contingency steps; the supplier is told too. A recipient that
cannot take the heat (its intake flow lost) is reported to the supplier, which must get rid
of it. Anything else concerns the rule's owner and the series' owner only; a condition on a
recipient's asset is marked a symptom, for the inhibition stage to group under its cause.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from alerts import restart
from alerts.conditions import DATA_STATES, EXCESS_STATES, LOSS_STATES
from alerts.model import Draft, Role
from alerts.severity import severity_for
from alerts.thermal import time_to_impact_s
from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.model import AssetKind, Exchange, ThermalModel
from heatlink.findings import Finding


@dataclass(frozen=True)
class Reach:
    """An exchange affected by a condition at ``cause_asset``, and how far the heat travels."""

    exchange: Exchange
    recipient_asset: str | None
    pipe_volume_m3: float


def dedup_key(finding: Finding) -> str:
    # One alert per rule and series: state changes (predicted → breached) update it.
    return f"{finding.rule_id}|{finding.series}"


def supply_exchanges(index: ClusterIndex, asset: str) -> list[Exchange]:
    """Exchanges whose exchanger is ``asset`` or downstream of it."""
    reached = {asset, *index.downstream(asset)}
    return [e for e in index.cluster.exchanges if e.exchanger in reached]


def reach(index: ClusterIndex, cause_asset: str, exchange: Exchange) -> Reach:
    """The first recipient asset of ``exchange`` downstream of the cause, and the pipe volume
    the heat crosses on the way (pipes between them)."""
    parents: dict[str, str | None] = {cause_asset: None}
    queue = deque([cause_asset])
    while queue:
        current = queue.popleft()
        for nxt in index.assets[current].feeds if current in index.assets else []:
            if nxt not in parents:
                parents[nxt] = current
                queue.append(nxt)
    for target in exchange.recipient_assets:
        if target in parents:
            volume = 0.0
            step = parents[target]
            while step is not None:
                found = index.assets[step]
                if found.kind == AssetKind.PIPE and found.volume_m3:
                    volume += found.volume_m3
                step = parents[step]
            return Reach(exchange, target, volume)
    return Reach(exchange, exchange.recipient_assets[0] if exchange.recipient_assets else None,
                 0.0)


def watched_temperature(index: ClusterIndex, asset: str) -> tuple[str, float, float] | None:
    """The temperature series of ``asset`` with a band rule: (series, low, high)."""
    for rule in index.cluster.rules:
        if rule.kind != "band":
            continue
        info = index.series.get(rule.series)
        if info is None or info.asset != asset or info.quantity != "temperature":
            continue
        low = getattr(rule, "low", None)
        high = getattr(rule, "high", None)
        return (rule.series, float("-inf") if low is None else low,
                float("inf") if high is None else high)
    return None


def needed_series(index: ClusterIndex, finding: Finding) -> list[str]:
    """Latest values the impact of ``finding`` needs (recipient tank temperatures, and for
    a recipient's rise the supply and its warm share)."""
    asset = _asset_of(index, finding)
    found = restart.needed_series(index, finding)
    if asset is None or finding.state not in LOSS_STATES | EXCESS_STATES:
        return found
    for exchange in supply_exchanges(index, asset):
        for target in exchange.recipient_assets:
            watched = watched_temperature(index, target)
            if watched:
                found.append(watched[0])
        if exchange.supply_band is not None:
            found.append(exchange.supply_band.series)
    return found


def drafts(index: ClusterIndex, finding: Finding, latest: Mapping[str, float]) -> list[Draft]:
    """Every organisation's draft for ``finding``; ``latest`` holds the values named by
    `needed_series` that are known."""
    asset = _asset_of(index, finding)
    active = finding.state != "ok"
    owners = {finding.owner}
    info = index.series.get(finding.series)
    if info is not None:
        owners.add(info.owner)
    state = finding.state if active else finding.previous_state
    by_org: dict[str, Draft] = {}
    if asset is not None and state not in DATA_STATES:
        if _intake_lost(index, finding, asset, state):
            for exchange in _intake_exchanges(index, asset):
                for org, role in ((exchange.supplier, Role.SUPPLIER),
                                  (exchange.recipient, Role.RECIPIENT)):
                    by_org[org] = _intake_draft(index, finding, exchange, org, role, asset,
                                                active)
        elif state in LOSS_STATES | EXCESS_STATES | {"fouled"}:
            for exchange in supply_exchanges(index, asset):
                r = reach(index, asset, exchange)
                by_org[exchange.recipient] = _recipient_draft(index, finding, r, asset,
                                                              latest, active, state)
                by_org.setdefault(exchange.supplier,
                                  _supplier_draft(index, finding, exchange, asset,
                                                  active, latest))
    for org in sorted(owners):
        if org not in by_org and org in index.organisations:
            by_org[org] = _owner_draft(index, finding, asset, active, org)
    # A recipient warming too fast: its supplier hears how slowly to bring the heat back.
    return [by_org[o] for o in sorted(by_org)] + restart.drafts(index, finding, latest)


def owner_drafts(index: ClusterIndex, finding: Finding) -> list[Draft]:
    """Drafts for the rule's and the series' owners only: the fallback when the topology
    cannot place a finding."""
    info = index.series.get(finding.series)
    asset = info.asset if info is not None else None
    owners = {finding.owner} | ({info.owner} if info is not None else set())
    return [_owner_draft(index, finding, asset, finding.state != "ok", org)
            for org in sorted(owners) if org in index.organisations]


def _asset_of(index: ClusterIndex, finding: Finding) -> str | None:
    info = index.series.get(finding.series)
    return info.asset if info is not None else None


def _intake_exchanges(index: ClusterIndex, asset: str) -> list[Exchange]:
    found = []
    for e in index.cluster.exchanges:
        downstream = index.downstream(e.exchanger)
        if asset in e.recipient_assets or asset in downstream:
            found.append(e)
    return found


def _intake_lost(index: ClusterIndex, finding: Finding, asset: str, state: str) -> bool:
    """A flow on the recipient's side of an exchange fell away: the heat has nowhere to go."""
    info = index.series.get(finding.series)
    if info is None or info.quantity != "flow" or state not in {"low", "disrupted"}:
        return False
    on_exchanger_secondary = (any(e.exchanger == asset for e in index.cluster.exchanges)
                              and "/secondary/" in finding.series)
    return on_exchanger_secondary or (bool(_intake_exchanges(index, asset))
                                      and not supply_exchanges(index, asset))


def _base(index: ClusterIndex, finding: Finding, org: str) -> dict[str, object]:
    """What the finding said, as far as ``org`` may read its series: a recipient told of a
    cause upstream learns what happened and when, not the values of another company's
    series that no contract shares with it."""
    base: dict[str, object] = {
        "rule_id": finding.rule_id, "rule_kind": finding.kind, "state": finding.state,
        "previous_state": finding.previous_state, "ts": finding.ts.isoformat(),
        "since_ts": finding.since_ts.isoformat(), "late": finding.late}
    if _visible(index, finding, org):
        base.update({"series": finding.series, "value": finding.value,
                     "slope_per_h": finding.slope_per_h, "detail": finding.detail})
    return base


def _visible(index: ClusterIndex, finding: Finding, org: str) -> bool:
    return finding.series in index.visible_series(org)


@dataclass(frozen=True)
class Impact:
    """The recipient's time to its own limit; ``never`` when the heat balance now says it
    is not reached; the range from the model's uncertainty (τ ±10 %, T∞ ±0.5 K)."""

    tti_s: float | None
    low_s: float | None = None
    high_s: float | None = None  # None with a tti: perhaps never
    never: bool = False


TAU_UNCERTAINTY = 0.10
T_INF_UNCERTAINTY_K = 0.5


def _recipient_draft(index: ClusterIndex, finding: Finding, r: Reach, cause: str,
                     latest: Mapping[str, float], active: bool, state: str) -> Draft:
    e = r.exchange
    impact = _impact(index, finding, r, latest, state) if active else None
    tti = impact.tti_s if impact is not None else None
    if impact is None and finding.predicted_time_to_limit_s is not None and active:
        tti = finding.predicted_time_to_limit_s
    cause_name = index.assets[cause].name if cause in index.assets else cause
    own = r.recipient_asset or ""
    own_name = index.assets[own].name if own in index.assets else own
    # The cause's owner, which is not the direct supplier when the heat passes through others.
    cause_org = index.assets[cause].owner if cause in index.assets else e.supplier
    supplier = index.organisations[cause_org].name
    verb = "lost" if state in LOSS_STATES else ("too hot" if state in EXCESS_STATES else state)
    when = ""
    if tti is not None:
        when = f", limit in {_minutes(tti)}"
        if impact is not None and impact.low_s is not None:
            upper = _minutes(impact.high_s) if impact.high_s is not None else "never"
            when += f" ({_minutes(impact.low_s)} to {upper})"
    elif impact is not None and impact.never:
        when = "; its limit is not reached at the supply's present temperature"
    title = f"Heat supply {verb} upstream at {cause_name} ({supplier}): {own_name} affected{when}"
    detail = {**_base(index, finding, e.recipient), "cause": {"asset": cause,
                                                             "name": cause_name,
                                          "org": cause_org, "org_name": supplier},
              "affected_asset": {"asset": own, "name": own_name},
              "time_to_impact_s": tti,
              "time_to_impact_range_s": None if impact is None or impact.low_s is None
              else [impact.low_s, impact.high_s],
              "contingency": list(e.contingency),
              "exchange": {"id": e.id, "name": e.name}}
    limit = _own_limit(index, own, state)
    if limit is not None:  # the recipient's own limit, which the message names
        detail["limit"] = limit
    series = finding.series if _visible(index, finding, e.recipient) else None
    return Draft(dedup_key(finding), e.recipient, Role.RECIPIENT, finding.kind, finding.state,
                 active, severity_for(finding.severity, tti), title, finding.rule_id,
                 series, own or None, cause, e.id, tti, finding.since_ts, detail)


def _own_limit(index: ClusterIndex, asset: str, state: str) -> dict[str, object] | None:
    """The limit of the recipient's asset the condition drives toward: below its band's low
    when the heat is lost, above its high when too much comes."""
    watched = watched_temperature(index, asset) if asset else None
    if watched is None:
        return None
    _, low, high = watched
    if state in LOSS_STATES and low != float("-inf"):
        return {"side": "below", "value_c": low}
    if state in EXCESS_STATES and high != float("inf"):
        return {"side": "above", "value_c": high}
    return None


def _impact(index: ClusterIndex, finding: Finding, r: Reach, latest: Mapping[str, float],
            state: str) -> Impact | None:
    """None when it cannot be computed (no model, no tank temperature)."""
    if r.recipient_asset is None:
        return None
    target = index.assets[r.recipient_asset]
    model = target.thermal_model
    watched = watched_temperature(index, r.recipient_asset)
    if model is None or watched is None or watched[0] not in latest:
        return None
    series, low, high = watched
    t0 = latest[series]
    info = index.series.get(finding.series)
    supply_temp = info is not None and info.quantity == "temperature" \
        and finding.kind != "supply_disruption" and finding.value is not None
    if state in LOSS_STATES:
        # The heat balance now, not an assumed total loss: at best (all of the inflow warm)
        # the tank heads for what the supply still brings. A supply that is only too cold
        # brings its temperature; a disruption the share of heat left (value against the
        # level before the drop) of the supply's lift above the cold water.
        cold = model.cold_water_temp_c
        t_inf, limit = cold, low
        band = r.exchange.supply_band
        if supply_temp and finding.value is not None:
            t_inf = max(cold, finding.value)
        elif (finding.kind == "supply_disruption" and finding.value is not None
              and finding.reference_value and band is not None and band.series in latest):
            # The heat still falling when the drop is seen makes the share left an upper
            # bound: the estimate stays a total loss (the safe side), its range reaches to
            # what that share would hold.
            left = min(max(finding.value / finding.reference_value, 0.0), 1.0)
            held = cold + left * max(latest[band.series] - cold, 0.0)
            return _with_range(r, model, t0, cold, limit, later_t_inf=held)
    elif finding.value is not None:
        t_inf, limit = finding.value, high
    else:
        return None
    if limit in (float("inf"), float("-inf")):
        return None
    loss = state in LOSS_STATES
    if (loss and t_inf >= limit <= t0) or (not loss and t_inf <= limit >= t0):
        return Impact(None, never=True)  # it settles on the safe side of its limit

    return _with_range(r, model, t0, t_inf, limit)


def _with_range(r: Reach, model: ThermalModel, t0: float, t_inf: float, limit: float,
                later_t_inf: float | None = None) -> Impact:
    """The time to the limit and its range: τ ±10 %, T∞ ±0.5 K (or, for the later end,
    ``later_t_inf`` when that is the uncertain part)."""

    def at(tau_factor: float, t_inf_c: float) -> float | None:
        return time_to_impact_s(pipe_volume_m3=r.pipe_volume_m3, volume_m3=model.volume_m3,
                                inflow_m3_per_h=model.inflow_m3_per_h / tau_factor, t0_c=t0,
                                t_inf_c=t_inf_c, limit_c=limit)

    tti = at(1.0, t_inf)
    if tti is None:
        return Impact(None, never=True)
    away = 1.0 if limit > t_inf else -1.0  # which way T∞ moves to make the crossing later
    later = t_inf + away * T_INF_UNCERTAINTY_K
    if later_t_inf is not None:
        later = later_t_inf + away * T_INF_UNCERTAINTY_K
    if away * (limit - later) <= 0:
        return Impact(tti, at(1 - TAU_UNCERTAINTY, t_inf - away * T_INF_UNCERTAINTY_K), None)
    return Impact(tti, at(1 - TAU_UNCERTAINTY, t_inf - away * T_INF_UNCERTAINTY_K),
                  at(1 + TAU_UNCERTAINTY, later))


def _supplier_draft(index: ClusterIndex, finding: Finding, e: Exchange, cause: str,
                    active: bool, latest: Mapping[str, float]) -> Draft:
    title = f"{e.name}: {finding.state.replace('_', ' ')} at {cause}; the recipient is told"
    detail = {**_base(index, finding, e.supplier), "cause": {"asset": cause},
              "exchange": {"id": e.id, "name": e.name}, "recipient": e.recipient}
    ramp_s = restart.ahead_s(index, e, latest) if active and finding.kind == \
        "supply_disruption" else None
    if ramp_s is not None:
        # Told before the restart: the tank only cools meanwhile, so this is a lower bound.
        exchanger = index.assets[e.exchanger].name if e.exchanger in index.assets \
            else e.exchanger
        title += (f"; when restarting, bring {exchanger} back over at least "
                  f"{max(1, round(ramp_s / 60))} min")
        detail["slowest_ramp_s"] = ramp_s
        detail["exchanger_name"] = exchanger
    series = finding.series if _visible(index, finding, e.supplier) else None
    return Draft(dedup_key(finding), e.supplier, Role.SUPPLIER, finding.kind, finding.state,
                 active, severity_for(finding.severity, None), title, finding.rule_id,
                 series, cause, cause, e.id, None, finding.since_ts, detail)


def _intake_draft(index: ClusterIndex, finding: Finding, e: Exchange, org: str, role: Role,
                  asset: str, active: bool) -> Draft:
    title = (f"{e.name}: the recipient cannot take the heat ({finding.series} "
             f"{finding.state.replace('_', ' ')}); dispose of it"
             if role is Role.SUPPLIER else
             f"{e.name}: intake lost at {asset}; the supplier is told")
    detail = {**_base(index, finding, org), "cause": {"asset": asset, "org": e.recipient},
              "exchange": {"id": e.id, "name": e.name}}
    series = finding.series if _visible(index, finding, org) else None
    return Draft(dedup_key(finding), org, role, "intake_closed", finding.state, active,
                 severity_for(finding.severity, None), title, finding.rule_id, series,
                 asset, asset, e.id, None, finding.since_ts, detail)


def _owner_draft(index: ClusterIndex, finding: Finding, asset: str | None,
                 active: bool, org: str) -> Draft:
    name = index.assets[asset].name if asset and asset in index.assets else finding.series
    title = f"{name}: {finding.state.replace('_', ' ')} ({finding.rule_id})"
    symptom = asset is not None and any(asset in index.downstream(e.exchanger)
                                        for e in index.cluster.exchanges)
    return Draft(dedup_key(finding), org, Role.OWNER, finding.kind,
                 finding.state, active, severity_for(finding.severity,
                                                     finding.predicted_time_to_limit_s),
                 title, finding.rule_id, finding.series, asset, None, None,
                 finding.predicted_time_to_limit_s, finding.since_ts,
                 {**_base(index, finding, org), "asset_name": name},
                 symptom_of_upstream=symptom)


def _minutes(seconds: float) -> str:
    return "now" if seconds <= 0 else f"{seconds / 60:.0f} min"
