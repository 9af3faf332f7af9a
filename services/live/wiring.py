"""Wiring of the live hub into a running app (called from the app's lifespan)."""

from __future__ import annotations

from fastapi import FastAPI

from heatlink.clock import Clock
from services.live.fanout import LiveFanout
from services.live.hub import LiveHub
from services.live.observer import HubObserver
from services.live.tickets import TicketBook


def start_live(app: FastAPI, clock: Clock,
               database_url: str) -> tuple[LiveHub, LiveFanout]:
    """Create the hub, the ticket book and the fan-out to other replicas on ``app.state``
    and observe ingest.

    Needs ``app.state.ingest`` and ``app.state.pool``; await ``LiveFanout.start``, and at
    shutdown ``LiveFanout.stop`` and ``LiveHub.close`` so streams end.
    """
    hub = LiveHub()
    app.state.live_hub = hub
    app.state.stream_tickets = TicketBook(app.state.pool, clock)
    app.state.ingest.observers.append(HubObserver(hub))
    fanout = LiveFanout(hub, app.state.pool, database_url)
    hub.forward = fanout.forward
    app.state.ingest.observers.append(fanout)
    app.state.live_fanout = fanout
    return hub, fanout
