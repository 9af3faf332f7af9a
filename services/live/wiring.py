"""Wiring of the live hub into a running app (called from the app's lifespan)."""

from __future__ import annotations

from fastapi import FastAPI

from heatlink.clock import Clock
from services.live.hub import LiveHub
from services.live.observer import HubObserver
from services.live.tickets import TicketBook


def start_live(app: FastAPI, clock: Clock) -> LiveHub:
    """Create the hub and ticket book on ``app.state`` and observe ingest.

    Needs ``app.state.ingest`` and ``app.state.pool``; call ``LiveHub.close`` at shutdown
    so streams end.
    """
    hub = LiveHub()
    app.state.live_hub = hub
    app.state.stream_tickets = TicketBook(app.state.pool, clock)
    app.state.ingest.observers.append(HubObserver(hub))
    return hub
