"""Puts stored readings into the live hub: the ingest service's observer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.live.hub import LiveHub

VALUE = "value"


class HubObserver:
    """A ``ReadingsObserver``: appends each stored reading to the hub.

    Called synchronously in the event loop right after a batch commits; it only appends
    to memory (the fields, not yet encoded), so it cannot hold up the ingest request.
    """

    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub

    def readings_stored(self, series_keys: Sequence[str], ts: Sequence[datetime],
                        values: Sequence[float], quality: Sequence[str]) -> None:
        self.hub.publish_values(VALUE, series_keys, ts, values, quality)
