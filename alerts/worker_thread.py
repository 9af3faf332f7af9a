"""The delivery worker on an event loop and thread of its own.

Ingest and the monitor keep the service's request loop busy in bursts (a batch of 20,000
readings is checked and evaluated in one go); a page must not wait behind them. The worker
thread has its own small pool, channels and LISTEN connection; the GIL still switches
between threads every few milliseconds, so the worker gets its turn during a burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from alerts import outbox
from alerts.channels.base import Channel
from alerts.channels.dashboard import AlertStream
from alerts.metrics import AlertMetrics
from alerts.service import AlertService, LatestValues
from alerts.settings import AlertSettings
from alerts.signing import LinkSigner
from alerts.worker import DeliveryWorker, StorageWatch
from heatlink.aio import cancel_and_wait
from heatlink.clock import Clock
from heatlink.cluster.index import ClusterIndex
from heatlink.pool import keep_session

log = logging.getLogger(__name__)


class ThreadSafeStream:
    """Hands alert events from the worker's thread to a stream living on the main loop."""

    def __init__(self, stream: AlertStream, loop: asyncio.AbstractEventLoop) -> None:
        self._stream = stream
        self._loop = loop

    def publish_alert(self, org: str, event: dict[str, Any]) -> None:
        self._loop.call_soon_threadsafe(self._stream.publish_alert, org, event)


@dataclass
class WorkerThread:
    database_url: str
    clock: Clock
    index: ClusterIndex
    signer: LinkSigner
    settings: AlertSettings
    stream: AlertStream
    metrics: AlertMetrics
    build_channels: Callable[[AlertSettings, AlertStream], dict[str, Channel]]
    storage: StorageWatch | None = None  # thread-safe: told from this thread's loop
    latest: LatestValues = field(kw_only=True)
    _loop: asyncio.AbstractEventLoop | None = None
    _worker: DeliveryWorker | None = None
    _stop: asyncio.Event | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _error: BaseException | None = None
    _thread: threading.Thread | None = None

    async def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="alert-worker", daemon=True)
        self._thread.start()
        try:
            await asyncio.to_thread(self._ready.wait, 60)
        except asyncio.CancelledError:
            await self.stop()  # stopped while starting: the thread must not run on
            raise
        if self._error is not None:
            raise RuntimeError("the alert worker did not start") from self._error

    def wake(self) -> None:
        """Safe from any thread."""
        loop, worker = self._loop, self._worker
        if loop is not None and worker is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(worker.wake)

    async def stop(self) -> None:
        # Flag first, then look for the thread's loop; the thread makes its loop first and
        # then looks at the flag. So a stop during the thread's start is never missed.
        self._stopping.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._error = exc
            log.exception("alert worker thread stopped")
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._stopping.is_set():
            return
        pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=2,
                                         reset=keep_session)
        assert pool is not None
        channels = self.build_channels(self.settings, self.stream)
        listener: asyncpg.Connection | None = None
        task: asyncio.Task[None] | None = None
        try:
            worker = DeliveryWorker(pool, self.clock, channels, self.index.cluster.alerting,
                                    self.settings, self.metrics, self.storage,
                                    {o.id: o.language for o in self.index.cluster.organisations})
            timers = AlertService(pool, self.index, self.clock, self.signer, worker.wake,
                                  self.metrics, latest=self.latest)
            # Another process (or this one) committing deliveries wakes the worker at once.
            listener = await asyncpg.connect(self.database_url)
            await listener.add_listener(outbox.CHANNEL, lambda *_: worker.wake())
            self._worker = worker
            task = asyncio.create_task(worker.run(timers.tick), name="alert-worker")
            self._ready.set()
            await self._stop.wait()
        finally:
            if task is not None:
                await cancel_and_wait(task)
            if listener is not None:
                await listener.close()
            for channel in channels.values():
                await channel.close()
            await pool.close()
