"""Gap fill from OPC UA history: after a reconnect, what the server kept while we were away.

A subscription delivers only what changes while it exists, so a gateway that lost its
server (or its network) misses the values produced meanwhile. Where the server historizes a
node (its AccessLevel has HistoryRead), the source reads the gap with one bounded raw
HistoryRead per node, from just after the last value it had to now, at most
``history.max_span_s`` back and ``history.max_values_per_node`` values, and hands the
readings over before the new subscription's, oldest first. Where the server keeps no
history, the gap stays a gap, and the log says so once per source.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from asyncua import ua as _ua
from asyncua.client.client import Client
from asyncua.ua.uaerrors import UaError

from gateway.config import OpcUaSourceConfig
from gateway.opcua_seen import SeenMarks
from gateway.stats import SourceStats
from heatlink.clock import Clock
from heatlink.wire import Reading

log = logging.getLogger("gateway.opcua")
ua: Any = _ua
ONE_US = timedelta(microseconds=1)
HISTORY_READ = 1 << 2  # AccessLevel bit (OPC 10000-3 8.57)


class HistoryFill:
    def __init__(self, config: OpcUaSourceConfig, clock: Clock, stats: SourceStats,
                 to_reading: Callable[[int, Any], Reading | None],
                 marks: SeenMarks | None = None) -> None:
        self.config = config
        self._clock = clock
        self._stats = stats
        self._to_reading = to_reading
        # client handle -> newest source ts seen; from the last run's buffered marks at first,
        # so the first connection after a restart reads the time the gateway was down.
        self.last_ts: dict[int, datetime] = {}
        for handle, node in enumerate(config.nodes, start=1):
            mark = marks.get(SeenMarks.key(node.node_id, node.series)) if marks else None
            if mark is not None:
                self.last_ts[handle] = mark
        self._told_unsupported = False

    def seen(self, handle: int, ts: datetime) -> None:
        last = self.last_ts.get(handle)
        if last is None or ts > last:
            self.last_ts[handle] = ts

    async def fill(self, client: Client) -> list[Reading]:
        """The readings of the gap of every node seen before, oldest first per node."""
        cfg = self.config.history
        if not cfg.enabled or not self.last_ts:
            return []
        try:
            async with asyncio.timeout(cfg.timeout_s):
                return await self._fill(client)
        except (TimeoutError, UaError, OSError) as exc:
            log.warning("source %s: history read for the gap failed (%s); the gap stays",
                        self.config.name, exc or type(exc).__name__)
            return []
        finally:
            # Read after `went_up`: this says the reconnect's gap was dealt with.
            self._stats.events["gap_fills"] += 1

    async def _fill(self, client: Client) -> list[Reading]:
        cfg = self.config.history
        handles = sorted(self.last_ts)
        node_ids = [ua.NodeId.from_string(self.config.nodes[h - 1].node_id) for h in handles]
        levels = await client.uaclient.read_attributes(node_ids, ua.AttributeIds.AccessLevel)
        kept = [(h, n) for h, n, level in zip(handles, node_ids, levels, strict=True)
                if _history_readable(level)]
        if len(kept) < len(handles) and not self._told_unsupported:
            self._told_unsupported = True
            missing = len(handles) - len(kept)
            log.info("source %s: the server keeps no history of %d of %d node(s); what they "
                     "changed while the gateway was away is not read back", self.config.name,
                     missing, len(handles))
        now = self._clock.now()
        oldest = now - timedelta(seconds=cfg.max_span_s)
        readings: list[Reading] = []
        for handle, node_id in kept:
            start = max(self.last_ts[handle] + ONE_US, oldest)
            values = await client.get_node(node_id).read_raw_history(
                start, now, numvalues=cfg.max_values_per_node, return_bounds=False)
            found = [r for dv in values if (r := self._to_reading(handle, dv)) is not None]
            found.sort(key=lambda r: r.ts)
            readings.extend(found)
            self._stats.events["history_values"] += len(found)
        if readings:
            log.info("source %s: %d value(s) of the gap read from the server's history",
                     self.config.name, len(readings))
        return readings


def _history_readable(level: Any) -> bool:
    good = level.StatusCode is None or level.StatusCode.is_good()
    return bool(good and level.Value is not None and int(level.Value.Value or 0) & HISTORY_READ)
