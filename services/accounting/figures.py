"""Hourly figures of metering points and of the supply band, computed once in the database
and kept; late readings drop what they change, so open periods are recomputed.

Only hours that have ended are kept. Readings that arrive for a metering point's series
(a gateway draining its buffer) are reported by ingest's observer; the hours they touch
are dropped before the next read. A generation counter per exchange keeps a computation
that raced with a late reading from storing what it saw before that reading.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import asyncpg

from heatlink.clock import Clock
from heatlink.cluster.metering import MeteringPoint
from heatlink.cluster.model import Exchange
from services.accounting import store
from services.accounting.metered import PointHour, measure
from services.accounting.months import HOUR, floor_hour
from services.readings import store as readings

log = logging.getLogger(__name__)
_Write = Callable[[datetime], Awaitable[None]]


class HourlyFigures:
    def __init__(self, pool: asyncpg.Pool, exchanges: Sequence[Exchange], clock: Clock,
                 timescaledb: bool) -> None:
        self.pool = pool
        self.clock = clock
        self.timescaledb = timescaledb
        self._generation: dict[str, int] = defaultdict(int)
        self._lock = asyncio.Lock()
        # series key -> [(exchange id, point id or None for the supply band)]
        self._watch: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        for e in exchanges:
            for p in e.metering_points:
                for key in (p.register_series, p.flow, p.temp_in, p.temp_out):
                    if key is not None:
                        self._watch[key].append((e.id, p.id))
            if e.supply_band is not None and e.settlement is not None:
                self._watch[e.supply_band.series].append((e.id, None))
        # (exchange, point or None) -> (first ts, last ts) of late readings not yet applied
        self._pending: dict[tuple[str, str | None], tuple[datetime, datetime]] = {}

    # -- invalidation ----------------------------------------------------------------------

    def readings_stored(self, series_keys: Sequence[str], ts: Sequence[datetime]) -> None:
        """Called by ingest after a commit; must not block."""
        if self._watch.keys().isdisjoint(series_keys) and len(series_keys) == len(ts):
            return  # most batches touch no metered series: one C-level pass, not a loop
        for key, moment in zip(series_keys, ts, strict=True):
            for target in self._watch.get(key, ()):
                self._generation[target[0]] += 1
                first, last = self._pending.get(target, (moment, moment))
                self._pending[target] = (min(first, moment), max(last, moment))

    async def apply_pending(self) -> None:
        """Drop the kept hours that late readings changed."""
        if not self._pending:
            return
        async with self._lock:
            pending, self._pending = self._pending, {}
            for (exchange, point), (first, last) in pending.items():
                lo, hi = floor_hour(first) - HOUR, floor_hour(last) + HOUR
                if point is None:
                    await store.forget_band_hours(self.pool, exchange, lo, hi)
                else:
                    await store.forget_point_hours(self.pool, exchange, point, lo, hi)

    async def forget_since(self, since: datetime) -> None:
        """At start: hours kept by an earlier process may have missed late readings."""
        async with self._lock:
            await store.forget_open(self.pool, since)

    # -- reading ---------------------------------------------------------------------------

    async def point_hours(self, exchange: Exchange, point: MeteringPoint,
                          hours: Sequence[datetime], min_coverage: float
                          ) -> dict[datetime, PointHour]:
        if not hours:
            return {}
        await self.apply_pending()
        start, end = hours[0], hours[-1] + HOUR
        found = await store.cached_point_hours(self.pool, exchange.id, point.id, start, end)
        todo = [h for h in hours if h not in found]
        if todo:
            generation = self._generation[exchange.id]
            computed = await measure(self.pool, point, _span(todo), min_coverage,
                                     self.timescaledb)
            wanted = set(todo)
            fresh = {h: v for h, v in computed.items() if h in wanted}
            found.update(fresh)
            await self._keep(exchange.id, generation, lambda ended: store.store_point_hours(
                self.pool, exchange.id, point.id,
                [v for h, v in sorted(fresh.items()) if h + HOUR <= ended], ended))
        return found

    async def band_hours(self, exchange: Exchange, hours: Sequence[datetime]
                         ) -> dict[datetime, tuple[int, int]]:
        band = exchange.supply_band
        if band is None or not hours:
            return {}
        await self.apply_pending()
        start, end = hours[0], hours[-1] + HOUR
        found = await store.cached_band_hours(self.pool, exchange.id, start, end)
        todo = [h for h in hours if h not in found]
        if todo:
            generation = self._generation[exchange.id]
            span = _span(todo)
            rows = await readings.hourly_band(self.pool, band.series, band.low, band.high,
                                              span[0], span[-1] + HOUR, self.timescaledb)
            counted = {r["hour"]: (r["readings"], r["in_band"]) for r in rows}
            fresh = {h: counted.get(h, (0, 0)) for h in todo}
            found.update(fresh)
            await self._keep(exchange.id, generation, lambda ended: store.store_band_hours(
                self.pool, exchange.id, {h: v for h, v in fresh.items() if h + HOUR <= ended},
                ended))
        return found

    async def _keep(self, exchange: str, generation: int, write: _Write) -> None:
        async with self._lock:
            if self._generation[exchange] != generation:
                return  # late readings came in meanwhile: compute again next time
            await write(self.clock.now())


def _span(todo: Sequence[datetime]) -> list[datetime]:
    """The consecutive hours from the first to the last of ``todo``: one query for all."""
    out, hour = [], todo[0]
    while hour <= todo[-1]:
        out.append(hour)
        hour += timedelta(hours=1)
    return out
