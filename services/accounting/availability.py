"""Was the supply there, hour by hour, as the contract agreed it?

An hour is ``maintenance`` when an announced window overlaps it, ``disrupted`` when a
supply-disruption alert was active in it or too few of its supply readings lay inside the
contract's band, ``no_data`` when the band's series has no readings in it, else
``available``. The contract may exclude maintenance hours from the availability share.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

AVAILABLE = "available"
DISRUPTED = "disrupted"
MAINTENANCE = "maintenance"
NO_DATA = "no_data"
STATES = (AVAILABLE, DISRUPTED, MAINTENANCE, NO_DATA)

HOUR = timedelta(hours=1)
Interval = tuple[datetime, datetime | None]


def _overlaps(hour: datetime, intervals: Iterable[Interval]) -> bool:
    return any(a < hour + HOUR and (b is None or b > hour) for a, b in intervals)


def classify(hour: datetime, band: tuple[int, int] | None, maintenance: Sequence[Interval],
             disruptions: Sequence[Interval], min_in_band_share: float) -> str:
    """``band`` is (readings, readings inside the band) of the hour, None without a band."""
    if _overlaps(hour, maintenance):
        return MAINTENANCE
    if _overlaps(hour, disruptions):
        return DISRUPTED
    if band is None or band[0] == 0:
        return NO_DATA
    return AVAILABLE if band[1] / band[0] >= min_in_band_share else DISRUPTED


def share(counts: dict[str, int], exclude_maintenance: bool) -> float | None:
    """Available hours over the hours that count; None when no hour counts."""
    counted = sum(counts.values()) - (counts.get(MAINTENANCE, 0) if exclude_maintenance else 0)
    return None if counted == 0 else counts.get(AVAILABLE, 0) / counted
