"""The clock that logic reads instead of the wall clock, so tests can move time
(`heatlink.testing.FakeClock`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Source of the current time. Implementations return aware UTC datetimes."""

    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
