"""Short-lived stream tickets, so a browser's EventSource (which cannot send headers) can
connect without putting the long-lived bearer token in a URL.

A ticket names the bearer token it was issued for and lives ``ttl_s`` seconds; within
that time it may be used again, so the browser's automatic reconnect works. The stream
re-checks the token itself, so revoking the token also ends streams opened by ticket.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from heatlink.clock import Clock

TICKET_PREFIX = "st_"


class TicketBook:
    def __init__(self, clock: Clock, ttl_s: float = 120.0, max_tickets: int = 10_000) -> None:
        self._clock = clock
        self.ttl_s = ttl_s
        self._max = max_tickets
        self._tickets: dict[str, tuple[datetime, str]] = {}  # ticket -> (expires, token)

    def issue(self, token: str) -> tuple[str, datetime]:
        now = self._clock.now()
        self._forget_expired(now)
        if len(self._tickets) >= self._max:
            # Bounded memory: the oldest ticket goes first (dicts keep insertion order).
            self._tickets.pop(next(iter(self._tickets)))
        ticket = TICKET_PREFIX + secrets.token_urlsafe(24)
        expires_at = now + timedelta(seconds=self.ttl_s)
        self._tickets[ticket] = (expires_at, token)
        return ticket, expires_at

    def redeem(self, ticket: str) -> str | None:
        """The bearer token behind ``ticket``, or None when unknown or expired."""
        found = self._tickets.get(ticket)
        if found is None or found[0] <= self._clock.now():
            return None
        return found[1]

    def _forget_expired(self, now: datetime) -> None:
        for ticket in [t for t, (exp, _) in self._tickets.items() if exp <= now]:
            del self._tickets[ticket]
