"""Readings another domain computes (the monitor's heat power) enter here, as a gateway's
enter through `store.store_batch`: ingest owns `readings`, whoever computed the values.

Two steps, because the caller has its own exactly-once transaction: `write` stores the
readings once per (series, source timestamp) through ingest's staging path, on the caller's
connection inside the caller's transaction (the monitor's findings and watermarks commit
with them, or nothing does); `committed`, called after that commit, tells ingest's
observers (the live hub and its fan-out to other replicas, accounting) like any stored
reading, all but the domain that computed them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from heatlink.quality import QUALITY_CODES
from services.ingest.observer import ReadingsObserver, tell_observers
from services.ingest.store import insert_readings, q

log = logging.getLogger(__name__)

GOOD = "good"  # a computed value is as good as the inputs the monitor accepted


@dataclass(frozen=True)
class StoredReadings:
    """The readings one `write` newly stored, for `committed`."""

    keys: list[str] = field(default_factory=list)
    ts: list[datetime] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)


class DerivedReadings:
    """The series computed from others (``derived`` in the series table) and who to tell."""

    def __init__(self, series_ids: Mapping[str, int],
                 observers: Sequence[ReadingsObserver] = ()) -> None:
        self.series_ids = dict(series_ids)
        self.observers = observers

    @classmethod
    async def of(cls, pool: asyncpg.Pool, observers: Sequence[ReadingsObserver] = ()
                 ) -> DerivedReadings:
        """The derived series the database holds (a monitor started without ingest's
        service: tests, tools)."""
        rows = await pool.fetch(q("derived_series"))
        return cls({r["key"]: r["id"] for r in rows}, observers)

    async def write(self, conn: asyncpg.Connection, keys: Sequence[str],
                    ts: Sequence[datetime], values: Sequence[float]) -> StoredReadings:
        """Store the readings of derived series, inside the caller's transaction; returns
        those newly stored. A key that names no derived series is left out: a measured
        series is written by its gateway alone. Safe to repeat: a repeat stores nothing
        (a value that differs from the one stored keeps the stored one)."""
        good = QUALITY_CODES[GOOD]
        ids = self.series_ids
        chosen = [i for i, k in enumerate(keys) if k in ids]
        if not chosen:
            return StoredReadings()
        inserted = await insert_readings(conn, [(ids[keys[i]], ts[i], values[i], good)
                                                for i in chosen])
        if inserted.conflicts:
            log.warning("%d derived readings differ from those stored; kept the stored",
                        len(inserted.conflicts))
        new = [chosen[p] for p in inserted.stored]
        return StoredReadings([keys[i] for i in new], [ts[i] for i in new],
                              [values[i] for i in new])

    def committed(self, stored: StoredReadings, *,
                  origin: ReadingsObserver | None = None) -> None:
        """After the caller's commit: tell the observers, but not ``origin``, the
        observer of the domain that computed them (it has them; told again it would take
        its own output for input)."""
        if stored:
            tell_observers(self.observers, stored.keys, stored.ts, stored.values,
                           [GOOD] * len(stored), skip=origin)
