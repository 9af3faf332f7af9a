"""Fakes of the monitor's interfaces, for the monitor's tests and for its neighbours'."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from heatlink.findings import Finding


class RecordingFindingSink:
    """A `FindingSink` that keeps what it was handed, deduplicated by `Finding.key`."""

    def __init__(self) -> None:
        self.items: list[Finding] = []
        self.calls = 0
        self._keys: set[tuple[object, ...]] = set()
        self._changed = asyncio.Event()

    async def findings(self, items: Sequence[Finding]) -> None:
        self.calls += 1
        for f in items:
            if f.key not in self._keys:
                self._keys.add(f.key)
                self.items.append(f)
        self._changed.set()

    async def wait_for(self, count: int) -> list[Finding]:
        """Wait until at least ``count`` distinct findings arrived (bound it with a timeout)."""
        while len(self.items) < count:
            self._changed.clear()
            await self._changed.wait()
        return self.items


class FlakyFindingSink(RecordingFindingSink):
    """Fails the first ``failures`` calls, as an alert module that is briefly down."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def findings(self, items: Sequence[Finding]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("sink down (test)")
        await super().findings(items)


@dataclass
class RecordingObserver:
    """A `ReadingsObserver` that keeps every call, for the ingest side's tests."""

    calls: list[tuple[list[str], list[datetime], list[float], list[str]]] = field(
        default_factory=list)

    def readings_stored(self, series_keys: Sequence[str], ts: Sequence[datetime],
                        values: Sequence[float], quality: Sequence[str]) -> None:
        self.calls.append((list(series_keys), list(ts), list(values), list(quality)))
