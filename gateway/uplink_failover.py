"""`FailoverUplink`: several service replicas behind one `Uplink`, moving on when one fails.

Which replica carries a batch is the transport's business (as a client-side load balancer's
would be); when to wait and for how long stays with the forwarder. So `send` tries each
replica at most once per call, starting with the one that last answered, and never sleeps:

    an answer that is the same on every replica (200, 400, 401/403, 413) → returned as is;
    RetryLater (no connection, timeout, 5xx, 503 with Retry-After, 429, a stray 404)
                                                       → the next replica, at once;
    every replica RetryLater                           → one RetryLater for the forwarder.

Sending a batch to a second replica is safe even when the first may have stored it (a
timeout): the replicas share one database, where the batch id is claimed in the same
transaction that stores its readings, so the second answers the first's stored result and
stores nothing twice. The chosen replica stays chosen while it answers (sticky), so a
gateway does not spread its batches for no reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from gateway.protocols import RetryLater, SendOutcome, Uplink
from gateway.stats import UplinkStats
from heatlink.wire import Reading

log = logging.getLogger("gateway.uplink")


class FailoverUplink:
    """Implements `gateway.protocols.Uplink` over several (name, uplink) pairs."""

    def __init__(self, uplinks: Sequence[tuple[str, Uplink]],
                 stats: UplinkStats | None = None) -> None:
        if not uplinks:
            raise ValueError("FailoverUplink needs at least one uplink")
        self._uplinks = list(uplinks)
        self._current = 0
        self.stats = stats or UplinkStats()
        self.stats.current = self._uplinks[0][0]

    @property
    def current(self) -> str:
        """Name (the URL) of the replica that takes the next batch."""
        return self._uplinks[self._current][0]

    async def send(self, batch_id: str, readings: Sequence[Reading]) -> SendOutcome:
        failures: list[RetryLater] = []
        for step in range(len(self._uplinks)):
            index = (self._current + step) % len(self._uplinks)
            name, uplink = self._uplinks[index]
            outcome = await uplink.send(batch_id, readings)
            if not isinstance(outcome, RetryLater):
                self._choose(index, f"it answered batch {batch_id}")
                return outcome
            failures.append(outcome)
            if len(self._uplinks) > 1:
                # Counted, not logged: the move to another replica is logged once, and an
                # outage of all of them once by the forwarder.
                self.stats.failovers_total[name] += 1
                log.debug("uplink: %s could not take batch %s (%s)", name, batch_id,
                          outcome.reason)
        return _combined(failures)

    async def ready(self) -> bool:
        """Ready when any replica is; the first one found ready takes the next batch."""
        for step in range(len(self._uplinks)):
            index = (self._current + step) % len(self._uplinks)
            if await self._uplinks[index][1].ready():
                self._choose(index, "it reports ready")
                return True
        return False

    async def close(self) -> None:
        for _, uplink in self._uplinks:
            await uplink.close()

    def _choose(self, index: int, why: str) -> None:
        if index != self._current:
            log.warning("uplink: moving from %s to %s (%s)", self.current,
                        self._uplinks[index][0], why)
            self._current = index
            self.stats.current = self.current


def _combined(failures: Sequence[RetryLater]) -> RetryLater:
    """What the forwarder hears when no replica took the batch: the first replica's reason;
    wait no longer than the shortest Retry-After, and only when every replica gave one (one
    that merely refused a connection may be back at any moment); an outage when any replica
    reported one, so that readiness of any replica ends the wait."""
    first = failures[0]
    if len(failures) == 1:
        return first
    waits = [f.after_s for f in failures]
    after_s = None if any(w is None for w in waits) else min(w for w in waits if w is not None)
    return RetryLater(first.reason, after_s, outage=any(f.outage for f in failures))
