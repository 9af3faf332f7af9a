"""Short-lived, single-use stream tickets, so a browser's EventSource (which cannot send
headers) can connect without putting the long-lived bearer token in a URL.

A ticket names the bearer token and the organisation it was issued for, lives ``ttl_s``
seconds and opens one stream: a URL that leaks (a proxy's log, a browser's history) is
worth nothing once used. The dashboard asks for a new ticket for every reconnect. Each
organisation has its own bound on open tickets, so one company asking for many cannot
push out another's. The stream re-checks the token itself, so revoking the token also
ends streams opened by ticket.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from heatlink.clock import Clock

TICKET_PREFIX = "st_"


@dataclass(frozen=True)
class Ticket:
    token: str
    org: str
    expires_at: datetime


class TicketBook:
    def __init__(self, clock: Clock, ttl_s: float = 120.0, max_per_org: int = 1000) -> None:
        self._clock = clock
        self.ttl_s = ttl_s
        self._max_per_org = max_per_org
        # org -> ticket -> Ticket, oldest first
        self._books: dict[str, OrderedDict[str, Ticket]] = {}
        self._org_of: dict[str, str] = {}  # ticket -> org

    def issue(self, token: str, org: str) -> tuple[str, datetime]:
        now = self._clock.now()
        book = self._books.setdefault(org, OrderedDict())
        self._forget_expired(book, now)
        while len(book) >= self._max_per_org:
            # Bounded memory per organisation: its own oldest ticket goes first.
            oldest, _ = book.popitem(last=False)
            del self._org_of[oldest]
        ticket = TICKET_PREFIX + secrets.token_urlsafe(24)
        expires_at = now + timedelta(seconds=self.ttl_s)
        book[ticket] = Ticket(token, org, expires_at)
        self._org_of[ticket] = org
        return ticket, expires_at

    def redeem(self, ticket: str) -> Ticket | None:
        """The ticket's token and organisation, once; None when unknown, used or expired."""
        org = self._org_of.pop(ticket, None)
        if org is None:
            return None
        found = self._books[org].pop(ticket)
        if found.expires_at <= self._clock.now():
            return None
        return found

    def count(self, org: str) -> int:
        return len(self._books.get(org, ()))

    def _forget_expired(self, book: OrderedDict[str, Ticket], now: datetime) -> None:
        while book:
            ticket, first = next(iter(book.items()))
            if first.expires_at > now:
                return
            book.popitem(last=False)
            del self._org_of[ticket]
