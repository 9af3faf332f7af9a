"""The forwarder: buffer → uplink, and the one place that decides what an outcome means.

    Delivered      → dead-letter the rejected readings, remove the batch from the buffer
    Unreadable     → dead-letter the whole batch (the service cannot read it; never will)
    TooLarge       → send the two halves, each under its own derived batch id
    NotAuthorised  → keep everything, wait `auth_retry_s`, log once
    RetryLater     → keep everything, wait a jittered exponential backoff, at least as long
                     as Retry-After asks; in an outage (503, no connection) ask the service's
                     readiness every `ready_probe_s` meanwhile and go again as soon as it is
                     ready, rather than sleep out a backoff that may have grown to minutes

A transaction of more than one request's worth goes out in up to `lanes` requests at once
(`gateway.lanes`: each series in one lane, in order), each under its own batch id derived
from the transaction's; the transaction ends, and its readings leave the buffer, once the
service has answered for every one of them. A transaction cut short (the gateway stops)
keeps all its readings, those of requests already answered included: they are sent again,
under the same ids when the buffer hands out the same readings, and the service stores
nothing twice either way (it answers a batch id it knows with its stored result, and keeps
one reading per series and source time).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence

from gateway.deadletter import DeadLetterFile
from gateway.lanes import lanes_of
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
from heatlink.backoff import Backoff
from heatlink.wire import Reading

log = logging.getLogger("gateway.forwarder")
Sleep = Callable[[float], Awaitable[None]]


class Forwarder:
    def __init__(self, buffer: Buffer, uplink: Uplink, dead_letters: DeadLetterFile, *,
                 batch_max_readings: int = 5000, lanes: int = 2, retry: Backoff | None = None,
                 auth_retry_s: float = 60.0, ready_probe_s: float | None = 0.5,
                 rng: random.Random | None = None, sleep: Sleep = asyncio.sleep,
                 stats: ForwarderStats | None = None) -> None:
        self.buffer = buffer
        self.uplink = uplink
        self.dead_letters = dead_letters
        self.batch_max_readings = batch_max_readings
        self.lanes = lanes
        self.retry = retry or Backoff()
        self.auth_retry_s = auth_retry_s
        self.ready_probe_s = ready_probe_s
        self.stats = stats or ForwarderStats()
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._data = asyncio.Event()
        self._resumed_early = False  # logged once per outage

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
        tx = await self.buffer.begin(self.batch_max_readings * self.lanes)
        if tx is None:
            return False
        try:
            await self._deliver_lanes(tx.batch_id, tx.readings)
        except BaseException:
            await self.buffer.end(tx, delivered=False)
            raise
        await self.buffer.end(tx, delivered=True)
        return True

    async def _deliver_lanes(self, batch_id: str, readings: Sequence[Reading]) -> None:
        """Returns when the service has answered for every reading of the transaction."""
        lanes = lanes_of(readings, self.lanes, self.batch_max_readings)
        if len(lanes) == 1 and len(lanes[0]) == 1:
            await self._deliver(batch_id, lanes[0][0])
            return
        async with asyncio.TaskGroup() as tasks:
            for lane, requests in enumerate(lanes):
                tasks.create_task(self._deliver_in_order(f"{batch_id}.{lane}", requests))

    async def _deliver_in_order(self, lane_id: str, requests: Sequence[Sequence[Reading]]
                                ) -> None:
        for k, request in enumerate(requests):
            await self._deliver(f"{lane_id}-{k}", request)

    async def _deliver(self, batch_id: str, readings: Sequence[Reading]) -> None:
        """Returns when the service has answered for every reading (stored or refused)."""
        attempt = 0
        while True:
            raise_if_cancel_requested()
            outcome = await self.uplink.send(batch_id, readings)
            match outcome:
                case Delivered(result):
                    self.stats.batches_total["delivered"] += 1
                    # Listed once: a batch of columns makes a reading for each index asked.
                    listed = list(readings) if result.rejected else []
                    await self._dead_letter(batch_id, [
                        (listed[r.index], str(r.reason), r.detail) for r in result.rejected
                        if 0 <= r.index < len(listed)])
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
                case RetryLater(reason, after_s, outage):
                    self.stats.batches_total[reason] += 1
                    attempt += 1
                    delay_s = self.retry.delay_s(attempt, self._rng)
                    if after_s is not None:
                        delay_s = max(delay_s, min(after_s, self.retry.max_s))
                    self._down(f"service unavailable ({reason}); retrying with backoff"
                               + (" or as soon as it reports ready" if outage else ""))
                    resumed_on = await self._wait(delay_s, probe=outage)
                    self.stats.resumes_total[resumed_on] += 1

    async def _wait(self, delay_s: float, *, probe: bool) -> str:
        """Wait `delay_s`, or less when probing and the service reports ready first.
        Returns what ended the wait: "readiness" or "backoff".

        Time is counted in the sleeps asked for (the probes' own time is not counted, so a
        wait may last a little longer than `delay_s`, never shorter unless ready): no clock
        to read, and a test drives it with a sleep that returns at once."""
        if not probe or self.ready_probe_s is None:
            await self._sleep(delay_s)
            return "backoff"
        waited_s = 0.0
        while waited_s < delay_s:
            # Jittered, so that gateways coming back together do not probe in step.
            step_s = min(self.ready_probe_s * self._rng.uniform(0.5, 1.0), delay_s - waited_s)
            await self._sleep(step_s)
            waited_s += step_s
            if waited_s < delay_s and await self.uplink.ready():
                if not self._resumed_early:
                    log.info("uplink: the service reports ready again; sending now instead of "
                             "after the %.1f s left of the backoff", delay_s - waited_s)
                self._resumed_early = True
                return "readiness"
        return "backoff"

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
        self._resumed_early = False
