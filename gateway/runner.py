"""`Gateway`: wires sources, buffer, forwarder and status server from a config, and runs them.

The pump is the one place where "durable before acknowledged" happens:
`await buffer.add(readings)` then `arrival.ack()`.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import random
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.buffer_sqlite import SqliteBuffer
from gateway.config import (
    GatewayConfig,
    MqttSourceConfig,
    OpcUaSourceConfig,
    SparkplugSourceConfig,
)
from gateway.deadletter import DeadLetterFile
from gateway.forwarder import Forwarder
from gateway.metrics import BufferFigures, GatewayCollector, make_registry
from gateway.protocols import Buffer, Source, Uplink
from gateway.stats import UplinkStats
from gateway.status_server import StatusServer
from gateway.uplink_failover import FailoverUplink
from gateway.uplink_http import HttpUplink
from heatlink.backoff import Backoff
from heatlink.clock import Clock, SystemClock

if TYPE_CHECKING:
    from gateway.control import ControlChannel

log = logging.getLogger("gateway")
# Readings, messages and their dicts come and go by the hundred thousand a second, nearly all
# freed by their reference counts; with the collector's default of a young collection every
# 700 new containers, its passes took a tenth of a busy gateway's time. Cycles still go,
# a little later.
GC_YOUNG_THRESHOLD = 10_000
# The buffer's thread and the uplink's encoder hold the GIL for short steps between calls
# that release it (each SQLite statement, each row read back): while the event loop is busy
# taking messages in, each step waited out Python's default switch interval (5 ms) for the
# GIL. An add of 30,000 readings took 60 ms instead of 9, and the forwarder's `begin` 40 ms
# instead of 1, so the forwarder started only once a burst had been taken in.
SWITCH_INTERVAL_S = 0.0005


def marks_path(config: GatewayConfig, source: OpcUaSourceConfig) -> Path | None:
    """Beside the buffer: the marks say what the buffer holds, so they live and go with it."""
    if not source.history.enabled:
        return None
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", source.name)[:40]
    digest = hashlib.sha256(source.name.encode()).hexdigest()[:8]
    buffer = config.buffer.path
    return buffer.with_name(f"{buffer.name}.opcua-{slug}-{digest}.seen.json")


def build_sources(config: GatewayConfig, clock: Clock) -> list[Source]:
    # Imported here: a gateway with only MQTT sources never loads asyncua.
    sources: list[Source] = []
    for s in config.sources:
        if isinstance(s, OpcUaSourceConfig):
            from gateway.opcua_source import OpcUaSource

            sources.append(OpcUaSource(s, clock, marks_path=marks_path(config, s)))
        elif isinstance(s, MqttSourceConfig):
            from gateway.mqtt_source import MqttSource

            sources.append(MqttSource(s, clock))
        elif isinstance(s, SparkplugSourceConfig):
            from gateway.sparkplug_source import SparkplugSource

            sources.append(SparkplugSource(s, clock))
    return sources


def tune_process() -> None:
    """Fewer young collections (`GC_YOUNG_THRESHOLD`) and a shorter GIL switch interval
    (`SWITCH_INTERVAL_S`), for a process that runs a gateway: called by `heatlink gateway
    run` (and the bench, which stands for it), not by `Gateway`, since both are the whole
    process's."""
    young, *older = gc.get_threshold()
    if 0 < young < GC_YOUNG_THRESHOLD:  # (0: the collector is off; left so)
        gc.set_threshold(GC_YOUNG_THRESHOLD, *older)
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))


class Gateway:
    def __init__(self, config: GatewayConfig, *, clock: Clock | None = None,
                 sources: Sequence[Source] | None = None, buffer: Buffer | None = None,
                 uplink: Uplink | None = None, rng: random.Random | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.sources = list(sources) if sources is not None else build_sources(config, self.clock)
        self.buffer: Buffer = buffer or SqliteBuffer(
            config.buffer.path, self.clock, max_bytes=config.buffer.max_bytes,
            synchronous=config.buffer.synchronous)
        up = config.uplink
        self.uplink_stats = UplinkStats()
        self.uplink: Uplink = uplink or FailoverUplink(
            [(url, HttpUplink(url, up.gateway_id, up.resolved_token(), timeout_s=up.timeout_s,
                              compress=up.gzip)) for url in up.service_urls()],
            self.uplink_stats)
        self.dead_letters = DeadLetterFile(up.dead_letter_path, self.clock)
        self.forwarder = Forwarder(
            self.buffer, self.uplink, self.dead_letters, batch_max_readings=up.batch_max_readings,
            lanes=up.lanes, retry=Backoff.from_config(up.retry), auth_retry_s=up.auth_retry_s,
            ready_probe_s=up.ready_probe_s, rng=rng)
        self.figures = BufferFigures()
        self.control = self._control_channel()
        self.registry = make_registry(GatewayCollector(
            [s.stats for s in self.sources], self.forwarder.stats, self.figures,
            self.control.handler.stats if self.control is not None else None,
            self.uplink_stats))
        self.status = StatusServer(self.registry, self.refresh, self.health,
                                   config.http.host, config.http.port)
        self.started = asyncio.Event()

    def _control_channel(self) -> ControlChannel | None:
        source = self.config.control_source()
        if self.config.control is None or source is None:
            return None
        # Imported here: a gateway without a control section never loads the writer.
        from gateway.control import ControlChannel

        return ControlChannel(self.config.control, source, self.config.uplink.gateway_id,
                              self.clock, folder=self.config.buffer.path.parent)

    async def refresh(self) -> None:
        self.figures.depth = await self.buffer.depth()
        self.figures.oldest_age_s = await self.buffer.oldest_age_s() or 0.0
        self.figures.dropped_total = self.buffer.dropped_total
        self.figures.dead_letters_total = self.dead_letters.count_total
        if isinstance(self.buffer, SqliteBuffer):
            self.figures.used_bytes = await self.buffer.used_bytes()
            self.figures.quota_bytes = self.buffer.max_bytes

    async def health(self) -> tuple[bool, dict[str, object]]:
        await self.refresh()
        sources = {s.name: {"kind": s.kind, "up": s.up, "last_error": s.stats.last_error,
                            "readings_total": s.stats.readings_total} for s in self.sources}
        f = self.forwarder.stats
        healthy = all(s.up for s in self.sources) and f.uplink_up
        status: dict[str, object] = {
            "status": "ok" if healthy else "degraded",
            "sources": sources,
            "uplink": {"up": f.uplink_up, "last_error": f.last_error,
                       "readings_out_total": f.readings_out_total,
                       "url": self.uplink_stats.current or None,
                       "failovers_total": dict(self.uplink_stats.failovers_total)},
            "buffer": asdict(self.figures),
        }
        if self.control is not None:
            # Reported, not part of `healthy`: readings flow whether or not commands can.
            status["control"] = {
                "connected": self.control.subscription.connected.is_set(),
                "results_total": self.control.handler.results_total,
                "refused_total": dict(self.control.handler.stats.refused_total),
                "dropped_total": dict(self.control.handler.stats.dropped_total)}
        return healthy, status

    async def run(self) -> None:
        """Run until cancelled."""
        if isinstance(self.buffer, SqliteBuffer):
            await self.buffer.open()
        await self.status.start()
        log.info("gateway %s: /metrics and /healthz on http://%s:%d", self.config.uplink.gateway_id,
                 self.status.host, self.status.port)
        try:
            async with asyncio.TaskGroup() as tasks:
                for source in self.sources:
                    tasks.create_task(self._pump(source), name=f"source {source.name}")
                tasks.create_task(self.forwarder.run(), name="forwarder")
                if self.control is not None:
                    tasks.create_task(self.control.run(), name="control")
                self.forwarder.notify()  # a backlog from the last run goes out at once
                self.started.set()
        finally:
            await self.status.close()
            await self.uplink.close()
            await self.buffer.close()

    async def _pump(self, source: Source) -> None:
        async for arrival in source.stream():
            if arrival.readings:
                await self.buffer.add(arrival.readings)
                self.forwarder.notify()
            arrival.ack()
