"""The delivery worker: claims due deliveries, groups them per address, sends each message
through its channel and records the outcome. All retry policy lives here; channels only
report what happened."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Protocol

import asyncpg

from alerts import flood, outbox
from alerts.channels.base import Channel
from alerts.metrics import AlertMetrics
from alerts.model import Delivered, Fail, Message, Outcome, Retry
from alerts.outbox import Claimed
from alerts.settings import AlertSettings
from heatlink.aio import wait_event
from heatlink.backoff import Backoff
from heatlink.clock import Clock
from heatlink.cluster.model import AlertPolicy
from heatlink.webhooks import secret_key

log = logging.getLogger(__name__)


class StorageWatch(Protocol):
    """Told of every database error; says whether it was an outage, which it then reports
    once for the whole service (the service's `StorageHealth`)."""

    def failed(self, exc: BaseException, where: str) -> bool: ...


class DeliveryWorker:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, channels: Mapping[str, Channel],
                 policy: AlertPolicy, settings: AlertSettings,
                 metrics: AlertMetrics | None = None,
                 storage: StorageWatch | None = None,
                 languages: Mapping[str, str] | None = None) -> None:
        self.pool = pool
        self.clock = clock
        self.channels = dict(channels)
        self.policy = policy
        self.settings = settings
        # The shared policy's ceiling, without jitter: doubling from retry_base_s up to
        # retry_max_s, as the deliveries have always been retried.
        self.retry = Backoff(settings.retry_base_s, settings.retry_max_s)
        self.metrics = metrics or AlertMetrics()
        self.storage = storage
        # Each organisation's language (the cluster file's): its messages are written in it.
        self.languages = dict(languages or {})
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, tick: Callable[[], Awaitable[int]] | None = None) -> None:
        """Until cancelled: deliver what is due whenever woken (or every poll_s), and run
        ``tick`` every tick_s."""
        last_tick = float("-inf")
        while True:
            try:
                while await self.run_due():
                    pass
                if tick is not None and time.monotonic() - last_tick >= self.settings.tick_s:
                    last_tick = time.monotonic()
                    await tick()
            except Exception as exc:
                if self.storage is not None and self.storage.failed(exc, "alert worker"):
                    pass  # told once for the service; the next round tries again
                elif isinstance(exc, (OSError, asyncpg.PostgresError)):
                    log.warning("alert worker: %s; trying again", exc)
                else:  # a bug must not stop deliveries for good; logged, retried
                    log.exception("alert worker failed; trying again")
            await wait_event(self._wake, self.settings.poll_s)
            self._wake.clear()

    async def run_due(self) -> int:
        """Send every message due now; returns how many were attempted."""
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            claimed = await outbox.claim(conn, now, self.settings.lease_s,
                                         self.settings.claim_batch)
            if not claimed:
                return 0
            batches = await self._group(conn, claimed, now)
        results = await asyncio.gather(*(self._send(m) for m, _ in batches))
        for (message, members), outcome in zip(batches, results, strict=True):
            await self._record(message, members, outcome)
        return len(batches)

    async def _group(self, conn: asyncpg.Connection, claimed: list[Claimed],
                     now: object) -> list[tuple[Message, list[Claimed]]]:
        by_address: dict[tuple[str, str], list[Claimed]] = defaultdict(list)
        for c in claimed:
            by_address[(c.channel, c.address)].append(c)
        batches = []
        for (channel, address), members in by_address.items():
            sends = await outbox.sends_in_hour(conn, channel, address, self.clock.now())
            release = flood.rate_limit_release(self.clock.now(), sends,
                                               self.policy.max_notifications_per_hour)
            if release is not None:
                # Held back, never dropped: they go out together, summarised, when allowed.
                await outbox.hold(conn, [m.id for m in members],
                                  [m.attempt_id for m in members], self.clock.now(), release)
                continue
            # A group formed before (and perhaps sent before a crash) keeps its key.
            groups: dict[str | None, list[Claimed]] = defaultdict(list)
            for m in members:
                groups[m.group_key].append(m)
            for key, group in groups.items():
                if key is None:
                    key = flood.group_key([m.idempotency_key for m in group])
                    await outbox.set_group(conn, [m.id for m in group], key)
                batches.append((self._message(key, group), group))
        return batches

    def _message(self, key: str, group: list[Claimed]) -> Message:
        first = group[0]
        secret = os.environ.get(first.secret_env) if first.secret_env else None
        return Message(key, first.channel, first.address, first.org, first.contact,
                       tuple(m.payload for m in group),
                       secret_key(secret) if secret is not None else None,
                       self.languages.get(first.org, "en"))

    async def _send(self, message: Message) -> Outcome:
        channel = self.channels.get(message.channel)
        if channel is None:
            return Retry(f"channel {message.channel!r} is not configured in this service")
        try:
            return await channel.send(message)
        except Exception as exc:  # a channel's bug must not stop the worker
            log.exception("channel %s raised", message.channel)
            return Retry(f"channel raised {type(exc).__name__}: {exc}")

    async def _record(self, message: Message, members: list[Claimed], outcome: Outcome) -> None:
        now = self.clock.now()
        ids = [m.id for m in members]
        tries = [m.attempt_id for m in members]
        attempts = max(m.attempts for m in members)
        async with self.pool.acquire() as conn, conn.transaction():
            match outcome:
                case Delivered(detail=detail):
                    await outbox.delivered(conn, ids, tries, message.key, message.channel,
                                           message.address, now, detail)
                    label = "delivered"
                case Retry(reason=reason, after_s=after_s):
                    delay = max(after_s or 0.0, self.retry.ceiling_s(attempts))
                    at = now + timedelta(seconds=delay)
                    if at > min(m.give_up_at for m in members):
                        await outbox.failed(conn, ids, tries, message.key, now,
                                            f"gave up after {attempts} attempts: {reason}")
                        log.error("delivery %s to %s failed for good: %s", message.key,
                                  message.address, reason)
                        label = "failed"
                    else:
                        await outbox.retry_at(conn, ids, tries, message.key, now, at, reason)
                        label = "retry"
                case Fail(reason=reason):
                    await outbox.failed(conn, ids, tries, message.key, now, reason)
                    log.error("delivery %s to %s failed: %s", message.key, message.address,
                              reason)
                    label = "failed"
        self.metrics.attempts.labels(message.channel, label).inc()
