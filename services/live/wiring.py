"""The live hub's part of a running app: built in the app's start, observing ingest."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from heatlink.clock import Clock
from services.ingest.service import IngestService
from services.live.fanout import LiveFanout
from services.live.hub import LiveHub
from services.live.observer import HubObserver
from services.live.stream import KEEPALIVE_S
from services.live.tickets import TicketBook


@dataclass
class Live:
    hub: LiveHub
    tickets: TicketBook
    fanout: LiveFanout  # the other replicas' readings and alerts into the hub, ours to them
    # How often an open stream sends a keep-alive and checks its token again (a test
    # that waits for a revocation makes it shorter).
    keepalive_s: float = KEEPALIVE_S


def start_live(ingest: IngestService, clock: Clock, pool: asyncpg.Pool,
               database_url: str, ticket_ttl_s: float) -> Live:
    """The hub, the ticket book (in the database) and the fan-out to other replicas, the
    hub and the fan-out told of every stored reading. Await ``fanout.start``; at shutdown
    ``fanout.stop`` and ``LiveHub.close`` so streams end."""
    hub = LiveHub()
    ingest.observers.append(HubObserver(hub))
    fanout = LiveFanout(hub, pool, database_url)
    hub.forward = fanout.forward
    hub.forward_values = fanout.values_published
    return Live(hub, TicketBook(pool, clock, ticket_ttl_s), fanout)
