"""The monthly statement as a document: one JSON value both parties read byte for byte.

Built by a pure function from the month's settled figures; floats are rounded to what a
meter resolves, keys are sorted, and the content hash is SHA-256 over the canonical JSON
of everything but the hash itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts.history import ExchangeHistory
from heatlink.cluster.metering import Resource, Settlement
from heatlink.cluster.model import Exchange
from services.accounting import availability as avail
from services.accounting.months import Month, local_day
from services.accounting.reconcile import AGREED, DISPUTED
from services.accounting.settle import SettledHour, SettledResource

Statement = dict[str, Any]


@dataclass(frozen=True)
class Standing:
    """Where the month stands: open, or closed as a given revision."""

    status: str  # open | closed
    revision: int
    reason: str | None = None
    closed_at: datetime | None = None
    closed_by: tuple[str, ...] = ()  # the parties, or ("automatic",)
    close_requested_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleInfo:
    version: int
    spec: dict[str, Any] | None
    agreed_by: tuple[str, ...]
    agreed_at: datetime | None


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits) + 0.0  # + 0.0: no "-0.0"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def hour_entry(h: SettledHour) -> dict[str, Any]:
    return {
        "settled": _r(h.value), "uncertainty": _r(h.uncertainty), "verdict": h.verdict,
        "substitution": None if h.substituted is None else {
            "method": h.substituted.method, "rule_version": h.substituted.rule_version},
        "meters": {m.point: {"value": _r(m.value), "error_pct": _r(m.error_pct),
                             "coverage": _r(m.coverage), "mean_flow": _r(m.mean_flow),
                             "mean_dtheta_k": _r(m.mean_dtheta_k), "flags": list(m.flags)}
                   for m in h.meters},
    }


def _resource_summary(r: SettledResource, exchange: Exchange, hours: int) -> dict[str, Any]:
    values = [h.value for h in r.hours if h.value is not None]
    uncertainties = [h.uncertainty for h in r.hours if h.uncertainty is not None]
    contracted = (exchange.contracted_power_kw * hours
                  if r.resource == Resource.HEAT and exchange.contracted_power_kw else None)
    return {
        "resource": r.resource, "unit": r.unit, "billing_point": r.billing_point,
        "check_point": r.check_point, "total": _r(sum(values)),
        "uncertainty": _r(sum(uncertainties)),
        "contracted": _r(contracted),
        "hours_settled": len(values),
        "agreed_hours": sum(h.verdict == AGREED for h in r.hours),
        "disputed_hours": sum(h.verdict == DISPUTED for h in r.hours),
        "substituted_hours": sum(h.substituted is not None for h in r.hours),
        "missing_hours": sum(h.value is None for h in r.hours),
        "substitution_cap_hours": r.filled.cap_hours,
        "substitution_cap_reached": r.filled.cap_reached,
        "substituted_by_method": _count(h.substituted.method for h in r.hours
                                        if h.substituted is not None),
    }


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return dict(sorted(out.items()))


def build(exchange: Exchange, settlement: Settlement, month: Month, tz: str,
          hours: Sequence[datetime], month_hours: int, resources: Sequence[SettledResource],
          availability: Mapping[datetime, str], history: ExchangeHistory,
          comments: Sequence[dict[str, Any]], rule: RuleInfo, standing: Standing
          ) -> Statement:
    by_hour = {r.resource: {h.hour: h for h in r.hours} for r in resources}
    days: dict[str, dict[str, float]] = {}
    for r in resources:
        for h in r.hours:
            if h.value is not None:
                day = days.setdefault(local_day(h.hour, tz).isoformat(), {})
                day[r.resource] = day.get(r.resource, 0.0) + h.value
    counts = dict.fromkeys(avail.STATES, 0)
    for hour in hours:
        counts[availability.get(hour, avail.NO_DATA)] += 1
    body: Statement = {
        "exchange": {"id": exchange.id, "name": exchange.name, "supplier": exchange.supplier,
                     "recipient": exchange.recipient,
                     "contracted_power_kw": exchange.contracted_power_kw},
        "month": str(month), "timezone": tz,
        "period": {"start": _iso(month.start(tz)), "end": _iso(month.end(tz)),
                   "hours_in_month": month_hours, "hours_reported": len(hours)},
        "status": standing.status, "revision": standing.revision,
        "revision_reason": standing.reason, "closed_at": _iso(standing.closed_at),
        "closed_by": list(standing.closed_by),
        "close_requested_by": sorted(standing.close_requested_by),
        "resources": [_resource_summary(r, exchange, len(hours)) for r in resources],
        "substitution_rule": {"version": rule.version, "rule": rule.spec,
                              "agreed_by": list(rule.agreed_by),
                              "agreed_at": _iso(rule.agreed_at)},
        "availability": {**counts, "share": _r(avail.share(
            counts, settlement.availability.exclude_maintenance), 5),
            "excludes_maintenance": settlement.availability.exclude_maintenance,
            "min_in_band_share": settlement.availability.min_in_band_share},
        "planned_outages": [{"id": w.id, "starts_at": _iso(w.starts_at),
                             "ends_at": _iso(w.ends_at), "reason": w.reason,
                             "announced_at": _iso(w.announced_at),
                             "short_notice": w.short_notice} for w in history.windows],
        "alerts": [{"kind": a.kind, "severity": a.severity, "title": a.title,
                    "active_from": _iso(a.active_from), "active_until": _iso(a.active_until),
                    "organisations": sorted(a.orgs), "alert_ids": sorted(a.alert_ids)}
                   for a in history.alerts],
        "comments": list(comments),
        "days": [{"date": d, **{k: _r(v) for k, v in sorted(totals.items())}}
                 for d, totals in sorted(days.items())],
        "hours": [{"hour": _iso(hour), "availability": availability.get(hour, avail.NO_DATA),
                   **{res: hour_entry(found[hour]) for res, found in by_hour.items()
                      if hour in found}} for hour in hours],
    }
    body["content_sha256"] = content_hash(body)
    return body


def canonical(body: Statement) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def content_hash(body: Statement) -> str:
    return hashlib.sha256(canonical({k: v for k, v in body.items()
                                     if k != "content_sha256"})).hexdigest()
