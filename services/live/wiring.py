"""The live hub's part of a running app: built in the app's start, observing ingest."""

from __future__ import annotations

from dataclasses import dataclass

from heatlink.clock import Clock
from services.ingest.service import IngestService
from services.live.hub import LiveHub
from services.live.observer import HubObserver
from services.live.stream import KEEPALIVE_S
from services.live.tickets import TicketBook


@dataclass
class Live:
    hub: LiveHub
    tickets: TicketBook
    # How often an open stream sends a keep-alive and checks its token again (a test
    # that waits for a revocation makes it shorter).
    keepalive_s: float = KEEPALIVE_S


def start_live(ingest: IngestService, clock: Clock) -> Live:
    """The hub and ticket book, the hub told of every stored reading. Call
    ``LiveHub.close`` at shutdown so streams end."""
    hub = LiveHub()
    ingest.observers.append(HubObserver(hub))
    return Live(hub, TicketBook(clock))
