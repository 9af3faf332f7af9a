"""One resource of one contract, one month: the settled figure of every hour.

The billing meter's figure is settled; the other party's meter reconciles it. A missing
billing hour is filled by the contract's substitution rule (within its cap). The figure's
uncertainty is the billing meter's EN 1434 error; a substituted hour carries the other
meter's error when it came from there, and none otherwise (its method says it is an
estimate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from heatlink.cluster.metering import MeteringPoint, SubstitutionRule
from services.accounting.metered import PointHour
from services.accounting.reconcile import INCOMPLETE, verdict
from services.accounting.substitution import Filled, Substituted, fill


@dataclass(frozen=True)
class SettledHour:
    hour: datetime
    value: float | None
    uncertainty: float | None
    verdict: str | None  # None without a check meter
    substituted: Substituted | None
    meters: tuple[PointHour, ...]


@dataclass(frozen=True)
class SettledResource:
    resource: str
    unit: str
    billing_point: str
    check_point: str | None
    hours: list[SettledHour]
    filled: Filled


def settle(resource: str, unit: str, billing: MeteringPoint, check: MeteringPoint | None,
           hours: Sequence[datetime], billing_hours: Mapping[datetime, PointHour],
           check_hours: Mapping[datetime, PointHour], rule: SubstitutionRule | None,
           rule_version: int, month_hours: int) -> SettledResource:
    """``billing_hours`` also holds the week before ``hours`` (same hour last week)."""
    billing_values = {h: p.value for h, p in billing_hours.items()}
    check_values = {h: p.value for h, p in check_hours.items()}
    filled = fill(hours, billing_values, check_values, rule, rule_version, month_hours)
    out = []
    for hour in hours:
        b = billing_hours.get(hour)
        c = check_hours.get(hour) if check is not None else None
        meters = tuple(p for p in (b, c) if p is not None)
        hour_verdict = None
        if check is not None:
            hour_verdict = (INCOMPLETE if b is None or c is None
                            else verdict(b.value, b.error_abs, c.value, c.error_abs))
        substituted = filled.values.get(hour)
        if b is not None and b.value is not None:
            value, uncertainty = b.value, b.error_abs
        elif substituted is not None:
            value = substituted.value
            uncertainty = (c.error_abs if substituted.method == "other_meter" and c is not None
                           else None)
        else:
            value, uncertainty = None, None
        out.append(SettledHour(hour, value, uncertainty, hour_verdict, substituted, meters))
    return SettledResource(resource, unit, billing.id, None if check is None else check.id,
                           out, filled)
