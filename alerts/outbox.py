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
            """SELECT max(next_attempt_at) FROM alert_deliveries
               WHERE channel = $1 AND address = $2 AND status = 'pending' AND attempts = 0
                 AND next_attempt_at > $3""", sub.channel, sub.address, now)
        if held is not None:
            due = max(due, held)  # join the group already waiting for this address
        body = {**payload, "idempotency_key": key, "contact": sub.contact}
        await conn.execute(
            """INSERT INTO alert_deliveries (alert_id, transition_id, org, contact, channel,
                   address, secret_env, idempotency_key, payload, created_at, next_attempt_at,
                   give_up_at)
               VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9::jsonb,$10,$11,$12)
               ON CONFLICT (idempotency_key) DO NOTHING""",
            alert_id, transition_id, sub.org, sub.contact, sub.channel, sub.address,
            sub.secret_env, key, json.dumps(body, default=str), now, due,
            now + timedelta(seconds=policy.retry_for_s))
        keys.append(key)
    if keys:
        await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
    return keys


async def _last_send(conn: asyncpg.Connection, channel: str, address: str) -> datetime | None:
    found: datetime | None = await conn.fetchval(
        "SELECT max(at) FROM alert_sends WHERE channel = $1 AND address = $2", channel, address)
    return found


async def claim(conn: asyncpg.Connection, now: datetime, lease_s: float,
                limit: int) -> list[Claimed]:
    """Claim due deliveries for ``lease_s``: a worker that dies mid-send leaves them due again
    when the lease ends, with the same idempotency and group keys."""
    rows = await conn.fetch(
        """WITH due AS (
               SELECT id FROM alert_deliveries
               WHERE status = 'pending' AND next_attempt_at <= $1
               ORDER BY next_attempt_at, id LIMIT $3
               FOR UPDATE SKIP LOCKED)
           UPDATE alert_deliveries d
              SET next_attempt_at = $2, attempts = d.attempts + 1
             FROM due WHERE d.id = due.id
           RETURNING d.*""", now, now + timedelta(seconds=lease_s), limit)
    # The attempt is on record before it starts: a crash leaves it 'sending', unfinished.
    attempts = {r["delivery_id"]: r["id"] for r in await conn.fetch(
        """INSERT INTO alert_delivery_attempts (delivery_id, at, outcome, group_key)
           SELECT unnest($1::bigint[]), $2, 'sending', unnest($3::text[])
           RETURNING id, delivery_id""",
        [r["id"] for r in rows], now, [r["group_key"] for r in rows])}
    return [Claimed(r["id"], r["alert_id"], r["org"], r["contact"], r["channel"], r["address"],
                    r["secret_env"], r["idempotency_key"], json.loads(r["payload"]),
                    r["group_key"], r["attempts"], r["created_at"], r["give_up_at"],
                    attempts[r["id"]])
            for r in sorted(rows, key=lambda r: r["id"])]


async def set_group(conn: asyncpg.Connection, ids: list[int], key: str) -> None:
    await conn.execute("UPDATE alert_deliveries SET group_key = $2 WHERE id = ANY($1::bigint[])",
                       ids, key)


async def sends_in_hour(conn: asyncpg.Connection, channel: str, address: str,
                        now: datetime) -> list[datetime]:
    rows = await conn.fetch(
        """SELECT at FROM alert_sends WHERE channel = $1 AND address = $2
             AND at > $3::timestamptz - interval '1 hour' AND at <= $3""", channel, address, now)
    return [r["at"] for r in rows]


async def delivered(conn: asyncpg.Connection, ids: list[int], attempt_ids: list[int],
                    group_key: str, channel: str, address: str, now: datetime,
                    detail: str) -> None:
    await conn.execute(
        """UPDATE alert_deliveries SET status = 'delivered', delivered_at = $2, last_error = NULL
           WHERE id = ANY($1::bigint[])""", ids, now)
    await finish(conn, attempt_ids, now, "delivered", group_key, detail)
    await conn.execute(
        "INSERT INTO alert_sends (channel, address, at, items) VALUES ($1, $2, $3, $4)",
        channel, address, now, len(ids))


async def retry_at(conn: asyncpg.Connection, ids: list[int], attempt_ids: list[int],
                   group_key: str, now: datetime, at: datetime, reason: str) -> None:
    await conn.execute(
        """UPDATE alert_deliveries SET next_attempt_at = $2, last_error = $3
           WHERE id = ANY($1::bigint[])""", ids, at, reason)
    await finish(conn, attempt_ids, now, "retry", group_key, reason)


async def failed(conn: asyncpg.Connection, ids: list[int], attempt_ids: list[int],
                 group_key: str, now: datetime, reason: str) -> None:
    await conn.execute(
        """UPDATE alert_deliveries SET status = 'failed', last_error = $2
           WHERE id = ANY($1::bigint[])""", ids, reason)
    await finish(conn, attempt_ids, now, "failed", group_key, reason)


async def hold(conn: asyncpg.Connection, ids: list[int], attempt_ids: list[int],
               now: datetime, until: datetime) -> None:
    """Hand back deliveries held for flood control: not sent, so not counted as tried."""
    await conn.execute(
        """UPDATE alert_deliveries SET next_attempt_at = $2, attempts = attempts - 1
           WHERE id = ANY($1::bigint[])""", ids, until)
    await finish(conn, attempt_ids, now, "held", None,
                 f"rate limit; due {until.isoformat()}")


async def finish(conn: asyncpg.Connection, attempt_ids: list[int], now: datetime,
                 outcome: str, group_key: str | None, detail: str) -> None:
    await conn.execute(
        """UPDATE alert_delivery_attempts SET outcome = $2, group_key = $3, detail = $4,
               finished_at = $5 WHERE id = ANY($1::bigint[])""",
        attempt_ids, outcome, group_key, detail, now)
