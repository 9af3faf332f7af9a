"""The dashboard snapshot: which assets, exchanges and series one organisation sees."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cached_property

from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.model import AssetKind, Exchange
from heatlink.water import heat_power_w
from services.dashboard.schemas import (
    BandOut,
    EdgeOut,
    ExchangeOut,
    LatestValueOut,
    NodeOut,
    Role,
    SeriesMetaOut,
    SideOut,
    SnapshotOut,
)
from services.dashboard.state import Latest, State, Status, Statuses

_UNKNOWN = Status(State.UNKNOWN, "no state known")
_SIDE_FIELDS = ("supply_temp", "return_temp", "flow", "power")


class ClusterView:
    """Precomputed layout of the cluster (depths, roles, exchanger sides); cheap to ask
    per request for one organisation."""

    def __init__(self, index: ClusterIndex) -> None:
        self.index = index

    @cached_property
    def depth(self) -> dict[str, int]:
        """Longest path from a root along ``feeds``: the graph's column order."""
        assets = self.index.assets
        memo: dict[str, int] = {}
        parents: dict[str, list[str]] = {a: [] for a in assets}
        for a in assets.values():
            for target in a.feeds:
                if target in parents:
                    parents[target].append(a.id)

        def visit(asset_id: str, trail: frozenset[str]) -> int:
            if asset_id not in memo:
                ups = [p for p in parents[asset_id] if p not in trail]  # cycles: cut
                memo[asset_id] = 1 + max((visit(p, trail | {asset_id}) for p in ups),
                                         default=-1)
            return memo[asset_id]

        return {a: visit(a, frozenset()) for a in assets}

    @cached_property
    def sides(self) -> dict[str, tuple[SideOut, SideOut]]:
        """Per exchanger asset: series of its primary and secondary side, by position."""
        found: dict[str, dict[str, dict[str, str]]] = {}
        for key, info in self.index.series.items():
            rest = key[len(info.asset) + 1:] if key.startswith(info.asset + "/") else ""
            side, _, name = rest.partition("/")
            if side in ("primary", "secondary") and name in _SIDE_FIELDS:
                found.setdefault(info.asset, {}).setdefault(side, {})[name] = key
        return {a: (SideOut(**s.get("primary", {})), SideOut(**s.get("secondary", {})))
                for a, s in found.items()}

    def visible_assets(self, org: str, visible: frozenset[str]) -> list[str]:
        if self.index.is_facilitator(org):
            return list(self.index.assets)
        shown = {a.id for a in self.index.assets.values() if a.owner == org}
        shown |= {self.index.series[k].asset for k in visible}
        for e in self.index.exchanges_of(org):
            shown |= {e.exchanger, *e.recipient_assets}
        return [a for a in self.index.assets if a in shown]

    def snapshot(self, org: str, visible: frozenset[str], latest: Mapping[str, Latest],
                 quality: Mapping[str, str], statuses: Statuses, now: datetime,
                 refresh_s: float) -> SnapshotOut:
        index = self.index
        asset_ids = self.visible_assets(org, visible)
        shown = set(asset_ids)
        nodes = [self._node(a, visible, statuses) for a in asset_ids]
        edges = [EdgeOut(source=a, target=t) for a in asset_ids
                 for t in index.assets[a].feeds if t in shown]
        exchanges = [self._exchange(e, visible, latest, statuses)
                     for e in index.cluster.exchanges
                     if index.is_facilitator(org) or e.exchanger in shown]
        series = [SeriesMetaOut(key=k, asset=s.asset, quantity=s.quantity, unit=s.unit,
                                owner=s.owner)
                  for k, s in sorted(index.series.items()) if k in visible]
        return SnapshotOut(
            cluster=index.cluster.cluster.name, timezone=index.timezone, org=org,
            generated_at=now, refresh_s=refresh_s, nodes=nodes, edges=edges,
            exchanges=exchanges, series=series,
            latest={k: LatestValueOut(ts=v.ts, value=v.value, quality=quality.get(k, "good"),
                                      age_s=(now - v.ts).total_seconds())
                    for k, v in latest.items() if k in visible})

    def _node(self, asset_id: str, visible: frozenset[str], statuses: Statuses) -> NodeOut:
        asset = self.index.assets[asset_id]
        role: Role = ("source" if asset.kind == AssetKind.HEAT_SOURCE else
                      "exchanger" if asset.kind == AssetKind.HEAT_EXCHANGER else "recipient")
        status = statuses.assets.get(asset_id, _UNKNOWN)
        return NodeOut(id=asset.id, name=asset.name, kind=str(asset.kind), owner=asset.owner,
                       site=asset.site, role=role, depth=self.depth[asset_id],
                       state=status.state, reason=status.reason, reason_key=status.key,
                       reason_values=dict(status.values),
                       series=sorted(k for k, s in self.index.series.items()
                                     if s.asset == asset_id and k in visible))

    def _exchange(self, e: Exchange, visible: frozenset[str], latest: Mapping[str, Latest],
                  statuses: Statuses) -> ExchangeOut:
        primary, secondary = self.sides.get(e.exchanger, (SideOut(), SideOut()))
        primary, secondary = _only_visible(primary, visible), _only_visible(secondary, visible)
        status = statuses.exchanges.get(e.id, _UNKNOWN)
        band = e.supply_band
        return ExchangeOut(
            id=e.id, name=e.name, supplier=e.supplier, recipient=e.recipient,
            exchanger=e.exchanger, recipient_assets=list(e.recipient_assets),
            contracted_power_kw=e.contracted_power_kw,
            supply_band=BandOut(series=band.series, low=band.low, high=band.high)
            if band else None, notice_period_h=e.notice_period_h, state=status.state,
            reason=status.reason, reason_key=status.key,
            reason_values=dict(status.values), power_kw=self._power_kw(secondary, primary, latest),
            primary=primary, secondary=secondary)

    def _power_kw(self, secondary: SideOut, primary: SideOut,
                  latest: Mapping[str, Latest]) -> float | None:
        """Delivered power: the secondary (recipient's) side first, as it is what arrives."""
        for side in (secondary, primary):
            if side.power and side.power in latest:
                return abs(latest[side.power].value)
            values = [latest.get(k) if k else None
                      for k in (side.flow, side.supply_temp, side.return_temp)]
            flow, supply, ret = values
            if flow is not None and supply is not None and ret is not None:
                return abs(heat_power_w(flow.value, supply.value, ret.value)) / 1000.0
        return None


def _only_visible(side: SideOut, visible: frozenset[str]) -> SideOut:
    return SideOut(**{f: (k if k in visible else None)
                      for f in _SIDE_FIELDS if (k := getattr(side, f)) is not None})
