"""Which partition of the monitor a series belongs to.

The engine evaluates some series together: a derived heat power needs its flow and both
temperatures, a recipient's band looks at the disruption rules of every asset feeding it,
a ramp's heat balance at the exchange's supply, and staleness is judged on each site's
clock, the newest source time of any of the site's series (`plant_clock.py`, sites are a
key's first part). All series so linked must be evaluated by one replica, so the unit is
the connected group of series (through sites, assets, the assets that feed them,
exchanges, derivations and the series each rule names): at least a site. A group's
partition is a stable hash (CRC-32, not Python's salted ``hash``) of its first key modulo
the number of partitions. The number is fixed per deployment: rebalancing moves
partitions between replicas, never series between partitions.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from heatlink.cluster.model import Cluster
from heatlink.cluster.rule_spec import ExchangerHealthRule
from services.monitor.plan import Plan

SERIES_FIELDS = ("series", "flow_series", "hot_in", "hot_out", "hot_flow", "cold_in",
                 "cold_out", "cold_flow")


class _Groups:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def join(self, items: Iterable[str]) -> None:
        first: str | None = None
        for item in items:
            root = self.find(item)
            if first is None:
                first = root
            elif root != first:
                self.parent[root] = first


def stable_partition(name: str, partitions: int) -> int:
    return zlib.crc32(name.encode()) % partitions


def partition_map(cluster: Cluster, plan: Plan, partitions: int) -> dict[str, int]:
    """Partition of every series the engine knows (measured and derived)."""
    groups = _Groups()
    asset = "asset:"  # assets join the groups under a prefix no series key has
    site = "site:"
    for s in cluster.series:
        groups.join((s.key, asset + s.asset, site + s.key.split("/", 1)[0]))
    for d in cluster.derived:
        groups.join((d.key, asset + d.asset, d.flow, d.temp_in, d.temp_out))
    for a in cluster.assets:
        groups.join((asset + a.id, *(asset + f for f in a.feeds)))
    for e in cluster.exchanges:
        groups.join((asset + e.exchanger, *(asset + r for r in e.recipient_assets),
                     *e.shared_series,
                     *(() if e.supply_band is None else (e.supply_band.series,))))
    rule_series: dict[str, str] = {}
    for rule in cluster.rules:
        named = [v for f in SERIES_FIELDS if isinstance(v := getattr(rule, f, None), str)]
        if isinstance(rule, ExchangerHealthRule):
            named.append(asset + rule.exchanger)
        groups.join(named)
        rule_series[rule.id] = rule.series
    models = {**plan.recipients, **plan.ramp_models}
    for rule_id, model in models.items():
        groups.join((rule_series[rule_id], *model.supply_series,
                     *(() if model.warm_share_series is None else (model.warm_share_series,)),
                     *(rule_series[r] for r, _ in model.upstream if r in rule_series),
                     *model.source_power_series, *model.loop_temp_series,
                     *(k for k in model.source_load_series if k),
                     *(() if model.supply_flow_series is None else (model.supply_flow_series,))))
    for rule_id, (powers, flow) in plan.supply_sources.items():
        groups.join((rule_series[rule_id], *powers, *(() if flow is None else (flow,)),
                     *plan.supply_loop_temps.get(rule_id, ())))
    for rule_id, upstream in plan.supply_upstream.items():
        groups.join((rule_series[rule_id],
                     *(rule_series[r] for r, _ in upstream if r in rule_series)))
    for dd in plan.derived:
        groups.join((dd.key, dd.flow, dd.temp_in, dd.temp_out))
    keys = [*plan.series, *(d.key for d in plan.derived)]
    for key in keys:
        groups.join((key, site + key.split("/", 1)[0]))
    members: dict[str, list[str]] = {}
    for key in keys:
        members.setdefault(groups.find(key), []).append(key)
    out: dict[str, int] = {}
    for group in members.values():
        p = stable_partition(min(group), partitions)
        out.update((k, p) for k in group)
    return out
