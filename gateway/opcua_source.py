"""`OpcUaSource`: one OPC UA server, one subscription, every configured node monitored.

Each connection attempt builds a fresh asyncua `Client` from the same config, so after a
server restart or a network cut the session, the subscription and every monitored item are
created anew with the same security settings. A watchdog rebuilds a subscription that stops
publishing (not even keep-alives) while the server still answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.subscription import (
    DataChangeEvent,
    OverflowPolicy,
    StatusChangeEvent,
    Subscription,
)
from asyncua.ua.attribute_ids import AttributeIds

from gateway.config import OpcUaSourceConfig
from gateway.opcua_goodbye import disconnect_quickly
from gateway.opcua_history import HistoryFill
from gateway.opcua_security import apply_security, describe_connect_error
from gateway.opcua_seen import SeenMarks
from gateway.opcua_units import node_units
from gateway.protocols import Arrival
from gateway.stats import SourceStats
from heatlink.aio import cancel_and_wait, forget, raise_if_cancel_requested, wait_event
from heatlink.backoff import Backoff
from heatlink.clock import Clock
from heatlink.wire import Reading

log = logging.getLogger("gateway.opcua")


class ConnectionLost(Exception):
    pass


class OpcUaSource:
    kind = "opcua"

    def __init__(self, config: OpcUaSourceConfig, clock: Clock,
                 rng: random.Random | None = None, marks_path: Path | None = None) -> None:
        self.config = config
        self.name = config.name
        self.stats = SourceStats(config.name, self.kind)
        self._clock = clock
        self._rng = rng or random.Random()
        self._backoff = Backoff.from_config(config.reconnect)
        self._series = {i + 1: node.series for i, node in enumerate(config.nodes)}
        self._inbox: list[Reading] = []
        self._wake = asyncio.Event()
        self.monitored_items = 0
        self._subscribed = False
        self._units: list[str | None] = [node.unit for node in config.nodes]
        self._warned_units: set[str] = set()
        self.marks = SeenMarks(marks_path, clock)
        self._mark_keys = {node.series: SeenMarks.key(node.node_id, node.series)
                           for node in config.nodes}
        self.history = HistoryFill(config, clock, self.stats, self._reading, self.marks)

    @property
    def up(self) -> bool:
        return self.stats.up

    async def stream(self) -> AsyncIterator[Arrival]:
        connection = asyncio.create_task(self._connect_forever(), name=f"opcua {self.name}")
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                readings, self._inbox = self._inbox, []
                if readings:
                    self.stats.readings_total += len(readings)
                    yield Arrival(readings, ack=functools.partial(self._buffered, readings))
        finally:
            await cancel_and_wait(connection)
            self.marks.save()

    def _buffered(self, readings: Sequence[Reading]) -> None:
        newest: dict[str, datetime] = {}
        for r in readings:
            last = newest.get(r.series)
            if last is None or r.ts > last:
                newest[r.series] = r.ts
        self.marks.advance((self._mark_keys[s], ts) for s, ts in newest.items()
                           if s in self._mark_keys)

    # ---- connection life cycle -----------------------------------------------------------

    async def _connect_forever(self) -> None:
        attempt = 0
        while True:
            raise_if_cancel_requested()
            client = Client(self.config.endpoint, timeout=self.config.request_timeout_s,
                            watchdog_intervall=max(0.2, min(1.0, self.config.watchdog_s / 4)))
            lost = asyncio.Event()

            async def on_lost(_exc: Exception, lost: asyncio.Event = lost) -> None:
                lost.set()

            client.connection_lost_callback = on_lost
            self._subscribed = False
            try:
                await apply_security(client, self.config)
                await client.connect()
                raise_if_cancel_requested()  # asyncua's connect may swallow one
                await self._serve(client, lost)
            except asyncio.CancelledError:
                await disconnect_quickly(client)
                raise
            except Exception as exc:  # every fault of the server or the network lands here
                self.stats.went_down(describe_connect_error(exc, self.config))
            else:
                self.stats.went_down("connection lost")
            await disconnect_quickly(client)
            # A connection that worked restarts the backoff from its shortest delay.
            attempt = 1 if self._subscribed else attempt + 1
            self.stats.reconnects_total += 1
            await asyncio.sleep(self._backoff.delay_s(attempt, self._rng))

    async def _serve(self, client: Client, lost: asyncio.Event) -> None:
        """Subscribe, then watch until the connection is lost. Raises on any fault."""
        sub = await self._subscribe(client)
        self._subscribed = True
        self.stats.went_up(f"{self.monitored_items} monitored items on {self.config.endpoint}")
        self._units = await node_units(client, self.config.nodes, self.name, self._warned_units)
        # Before the subscription's values are taken (they wait in its queue): the gap's
        # readings go first, so the buffer receives them oldest first.
        gap = await self.history.fill(client)
        if gap:
            self._inbox.extend(gap)
            self._wake.set()
        consumer = self._start_consumer(sub, lost)
        try:
            # Silence is measured on the event loop's monotonic time, not the gateway's
            # clock: publishing and keep-alive intervals run in real seconds on both ends
            # (a clock that runs faster, as a simulated plant's, judged a subscription silent
            # after one slow tick under load and rebuilt it).
            loop = asyncio.get_running_loop()
            last_publish = sub.last_publish_at
            heard_at = loop.time()
            tick_s = max(0.1, self.config.watchdog_s / 4)
            while not lost.is_set():
                raise_if_cancel_requested()
                if await wait_event(lost, tick_s):
                    break
                # Any publish response, data or keep-alive, shows the subscription is alive.
                # (asyncua's own timestamp is only compared, never used as a time.)
                if sub.last_publish_at != last_publish:
                    last_publish = sub.last_publish_at
                    heard_at = loop.time()
                    continue
                silent_s = loop.time() - heard_at
                if silent_s < self.config.watchdog_s:
                    continue
                # Silent: is the server there? A failed read means the connection is gone.
                await client.nodes.server_state.read_value()
                log.warning("source %s: subscription silent for %.1f s while the server answers; "
                            "rebuilding it", self.name, silent_s)
                self.stats.watchdog_rebuilds_total += 1
                consumer.cancel()
                await asyncio.wait({consumer})
                with contextlib.suppress(Exception):
                    await sub.delete()
                sub = await self._subscribe(client)
                consumer = self._start_consumer(sub, lost)
                last_publish = sub.last_publish_at
                heard_at = loop.time()
        finally:
            consumer.cancel()
            await asyncio.wait({consumer})  # how it ended is of no interest (see forget)

    async def _subscribe(self, client: Client) -> Subscription:
        cfg = self.config
        params = ua.CreateSubscriptionParameters()
        params.RequestedPublishingInterval = cfg.publishing_interval_ms
        # Keep-alives at least four times per watchdog period, so silence means trouble.
        params.RequestedMaxKeepAliveCount = max(
            1, int(cfg.watchdog_s * 1000 / 4 / cfg.publishing_interval_ms))
        # The server drops a subscription after this many intervals without a publish
        # request; a busy edge box can stall for seconds, so allow a minute at least.
        params.RequestedLifetimeCount = max(params.RequestedMaxKeepAliveCount * 3,
                                            int(60_000 / cfg.publishing_interval_ms))
        params.MaxNotificationsPerPublish = 0  # no limit
        params.PublishingEnabled = True
        params.Priority = 0
        # Iterator mode with a large queue: callbacks would cost a task per value. When the
        # queue overflows we reconnect rather than silently drop values.
        sub = await client.create_subscription(params, None, queue_maxsize=1_000_000,
                                               overflow=OverflowPolicy.DISCONNECT)
        requests = [self._item_request(handle, node.node_id)
                    for handle, node in enumerate(cfg.nodes, start=1)]
        results = await sub.create_monitored_items(requests)
        good = 0
        for node, result in zip(cfg.nodes, results, strict=True):
            if isinstance(result, ua.StatusCode):
                self.stats.bad_payload("monitored_item_refused",
                                       f"{node.node_id}: {result.name}")
            else:
                good += 1
        if good == 0:
            raise ConnectionLost("the server refused every monitored item")
        self.monitored_items = good
        return sub

    def _item_request(self, handle: int, node_id: str) -> ua.MonitoredItemCreateRequest:
        cfg = self.config
        item = ua.ReadValueId()
        item.NodeId = ua.NodeId.from_string(node_id)
        item.AttributeId = AttributeIds.Value
        params = ua.MonitoringParameters()
        params.ClientHandle = handle
        params.SamplingInterval = cfg.sampling_interval_ms
        params.QueueSize = cfg.queue_size
        params.DiscardOldest = True
        # Trigger on the source timestamp too: a sensor that reads the same value twice
        # made two readings, and the service must see both (the series' time line).
        flt = ua.DataChangeFilter()
        flt.Trigger = (ua.DataChangeTrigger.StatusValueTimestamp
                       if cfg.trigger == "status_value_timestamp"
                       else ua.DataChangeTrigger.StatusValue)
        flt.DeadbandType = 0
        if cfg.deadband is not None:
            flt.DeadbandType = 1 if cfg.deadband.kind == "absolute" else 2
            flt.DeadbandValue = cfg.deadband.value
        params.Filter = flt
        request = ua.MonitoredItemCreateRequest()
        request.ItemToMonitor = item
        request.MonitoringMode = ua.MonitoringMode.Reporting
        request.RequestedParameters = params
        return request

    def _start_consumer(self, sub: Subscription, lost: asyncio.Event) -> asyncio.Task[None]:
        consumer = asyncio.create_task(self._consume(sub, lost), name=f"opcua {self.name} data")
        consumer.add_done_callback(forget)  # its faults show as a lost connection
        return consumer

    async def _consume(self, sub: Subscription, lost: asyncio.Event) -> None:
        async for event in sub:
            if isinstance(event, DataChangeEvent):
                reading = self._to_reading(event)
                if reading is not None:
                    was_empty = not self._inbox
                    self._inbox.append(reading)
                    if was_empty:
                        self._wake.set()
            elif isinstance(event, StatusChangeEvent):
                status = event.notification.Status
                if not status.is_good():
                    log.info("source %s: subscription status %s", self.name, status.name)
                    lost.set()
                    return

    def _to_reading(self, event: DataChangeEvent) -> Reading | None:
        handle = event.data.subscription_data.client_handle
        if handle is None:
            return None
        reading = self._reading(handle, event.data.monitored_item.Value)
        if reading is not None:
            self.history.seen(handle, reading.ts)
        return reading

    def _reading(self, handle: int, dv: ua.DataValue) -> Reading | None:
        """A value of the node with this client handle (live or from history)."""
        series = self._series.get(handle)
        if series is None:
            return None
        value = dv.Value.Value if dv.Value is not None else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.stats.bad_payload("value_not_a_number", f"{series}: {value!r}")
            return None
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            self.stats.bad_payload("not_finite", f"{series}: {value!r}")
            return None
        ts = dv.SourceTimestamp or dv.ServerTimestamp or self._clock.now()
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        return Reading(series, ts, number, _quality(dv.StatusCode), self._units[handle - 1])


def _quality(status: ua.StatusCode | None) -> str:
    if status is None or status.is_good():
        return "good"
    if status.is_uncertain():
        return "uncertain"
    return "bad"
