"""Plain counters kept by each part; `metrics.py` turns them into Prometheus metrics.

Parts count into these objects instead of Prometheus directly, so they stay free of a
metrics library and tests can read the numbers.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger("gateway")


@dataclass
class SourceStats:
    name: str
    kind: str
    up: bool = False
    readings_total: int = 0
    reconnects_total: int = 0
    watchdog_rebuilds_total: int = 0
    bad_payloads: Counter[str] = field(default_factory=Counter)
    # What else a source did, by name: rebirth requests, deaths seen, history reads.
    events: Counter[str] = field(default_factory=Counter)
    last_error: str | None = None
    _logged_kinds: set[str] = field(default_factory=set, repr=False)

    def bad_payload(self, kind: str, sample: object) -> None:
        """Count an unreadable payload; log the first of each kind with a sample."""
        self.bad_payloads[kind] += 1
        if kind not in self._logged_kinds:
            self._logged_kinds.add(kind)
            log.warning("source %s: skipping a payload it cannot read (%s), e.g. %.200r; "
                        "further ones of this kind are only counted", self.name, kind, sample)

    def went_up(self, detail: str) -> None:
        if not self.up:
            log.info("source %s: up (%s)", self.name, detail)
        self.up = True
        self.last_error = None

    def went_down(self, error: str) -> None:
        """Log once per outage, then count only."""
        if self.up or self.last_error is None:
            log.warning("source %s: down: %s", self.name, error)
        self.up = False
        self.last_error = error


@dataclass
class ForwarderStats:
    readings_out_total: int = 0
    batches_total: Counter[str] = field(default_factory=Counter)  # by outcome
    rejected_total: Counter[str] = field(default_factory=Counter)  # by reason
    duplicates_total: int = 0
    conflicts_total: int = 0
    # what ended each wait after a failed send: "backoff" ran out, or "readiness" said go
    resumes_total: Counter[str] = field(default_factory=Counter)
    uplink_up: bool = True
    last_error: str | None = None


@dataclass
class UplinkStats:
    """Kept by `FailoverUplink`: which replica takes batches, and how often one failed."""

    current: str = ""
    # by the replica (URL) that could not take a batch and was passed over
    failovers_total: Counter[str] = field(default_factory=Counter)
