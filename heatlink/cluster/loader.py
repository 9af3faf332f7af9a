"""Loading a cluster file: YAML in, a checked Cluster out, or an error naming where.

Every mistake is reported as ``FILE: path.inside[2].key: what is wrong``; all mistakes
of a file are listed at once, so a user fixes them in one round.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from heatlink.cluster.bounds import rule_problems
from heatlink.cluster.metering_checks import metering_problems
from heatlink.cluster.model import Asset, AssetKind, Cluster

EXAMPLE_CLUSTER = Path(__file__).parent / "examples" / "nordland.yaml"


class ClusterFileError(ValueError):
    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(f"{self.path}: {p}" for p in problems))


def format_location(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def load_cluster(path: Path | str) -> Cluster:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ClusterFileError(path, [f"cannot read the file: {exc.strerror}"]) from exc
    except yaml.YAMLError as exc:
        raise ClusterFileError(path, [f"not valid YAML: {exc}"]) from exc
    return parse_cluster(raw, path)


def parse_cluster(raw: Any, path: Path | str = "<cluster>") -> Cluster:
    if not isinstance(raw, dict):
        raise ClusterFileError(path, ["the file must hold a mapping at the top level"])
    try:
        cluster = Cluster.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = [p for p in error["loc"] if not _is_union_tag(p)]
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = "unknown key (remove it or check its spelling)"
            problems.append(f"{format_location(loc)}: {message}")
        raise ClusterFileError(path, problems) from None
    problems = list(_cross_references(cluster))
    if problems:
        raise ClusterFileError(path, problems)
    return cluster


def _is_union_tag(part: int | str) -> bool:
    # pydantic puts the discriminator value into the location of a tagged union member
    return isinstance(part, str) and part in {
        "band", "ramp", "stale", "supply_disruption", "exchanger_health"}


def _duplicates(kind: str, ids: list[str]) -> Iterable[str]:
    seen: set[str] = set()
    for i, ident in enumerate(ids):
        if ident in seen:
            yield f"{kind}[{i}].id: {ident!r} is declared twice"
        seen.add(ident)


def _cross_references(c: Cluster) -> Iterable[str]:
    orgs = {o.id for o in c.organisations}
    sites = {s.id for s in c.sites}
    assets = {a.id: a for a in c.assets}
    measured = {s.key for s in c.series}
    series_keys = measured | {d.key for d in c.derived}

    yield from _duplicates("organisations", [o.id for o in c.organisations])
    yield from _duplicates("sites", [s.id for s in c.sites])
    yield from _duplicates("assets", [a.id for a in c.assets])
    yield from (p.replace(".id", ".key") for p in
                _duplicates("series", [s.key for s in c.series]))
    yield from _duplicates("exchanges", [e.id for e in c.exchanges])
    yield from _duplicates("rules", [r.id for r in c.rules])

    def org(where: str, ident: str | None) -> Iterable[str]:
        if ident is not None and ident not in orgs:
            yield f"{where}: unknown organisation {ident!r}"

    def asset(where: str, ident: str) -> Iterable[str]:
        if ident not in assets:
            yield f"{where}: unknown asset {ident!r}"

    def series(where: str, key: str) -> Iterable[str]:
        if key not in series_keys:
            yield f"{where}: unknown series {key!r}"

    by_key = {s.key: s for s in c.series}

    def load(where: str, a: Asset) -> Iterable[str]:
        s = by_key.get(a.load_series or "")
        if a.kind != AssetKind.HEAT_SOURCE:
            yield f"{where}: only a heat source has a load; {a.id!r} is a {a.kind.value}"
        elif s is None:
            yield f"{where}: unknown series {a.load_series!r}"
        elif s.asset != a.id or s.unit != "%":
            yield f"{where}: {s.key!r} must be a series of {a.id!r} in % (of rated output)"

    for i, site in enumerate(c.sites):
        yield from org(f"sites[{i}].owner", site.owner)
    for i, a in enumerate(c.assets):
        yield from org(f"assets[{i}].owner", a.owner)
        if a.site not in sites:
            yield f"assets[{i}].id: {a.id!r} starts with unknown site {a.site!r}"
        for j, target in enumerate(a.feeds):
            yield from asset(f"assets[{i}].feeds[{j}]", target)
        if a.thermal_model is not None and a.thermal_model.warm_share_series is not None:
            yield from series(f"assets[{i}].thermal_model.warm_share_series",
                              a.thermal_model.warm_share_series)
        if a.load_series is not None:
            yield from load(f"assets[{i}].load_series", a)
    for i, s in enumerate(c.series):
        yield from asset(f"series[{i}].asset", s.asset)
        yield from org(f"series[{i}].owner", s.owner)
    for i, d in enumerate(c.derived):
        yield from asset(f"derived[{i}].asset", d.asset)
        yield from org(f"derived[{i}].owner", d.owner)
        for field in ("flow", "temp_in", "temp_out"):
            key = getattr(d, field)
            if key not in measured:
                yield f"derived[{i}].{field}: unknown series {key!r}"
        if d.key in measured:
            yield f"derived[{i}].key: {d.key!r} is already a measured series"
    for i, e in enumerate(c.exchanges):
        yield from org(f"exchanges[{i}].supplier", e.supplier)
        yield from org(f"exchanges[{i}].recipient", e.recipient)
        if e.supplier == e.recipient:
            yield f"exchanges[{i}].recipient: must differ from the supplier"
        yield from asset(f"exchanges[{i}].exchanger", e.exchanger)
        if e.exchanger in assets and assets[e.exchanger].kind != "heat_exchanger":
            yield f"exchanges[{i}].exchanger: {e.exchanger!r} is not a heat_exchanger"
        for j, a_id in enumerate(e.recipient_assets):
            yield from asset(f"exchanges[{i}].recipient_assets[{j}]", a_id)
        if e.supply_band is not None:
            yield from series(f"exchanges[{i}].supply_band.series", e.supply_band.series)
        for j, key in enumerate(e.shared_series):
            yield from series(f"exchanges[{i}].shared_series[{j}]", key)
    for i, g in enumerate(c.gateways):
        yield from org(f"gateways[{i}].owner", g.owner)
    for i, sub in enumerate(c.subscriptions):
        yield from org(f"subscriptions[{i}].org", sub.org)
    for i, r in enumerate(c.rules):
        yield from org(f"rules[{i}].owner", r.owner)
        yield from series(f"rules[{i}].series", r.series)
        if r.kind == "supply_disruption" and r.flow_series is not None:
            yield from series(f"rules[{i}].flow_series", r.flow_series)
        if r.kind == "exchanger_health":
            yield from asset(f"rules[{i}].exchanger", r.exchanger)
    yield from _writable_points(c, orgs, assets.keys(), series_keys)
    yield from metering_problems(c)
    yield from _hard_limits(c, series_keys)


def _hard_limits(c: Cluster, series_keys: set[str]) -> Iterable[str]:
    """Hard limits name known series, once each, and the file's own rules keep to them."""
    ranges = {s.key: s.range for s in c.series}
    yield from (p.replace(".id", ".series") for p in
                _duplicates("hard_limits", [h.series for h in c.hard_limits]))
    for i, h in enumerate(c.hard_limits):
        if h.series not in series_keys:
            yield f"hard_limits[{i}].series: unknown series {h.series!r}"
        elif h.widest_band is not None and h.series in ranges:
            lo, hi = ranges[h.series]
            if h.widest_band[0] < lo or h.widest_band[1] > hi:
                yield (f"hard_limits[{i}].widest_band: {list(h.widest_band)} lies outside the "
                       f"physical range [{lo:g}, {hi:g}] of {h.series}")
    hard = {h.series: h for h in c.hard_limits}
    for i, r in enumerate(c.rules):
        for problem in rule_problems(r, ranges.get(r.series), hard.get(r.series)):
            yield f"rules[{i}] ({r.id}): {problem}"


def _writable_points(c: Cluster, orgs: set[str], assets: Iterable[str],
                     series_keys: set[str]) -> Iterable[str]:
    asset_ids = set(assets)
    gateways = {g.id for g in c.gateways}
    rules = {r.id: r for r in c.rules}
    yield from (p.replace(".id", ".key") for p in
                _duplicates("writable_points", [w.key for w in c.writable_points]))
    for i, w in enumerate(c.writable_points):
        where = f"writable_points[{i}]"
        if w.owner not in orgs:
            yield f"{where}.owner: unknown organisation {w.owner!r}"
        if w.asset not in asset_ids:
            yield f"{where}.asset: unknown asset {w.asset!r}"
        if w.gateway not in gateways:
            yield f"{where}.gateway: unknown gateway {w.gateway!r}"
        if w.ramp_rule is not None:
            rule = rules.get(w.ramp_rule)
            if rule is None:
                yield f"{where}.ramp_rule: unknown rule {w.ramp_rule!r}"
            elif rule.kind != "ramp":
                yield f"{where}.ramp_rule: {w.ramp_rule!r} is a {rule.kind} rule, not a ramp"
        for j, key in enumerate(w.depends_on):
            if key not in series_keys:
                yield f"{where}.depends_on[{j}]: unknown series {key!r}"
        for j, rule_id in enumerate(w.interlock_rules):
            if rule_id not in rules:
                yield f"{where}.interlock_rules[{j}]: unknown rule {rule_id!r}"
