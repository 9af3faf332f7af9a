"""Helpers for the gateway tests: configs and a gateway running in this event loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from gateway.config import GatewayConfig, parse_config
from gateway.protocols import SendOutcome, Source, Uplink
from gateway.runner import Gateway
from gateway.testing import InMemorySource, RecordingUplink
from heatlink.clock import Clock
from heatlink.wire import Reading


def config_for(tmp_path: Path, sources: list[dict[str, Any]], *,
               url: str = "http://127.0.0.1:9", token: str = "unused",
               **uplink: Any) -> GatewayConfig:
    return parse_config({
        "sources": sources,
        "buffer": {"path": str(tmp_path / "buffer.sqlite3")},
        "uplink": {"url": url, "gateway_id": "glomfjord-gw1", "token": token,
                   "dead_letter_path": str(tmp_path / "dead.jsonl"),
                   "retry": {"initial_s": 0.2, "max_s": 1.0}, **uplink},
        "http": {"port": 0},
    })


def mqtt_source(url: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "mqtt", "name": "mqtt", "url": url,
            "client_id": f"gw-{uuid.uuid4().hex[:8]}",
            "reconnect": {"initial_s": 1, "max_s": 1},
            "topics": [{"filter": "heatlink-sim/#", "series": "{0}"}], **extra}


def opcua_source(endpoint: str, series: list[str], ns: int = 2, **extra: Any) -> dict[str, Any]:
    return {"kind": "opcua", "name": "opcua", "endpoint": endpoint,
            "publishing_interval_ms": 50, "sampling_interval_ms": 0, "queue_size": 100,
            "watchdog_s": 2, "reconnect": {"initial_s": 0.2, "max_s": 1.0},
            "nodes": [{"node_id": f"ns={ns};s={s}", "series": s} for s in series], **extra}


@contextlib.asynccontextmanager
async def running(config: GatewayConfig, uplink: Uplink | None = None,
                  sources: Sequence[Source] | None = None,
                  clock: Clock | None = None) -> AsyncIterator[Gateway]:
    """A gateway running until the block ends; its start's failure raises here."""
    gateway = Gateway(config, uplink=uplink, sources=sources, clock=clock)
    task = asyncio.create_task(gateway.run())
    started = asyncio.create_task(gateway.started.wait())
    await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    try:
        yield gateway
    finally:
        started.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(condition: Callable[[], bool], timeout_s: float = 10.0,
                     what: str = "condition") -> float:
    """Wait until `condition()` holds; returns the seconds it took. For states of other
    processes (a broker, a server) that offer nothing to await."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"{what} not reached within {timeout_s} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


class WatchingUplink(RecordingUplink):
    """Records like `RecordingUplink` and lets a test await what it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Reading] = []
        self._changed = asyncio.Condition()

    async def send(self, batch_id: str, readings: Sequence[Reading]) -> SendOutcome:
        outcome = await super().send(batch_id, readings)
        async with self._changed:
            self.received.extend(readings)
            self._changed.notify_all()
        return outcome

    async def until(self, condition: Callable[[list[Reading]], bool],
                    timeout_s: float = 15.0) -> list[Reading]:
        """Wait for a batch after which `condition(received)` holds."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: condition(self.received))
        return self.received


async def stored_counts(database_url: str, series: Sequence[str],
                        since: datetime) -> dict[tuple[str, datetime], int]:
    """How often each (series, ts) since ``since`` is stored: 1 everywhere means nothing
    was stored twice."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT s.key, r.ts, count(*) AS n FROM readings r JOIN series s ON s.id = r.series_id"
            " WHERE s.key = ANY($1::text[]) AND r.ts >= $2 GROUP BY s.key, r.ts",
            list(series), since)
    finally:
        await conn.close()
    return {(r["key"], r["ts"]): r["n"] for r in rows}


async def steady_feed(source: InMemorySource, fed: list[Reading], stop: asyncio.Event, *,
                      series: Sequence[str], value_of: Callable[[str], float],
                      start: datetime, tick_s: float) -> None:
    """Steady ingest until ``stop``: every series, every tick, on a grid of source times
    from ``start``; what went in is appended to ``fed``."""
    tick = 0
    while not stop.is_set():
        ts = start + timedelta(seconds=tick * tick_s)
        batch = [Reading(key, ts, value_of(key)) for key in series]
        source.put(batch)
        fed.extend(batch)
        tick += 1
        await asyncio.sleep(tick_s)  # the pace of a plant, not a wait for an event
