"""Waking the partitioned monitor when readings are stored, by any replica.

Only a wake-up: the inbox rows are the record, and the monitor also polls, so a lost
notification or a lost listening connection delays, never loses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import asyncpg

log = logging.getLogger(__name__)
WAKE_CHANNEL = "heatlink_monitor_inbox"  # ingest notifies it (services/ingest/inbox.sql)
_RELISTEN_S = 1.0


class WakeObserver:
    """The `ReadingsObserver` ingest calls on this replica: wakes the monitor at once."""

    def __init__(self, wake: asyncio.Event) -> None:
        self._wake = wake

    def readings_stored(self, *_: Sequence[object]) -> None:
        self._wake.set()


async def listen(database_url: str, wake: asyncio.Event) -> None:
    """Set ``wake`` at every other replica's ingest commit, until cancelled."""
    while True:
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(database_url)
            await conn.add_listener(WAKE_CHANNEL, lambda *_: wake.set())
            closed = asyncio.Event()
            conn.add_termination_listener(lambda _c, done=closed: done.set())
            await closed.wait()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.debug("monitor: no inbox wake-up (%s); polling", exc)
        finally:
            if conn is not None and not conn.is_closed():
                await conn.close()
        await asyncio.sleep(_RELISTEN_S)  # a pace for reconnecting, not a wait
