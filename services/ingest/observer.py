"""The one way stored readings reach the rest of the service: ingest tells each observer
after each commit (the monitor, the live hub, accounting), whether the readings came from
a gateway (`service.py`) or were computed by another domain (`derived.py`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

log = logging.getLogger(__name__)


class ReadingsObserver(Protocol):
    """Told about readings right after ingest committed them.

    Called on the event loop by the ingest path with the readings *newly* stored (a resent
    duplicate is not repeated). Must not block and must not raise: the monitor only queues
    the lists for its own background task. Quality is "good", "uncertain", "bad" or
    "unknown".
    """

    def readings_stored(self, series_keys: Sequence[str], ts: Sequence[datetime],
                        values: Sequence[float], quality: Sequence[str]) -> None: ...


def tell_observers(observers: Sequence[ReadingsObserver], series_keys: Sequence[str],
                   ts: Sequence[datetime], values: Sequence[float], quality: Sequence[str],
                   *, skip: ReadingsObserver | None = None) -> None:
    """Tell each observer but ``skip`` (the domain that computed the readings: it has them
    already). An observer's bug is logged; it must not fail a write already committed."""
    for observer in observers:
        if observer is skip:
            continue
        try:
            observer.readings_stored(series_keys, ts, values, quality)
        except Exception:
            log.exception("readings observer %r failed", observer)
