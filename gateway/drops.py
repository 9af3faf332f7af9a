"""Readings dropped over the buffer's quota: counted exactly, told once per episode.

An episode begins with the first drop and ends when the buffer is comfortably back under
its quota (the buffer decides when; see `SqliteBuffer`). The operator reads two lines per
episode, one when it begins and one when it ends, each with the count and the span of
source times dropped, so that she knows which period the service will never receive.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

log = logging.getLogger("gateway.buffer")


@dataclass
class Episode:
    readings: int
    series: set[str]
    first_ts: datetime
    last_ts: datetime

    def add(self, readings: int, series: set[str], first_ts: datetime,
            last_ts: datetime) -> None:
        self.readings += readings
        self.series |= series
        self.first_ts = min(self.first_ts, first_ts)
        self.last_ts = max(self.last_ts, last_ts)

    def describe(self) -> str:
        return (f"{self.readings} readings of {len(self.series)} series, source times "
                f"{self.first_ts.isoformat()} to {self.last_ts.isoformat()}")


class DropLog:
    """The buffer's count of dropped readings and the log lines of each episode."""

    def __init__(self, quota: str) -> None:
        self.quota = quota  # how the quota reads in a log line, e.g. "1048576 bytes on disk"
        self.dropped_total = 0
        self.episodes_total = 0
        self.current: Episode | None = None

    def dropped(self, readings: int, series: set[str], first_ts: datetime,
                last_ts: datetime) -> None:
        if readings <= 0:
            return
        self.dropped_total += readings
        if self.current is None:
            self.current = Episode(readings, set(series), first_ts, last_ts)
            self.episodes_total += 1
            log.warning("buffer over its quota of %s: dropped the oldest %s; further drops "
                        "are counted (heatlink_gateway_buffer_dropped_total) and summed up "
                        "when the buffer fits again", self.quota, self.current.describe())
            return
        self.current.add(readings, series, first_ts, last_ts)

    def fits_again(self) -> None:
        """The buffer is back under its quota with room to spare: the episode is over."""
        if self.current is None:
            return
        log.warning("buffer fits its quota again; this episode dropped %s",
                    self.current.describe())
        self.current = None
