"""The transactional outbox: deliveries are written in the transaction that records the
transition they announce, claimed by workers with FOR UPDATE SKIP LOCKED, and every attempt
is recorded. Retries are data: a delivery's next_attempt_at."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from alerts import flood
from alerts.queries import q
from alerts.route import delivery_key
from heatlink.cluster.model import AlertPolicy, Subscription

CHANNEL = "heatlink_alerts_outbox"  # LISTEN/NOTIFY channel that wakes the workers


@dataclass(frozen=True)
class Claimed:
    id: int
    alert_id: int
    org: str
    contact: str
    channel: str
    address: str
    secret_env: str | None
    idempotency_key: str
    payload: dict[str, Any]
    group_key: str | None
    attempts: int
    created_at: datetime
    give_up_at: datetime
    attempt_id: int


async def enqueue(conn: asyncpg.Connection, *, alert_id: int, transition_id: int,
                  subscriptions: list[Subscription], payload: dict[str, Any], now: datetime,
                  policy: AlertPolicy) -> list[str]:
    """One delivery per subscription; returns their idempotency keys. Safe to repeat."""
    keys = []
    for sub in subscriptions:
        key = delivery_key(alert_id, transition_id, sub.channel, sub.address)
        due = flood.first_attempt_at(now, await _last_send(conn, sub.channel, sub.address),
                                     policy.group_window_s)
        held: datetime | None = await conn.fetchval(
            q("pending_group_due"), sub.channel, sub.address, now)
        if held is not None:
            due = max(due, held)  # join the group already waiting for this address
        body = {**payload, "idempotency_key": key, "contact": sub.contact}
        await conn.execute(
            q("enqueue_delivery"),
            alert_id, transition_id, sub.org, sub.contact, sub.channel, sub.address,
            sub.secret_env, key, json.dumps(body, default=str), now, due,
            now + timedelta(seconds=policy.retry_for_s))
        keys.append(key)
    if keys:
        await conn.execute(q("wake_workers"), CHANNEL)
    return keys


async def _last_send(conn: asyncpg.Connection, channel: str, address: str) -> datetime | None:
    found: datetime | None = await conn.fetchval(
        q("last_send"), channel, address)
    return found


async def claim(conn: asyncpg.Connection, now: datetime, lease_s: float,
                limit: int) -> list[Claimed]:
    """Claim due deliveries for ``lease_s``: a worker that dies mid-send leaves them due again
    when the lease ends, with the same idempotency and group keys."""
    rows = await conn.fetch(q("claim_deliveries"), now, now + timedelta(seconds=lease_s), limit)
    # The attempt is on record before it starts: a crash leaves it 'sending', unfinished.
    attempts = {r["delivery_id"]: r["id"] for r in await conn.fetch(
        q("start_attempts"), [r["id"] for r in rows], now, [r["group_key"] for r in rows])}
    return [Claimed(r["id"], r["alert_id"], r["org"], r["contact"], r["channel"], r["address"],
                    r["secret_env"], r["idempotency_key"], json.loads(r["payload"]),
                    r["group_key"], r["attempts"], r["created_at"], r["give_up_at"],
                    attempts[r["id"]])
            for r in sorted(rows, key=lambda r: r["id"])]


async def set_group(conn: asyncpg.Connection, ids: list[int], key: str) -> None:
    await conn.execute(q("set_group"), ids, key)


async def sends_in_hour(conn: asyncpg.Connection, channel: str, address: str,
                        now: datetime) -> list[datetime]:
    rows = await conn.fetch(q("sends_in_hour"), channel, address, now)
    return [r["at"] for r in rows]


async def delivered(conn: asyncpg.Connection, ids: list[int], attempt_ids: list[int],
                    group_key: str, channel: str, address: str, now: datetime,
                    detail: str) -> None:
    await conn.execute(q("delivered"), ids, now)
    await finish(conn, attempt_ids, now, "delivered", group_key, detail)
    await conn.execute(q("record_send"), channel, address, now, len(ids))


async def retry_at(conn: asyncpg.Connection, ids: list[int], attempt_ids: list[int],
                   group_key: str, now: datetime, at: datetime, reason: str) -> None:
    await conn.execute(q("retry_at"), ids, at, reason)
    await finish(conn, attempt_ids, now, "retry", group_key, reason)


async def failed(conn: asyncpg.Connection, ids: list[int], attempt_ids: list[int],
                 group_key: str, now: datetime, reason: str) -> None:
    await conn.execute(q("failed"), ids, reason)
    await finish(conn, attempt_ids, now, "failed", group_key, reason)


async def hold(conn: asyncpg.Connection, ids: list[int], attempt_ids: list[int],
               now: datetime, until: datetime) -> None:
    """Hand back deliveries held for flood control: not sent, so not counted as tried."""
    await conn.execute(q("hold"), ids, until)
    await finish(conn, attempt_ids, now, "held", None,
                 f"rate limit; due {until.isoformat()}")


async def finish(conn: asyncpg.Connection, attempt_ids: list[int], now: datetime,
                 outcome: str, group_key: str | None, detail: str) -> None:
    await conn.execute(q("finish_attempts"), attempt_ids, outcome, group_key, detail, now)
