"""Several `heatlink serve` processes on one database: the replicas of issue 17."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.support.service import ServiceProcess


@asynccontextmanager
async def service_replicas(database_url: str, n: int = 2, *,
                           env: dict[str, str] | None = None
                           ) -> AsyncIterator[list[ServiceProcess]]:
    """``n`` replicas started together (each on its own port, log in a file); stopped at
    the end, whichever a test killed already."""
    processes = [ServiceProcess(database_url, env=env) for _ in range(n)]
    try:
        await asyncio.gather(*(asyncio.to_thread(p.start) for p in processes))
        yield processes
    finally:
        for process in processes:
            await asyncio.to_thread(process.stop)
