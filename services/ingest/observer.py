"""The one way stored readings reach the rest of the service: ingest tells each observer
after each commit (the monitor, the live hub, accounting)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol


class ReadingsObserver(Protocol):
    """Told about readings right after ingest committed them.

    Called on the event loop by the ingest path with the readings *newly* stored (a resent
    duplicate is not repeated). Must not block and must not raise: the monitor only queues
    the lists for its own background task. Quality is "good", "uncertain", "bad" or
    "unknown".
    """

    def readings_stored(self, series_keys: Sequence[str], ts: Sequence[datetime],
                        values: Sequence[float], quality: Sequence[str]) -> None: ...
