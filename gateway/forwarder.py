"""The forwarder: buffer → uplink, and the one place that decides what an outcome means.

    Delivered      → dead-letter the rejected readings, remove the batch from the buffer
    Unreadable     → dead-letter the whole batch (the service cannot read it; never will)
    TooLarge       → send the two halves, each under its own derived batch id
    NotAuthorised  → keep everything, wait `auth_retry_s`, log once
    RetryLater     → keep everything, wait a jittered exponential backoff
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence

from gateway.backoff import Backoff
from gateway.deadletter import DeadLetterFile
from gateway.protocols import (
    Buffer,
    Delivered,
    NotAuthorised,
    RetryLater,
    TooLarge,
    Unreadable,
    Uplink,
)
from gateway.stats import ForwarderStats
from heatlink.aio import raise_if_cancel_requested
from heatlink.wire import Reading

log = logging.getLogger("gateway.forwarder")
Sleep = Callable[[float], Awaitable[None]]


class Forwarder:
    def __init__(self, buffer: Buffer, uplink: Uplink, dead_letters: DeadLetterFile, *,
                 batch_max_readings: int = 5000, retry: Backoff | None = None,
                 auth_retry_s: float = 60.0, rng: random.Random | None = None,
                 sleep: Sleep = asyncio.sleep, stats: ForwarderStats | None = None) -> None:
        self.buffer = buffer
        self.uplink = uplink
        self.dead_letters = dead_letters
        self.batch_max_readings = batch_max_readings
        self.retry = retry or Backoff()
        self.auth_retry_s = auth_retry_s
        self.stats = stats or ForwarderStats()
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._data = asyncio.Event()

    def notify(self) -> None:
        """Tell the forwarder that readings were added (called by the runner after `add`)."""
        self._data.set()

    async def run(self) -> None:
        """Forward until cancelled. On cancellation an unfinished batch stays in the buffer."""
        while True:
            raise_if_cancel_requested()
            # Clear before looking, so an add between the look and the wait is not missed.
            self._data.clear()
            if not await self.forward_once():
                await self._data.wait()

    async def forward_once(self) -> bool:
        """Deliver one batch; False when the buffer had nothing to hand out."""
        tx = await self.buffer.begin(self.batch_max_readings)
        if tx is None:
            return False
        try:
            await self._deliver(tx.batch_id, tx.readings)
        except BaseException:
            await self.buffer.end(tx, delivered=False)
            raise
        await self.buffer.end(tx, delivered=True)
        return True

    async def _deliver(self, batch_id: str, readings: Sequence[Reading]) -> None:
        """Returns when the service has answered for every reading (stored or refused)."""
        attempt = 0
        while True:
            raise_if_cancel_requested()
            outcome = await self.uplink.send(batch_id, readings)
            match outcome:
                case Delivered(result):
                    self.stats.batches_total["delivered"] += 1
                    await self._dead_letter(batch_id, [
                        (readings[r.index], str(r.reason), r.detail) for r in result.rejected
                        if 0 <= r.index < len(readings)])
                    self.stats.readings_out_total += len(readings) - len(result.rejected)
                    self.stats.duplicates_total += result.duplicates
                    self.stats.conflicts_total += result.conflicts
                    self._recovered()
                    return
                case Unreadable(detail):
                    self.stats.batches_total["unreadable"] += 1
                    log.error("service cannot read batch %s (%s); dead-lettering its %d readings",
                              batch_id, detail, len(readings))
                    await self._dead_letter(batch_id, [(r, "unreadable_batch", detail)
                                                       for r in readings])
                    self._recovered()
                    return
                case TooLarge():
                    self.stats.batches_total["too_large"] += 1
                    if len(readings) == 1:
                        await self._dead_letter(batch_id, [(readings[0], "too_large", "")])
                        return
                    half = len(readings) // 2
                    await self._deliver(f"{batch_id}.a", readings[:half])
                    await self._deliver(f"{batch_id}.b", readings[half:])
                    return
                case NotAuthorised(status, detail):
                    self.stats.batches_total[f"http_{status}"] += 1
                    self._down(f"the service refused the gateway's token (HTTP {status}: "
                               f"{detail[:120]}); keeping the data, retrying every "
                               f"{self.auth_retry_s:g} s")
                    await self._sleep(self.auth_retry_s)
                case RetryLater(reason, after_s):
                    self.stats.batches_total[reason] += 1
                    attempt += 1
                    delay_s = self.retry.delay_s(attempt, self._rng)
                    if after_s is not None:
                        delay_s = max(delay_s, min(after_s, self.retry.max_s))
                    self._down(f"service unavailable ({reason}); retrying with backoff")
                    await self._sleep(delay_s)

    async def _dead_letter(self, batch_id: str,
                           entries: Sequence[tuple[Reading, str, str]]) -> None:
        if not entries:
            return
        await self.dead_letters.write(batch_id, entries)
        for _, reason, _ in entries:
            self.stats.rejected_total[reason] += 1

    def _down(self, error: str) -> None:
        if self.stats.uplink_up or error != self.stats.last_error:
            log.warning("uplink: %s", error)
        self.stats.uplink_up = False
        self.stats.last_error = error

    def _recovered(self) -> None:
        if not self.stats.uplink_up:
            log.info("uplink: the service accepts batches again")
        self.stats.uplink_up = True
        self.stats.last_error = None
