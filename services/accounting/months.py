"""Settlement months in the cluster's time zone, and the UTC hours they hold.

A month is a local calendar month (Europe/Oslo: 743 hours in March, 745 in October); its
hours are whole UTC hours, since the zone's offsets are whole hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

HOUR = timedelta(hours=1)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def start(self, tz: str) -> datetime:
        """The first instant of the month, in UTC."""
        return datetime(self.year, self.month, 1, tzinfo=ZoneInfo(tz)).astimezone(UTC)

    def end(self, tz: str) -> datetime:
        return self.next().start(tz)

    def hours(self, tz: str) -> list[datetime]:
        return hours_between(self.start(tz), self.end(tz))


def parse_month(text: str) -> Month:
    """``YYYY-MM``; ValueError naming the expected form otherwise."""
    match = _MONTH.match(text)
    if not match:
        raise ValueError(f"month {text!r} is not of the form YYYY-MM, e.g. 2026-01")
    return Month(int(match[1]), int(match[2]))


def month_of(moment: datetime, tz: str) -> Month:
    local = moment.astimezone(ZoneInfo(tz))
    return Month(local.year, local.month)


def months_between(start: datetime, end: datetime, tz: str) -> list[Month]:
    """The months that [start, end) touches."""
    month, last = month_of(start, tz), month_of(end - timedelta(microseconds=1), tz)
    out = [month]
    while month < last:
        month = month.next()
        out.append(month)
    return out


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    out = []
    hour = start
    while hour < end:
        out.append(hour)
        hour += HOUR
    return out


def local_day(hour: datetime, tz: str) -> date:
    return hour.astimezone(ZoneInfo(tz)).date()


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
