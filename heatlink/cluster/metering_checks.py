"""Cross-reference checks of the metering points of a cluster file's exchanges."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from heatlink.cluster.metering import FLOW_QUANTITY, REGISTER_QUANTITY, MeteringPoint

if TYPE_CHECKING:
    from heatlink.cluster.model import Cluster, Exchange


def metering_problems(c: Cluster) -> Iterable[str]:
    quantities = {s.key: str(s.quantity) for s in c.series}
    quantities.update({d.key: "power" for d in c.derived})
    for i, e in enumerate(c.exchanges):
        yield from _exchange(f"exchanges[{i}]", e, quantities)


def _exchange(where: str, e: Exchange, quantities: dict[str, str]) -> Iterable[str]:
    seen: set[str] = set()
    by_resource: dict[str, list[MeteringPoint]] = {}
    for j, p in enumerate(e.metering_points):
        at = f"{where}.metering_points[{j}]"
        if p.id in seen:
            yield f"{at}.id: {p.id!r} is declared twice"
        seen.add(p.id)
        if p.owner not in (e.supplier, e.recipient):
            yield (f"{at}.owner: {p.owner!r} is neither the supplier {e.supplier!r} nor the "
                   f"recipient {e.recipient!r}")
        by_resource.setdefault(p.resource, []).append(p)
        yield from _series(at, "register_series", p.register_series,
                           REGISTER_QUANTITY[p.resource], quantities)
        yield from _series(at, "flow", p.flow, FLOW_QUANTITY[p.resource], quantities)
        yield from _series(at, "temp_in", p.temp_in, "temperature", quantities)
        yield from _series(at, "temp_out", p.temp_out, "temperature", quantities)
    for resource, points in by_resource.items():
        if len(points) > 2:
            yield (f"{where}.metering_points: {len(points)} meters for {resource}; a contract "
                   "reconciles at most two, one per party")
        elif len(points) == 2:
            if points[0].owner == points[1].owner:
                yield (f"{where}.metering_points: both {resource} meters belong to "
                       f"{points[0].owner!r}; the second meter is the other party's check")
            if sum(p.billing for p in points) != 1:
                yield (f"{where}.metering_points: mark exactly one of the two {resource} "
                       "meters billing: true")
    if e.metering_points and e.settlement is None:
        yield f"{where}.settlement: an exchange with metering points needs its settlement terms"


def _series(at: str, field: str, key: str | None, wanted: str,
            quantities: dict[str, str]) -> Iterable[str]:
    if key is None:
        return
    found = quantities.get(key)
    if found is None:
        yield f"{at}.{field}: unknown series {key!r}"
    elif found != wanted:
        yield f"{at}.{field}: {key!r} measures {found}, not {wanted}"
