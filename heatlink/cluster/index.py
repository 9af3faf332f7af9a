"""Questions asked of the cluster many times a second, answered from precomputed maps."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from heatlink.cluster.model import Cluster, Exchange, OrgKind, Series


@dataclass(frozen=True)
class SeriesInfo:
    key: str
    asset: str
    quantity: str
    unit: str
    owner: str
    range_min: float | None
    range_max: float | None
    derived: bool


class ClusterIndex:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        assets = {a.id: a for a in cluster.assets}
        self.assets = assets
        self.series: dict[str, SeriesInfo] = {}
        for s in cluster.series:
            self.series[s.key] = _info(s, assets[s.asset].owner)
        for d in cluster.derived:
            self.series[d.key] = SeriesInfo(d.key, d.asset, "power", "kW",
                                            d.owner or assets[d.asset].owner, None, None, True)
        self.organisations = {o.id: o for o in cluster.organisations}

    @property
    def timezone(self) -> str:
        return self.cluster.cluster.timezone

    def is_facilitator(self, org: str) -> bool:
        found = self.organisations.get(org)
        return found is not None and found.kind == OrgKind.FACILITATOR

    @cached_property
    def _shared_with(self) -> dict[str, frozenset[str]]:
        shared: dict[str, set[str]] = {o: set() for o in self.organisations}
        for e in self.cluster.exchanges:
            for key in e.shared_series:
                owner = self.series[key].owner
                # A contract shares the supplier's series with the recipient and, where it
                # lists recipient-owned series, those with the supplier.
                if owner == e.supplier:
                    shared[e.recipient].add(key)
                elif owner == e.recipient:
                    shared[e.supplier].add(key)
        return {o: frozenset(keys) for o, keys in shared.items()}

    def visible_series(self, org: str) -> frozenset[str]:
        """Series ``org`` may read: its own and what its exchanges share with it."""
        if self.is_facilitator(org):
            return frozenset(self.series)
        own = {k for k, s in self.series.items() if s.owner == org}
        return frozenset(own) | self._shared_with.get(org, frozenset())

    @cached_property
    def _gateway_series(self) -> dict[str, frozenset[str]]:
        return {g.id: frozenset(k for k, s in self.series.items()
                                if not s.derived and _matches_any(k, g.series))
                for g in self.cluster.gateways}

    def gateway_owner(self, gateway_id: str) -> str | None:
        """The organisation running a gateway of the cluster file, or None when unknown."""
        return next((g.owner for g in self.cluster.gateways if g.id == gateway_id), None)

    def gateway_series(self, gateway_id: str) -> frozenset[str]:
        """Series a gateway may ingest: measured series matching its patterns."""
        return self._gateway_series.get(gateway_id, frozenset())

    def exchanges_of(self, org: str) -> list[Exchange]:
        return [e for e in self.cluster.exchanges if org in (e.supplier, e.recipient)]

    def downstream(self, asset_id: str) -> list[str]:
        """Assets reached from ``asset_id`` in the direction of heat flow, nearest first."""
        seen: set[str] = {asset_id}
        order: list[str] = []
        queue = deque(self.assets[asset_id].feeds if asset_id in self.assets else [])
        while queue:
            current = queue.popleft()
            if current in seen:
                continue
            seen.add(current)
            order.append(current)
            queue.extend(self.assets[current].feeds)
        return order


def _info(s: Series, asset_owner: str) -> SeriesInfo:
    return SeriesInfo(s.key, s.asset, str(s.quantity), s.unit, s.owner or asset_owner,
                      s.range[0], s.range[1], False)


def _matches_any(key: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        if pattern.endswith("/*"):
            if key.startswith(pattern[:-1]):
                return True
        elif key == pattern:
            return True
    return False
