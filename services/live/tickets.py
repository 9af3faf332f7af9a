"""Short-lived, single-use stream tickets, so a browser's EventSource (which cannot send
headers) can connect without putting the long-lived bearer token in a URL.

A ticket names the bearer token (or session) and the organisation it was issued for, lives
``ttl_s`` seconds and opens one stream: a URL that leaks (a proxy's log, a browser's
history) is worth nothing once used. The dashboard asks for a new ticket for every
reconnect. Each organisation has its own bound on open tickets, so one company asking for
many cannot push out another's. The stream re-checks the token itself, so revoking the
token also ends streams opened by ticket.

Tickets live in the database (``stream_tickets``), so a ticket issued by one replica opens
the stream on any other; redeeming is one ``DELETE … RETURNING``, so of two replicas given
the same ticket at once exactly one opens a stream. The row holds the credential sealed
(AES-GCM) under a key derived from the ticket, which only the caller has: the database
never holds a usable bearer token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from heatlink.clock import Clock
from services.live.queries import q

TICKET_PREFIX = "st_"
_NONCE = 12


@dataclass(frozen=True)
class Ticket:
    token: str
    org: str
    expires_at: datetime


def _digest(ticket: str) -> bytes:
    return hashlib.sha256(b"stream-ticket:id:" + ticket.encode()).digest()


def _key(ticket: str) -> bytes:
    # A different hash of the same 192 random bits than the row's id: knowing the id (from
    # the table) gives nothing towards the key.
    return hashlib.sha256(b"stream-ticket:key:" + ticket.encode()).digest()


class TicketBook:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, ttl_s: float,
                 max_per_org: int = 1000) -> None:
        self._pool = pool
        self._clock = clock
        self.ttl_s = ttl_s
        self._max_per_org = max_per_org

    async def issue(self, token: str, org: str) -> tuple[str, datetime]:
        now = self._clock.now()
        ticket = TICKET_PREFIX + secrets.token_urlsafe(24)
        expires_at = now + timedelta(seconds=self.ttl_s)
        nonce = secrets.token_bytes(_NONCE)
        sealed = nonce + AESGCM(_key(ticket)).encrypt(nonce, token.encode(), org.encode())
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(q("issue_ticket"), _digest(ticket), org, sealed, now, expires_at)
            # Bounded per organisation: its expired ones, then its oldest beyond the bound.
            await conn.execute(q("bound_tickets"), org, now, self._max_per_org)
        return ticket, expires_at

    async def redeem(self, ticket: str) -> Ticket | None:
        """The ticket's token and organisation, once; None when unknown, used or expired."""
        if not ticket.startswith(TICKET_PREFIX):
            return None
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(q("redeem_ticket"), _digest(ticket))
        if row is None or row["expires_at"] <= self._clock.now():
            return None
        sealed: bytes = row["sealed"]
        try:
            token = AESGCM(_key(ticket)).decrypt(sealed[:_NONCE], sealed[_NONCE:],
                                                  row["org"].encode())
        except InvalidTag:  # a row altered in the database opens nothing
            return None
        return Ticket(token.decode(), row["org"], row["expires_at"])

    async def count(self, org: str) -> int:
        async with self._pool.acquire() as conn:
            n: int = await conn.fetchval(q("count_tickets"), org)
        return n
