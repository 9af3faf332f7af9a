"""Accounting wired into the running service: ingest tells it about stored readings, and
a background task applies late readings and closes months that are due."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from heatlink.clock import Clock
from heatlink.cluster.index import ClusterIndex
from services.accounting import rules
from services.accounting.figures import HourlyFigures
from services.accounting.service import AccountingService

log = logging.getLogger(__name__)
EVERYTHING = datetime(1970, 1, 1, tzinfo=UTC)


class AccountingRuntime:
    def __init__(self, pool: asyncpg.Pool, index: ClusterIndex, clock: Clock,
                 timescaledb: bool, tick_s: float = 60.0) -> None:
        self.figures = HourlyFigures(pool, index.cluster.exchanges, clock, timescaledb)
        self.service = AccountingService(pool, index, clock, self.figures)
        self.tick_s = tick_s
        self._task: asyncio.Task[None] | None = None

    # ingest's ReadingsObserver
    def readings_stored(self, series_keys: Sequence[str], ts: Sequence[datetime],
                        values: Sequence[float], quality: Sequence[str]) -> None:
        self.figures.readings_stored(series_keys, ts)

    async def start(self) -> None:
        svc = self.service
        for exchange in svc.index.cluster.exchanges:
            await rules.seed_from_contract(svc.pool, exchange, svc.clock.now())
        # Kept figures may have missed readings stored while no process watched: recompute.
        await self.figures.forget_since(EVERYTHING)
        self._task = asyncio.create_task(self._run(), name="accounting")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                await self.figures.apply_pending()
                await self.service.close_due()
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("accounting tick failed, next try in %.0f s: %s", self.tick_s, exc)
