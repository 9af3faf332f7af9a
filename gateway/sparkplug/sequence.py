"""An edge node's ``seq`` (0–255, wrapping) and the reorder timer of Sparkplug 3.0 (5.6).

Messages are taken as they come, not held back: readings carry their own timestamps and
the service stores them by (series, timestamp), so order does not matter for them, and an
MQTT acknowledgement is never delayed behind a missing message. What the host keeps is
which numbers are still missing and since when; a gap the reorder timeout does not fill
calls for a rebirth.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from heatlink.clock import Clock


class Sequence:
    def __init__(self, first: int) -> None:
        self.last = first % 256
        self.missing: dict[int, datetime] = {}

    def see(self, seq: int, clock: Clock) -> None:
        """Note a message's ``seq``; the clock is read only when it opens a gap (most
        messages do not, and reading it cost a tenth of a data message's time)."""
        seq %= 256
        expected = (self.last + 1) % 256
        if seq == expected:
            self.last = seq
            return
        if seq in self.missing:  # a late one, inside the reorder window
            del self.missing[seq]
            return
        ahead = (seq - expected) % 256
        if ahead < 128:  # some numbers were skipped
            now = clock.now()
            for k in range(ahead):
                self.missing.setdefault((expected + k) % 256, now)
            self.last = seq
        # else: behind us (a repeat after a reconnect): nothing to track

    def overdue(self, now: datetime, timeout: timedelta) -> bool:
        """A number has been missing for longer than the reorder timeout."""
        return any(now - since >= timeout for since in self.missing.values())

    def forget_gaps(self) -> None:
        self.missing.clear()
