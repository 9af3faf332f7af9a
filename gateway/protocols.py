"""The three roles of the gateway and the values they report.

A reading travels once, forward::

    Source.stream() ─Arrival─▶ Buffer.add ─▶ Arrival.ack()
    Buffer.begin ─▶ Uplink.send ─▶ Buffer.end

Policy (when to retry, what to dead-letter, what to count) lives once, in `runner.py` and
`forwarder.py`; the implementations of these protocols only do their one I/O job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.stats import SourceStats
from heatlink.wire import IngestResult, Reading


@dataclass(frozen=True, slots=True)
class Arrival:
    """Readings that came in together, and how to tell their source they are safe.

    `ack` is called by the runner only after `Buffer.add` returned, so a source that can hold
    a message until it is acknowledged (MQTT QoS 1) never loses one the gateway did not keep.
    Sources that cannot (OPC UA subscriptions) leave it as a no-op.
    """

    readings: Sequence[Reading]
    ack: Callable[[], None] = field(default=lambda: None)


class Source(Protocol):
    """One connection to the plant (an OPC UA server, an MQTT broker).

    Called by: the runner, one task per source.
    `stream()` runs until cancelled; it connects, reconnects with backoff by itself and never
    raises for a network or server fault (it logs the transition and reports `up`). After a
    reconnect it may deliver a reading again: the service's idempotency by (series, source
    timestamp) makes that harmless, so the runner never deduplicates.
    """

    name: str
    kind: str
    stats: SourceStats

    @property
    def up(self) -> bool:
        """True while connected and subscribed."""
        ...

    def stream(self) -> AsyncIterator[Arrival]: ...


class Transaction(Protocol):
    """Readings handed out by `Buffer.begin`, oldest first within each series."""

    @property
    def readings(self) -> Sequence[Reading]: ...

    @property
    def batch_id(self) -> str:
        """Stable for the same rows, even across a restart of the gateway: a resend after a
        crash is recognised by the service as a replay."""
        ...


class Buffer(Protocol):
    """Durable store between sources and uplink (Telegraf's buffer transactions).

    Called by: the runner (`add`) and the forwarder (`begin`, `end`); at most one transaction
    is open at a time. `add` returns only once the readings survive a crash of the process.
    Nothing is removed before `end(tx, delivered=True)`; `end(tx, delivered=False)` hands the
    same rows out again, in the same order. When the quota is exceeded the oldest readings
    that are not in flight (handed out by `begin` and not yet ended) are dropped; exactly
    those are counted in `dropped_total`, and each episode of drops is logged when it begins
    and when it ends, with the count and the span of source times dropped.
    """

    async def add(self, readings: Sequence[Reading]) -> None: ...

    async def begin(self, max_readings: int) -> Transaction | None:
        """Up to `max_readings` readings, or None when the buffer has nothing to hand out."""
        ...

    async def end(self, tx: Transaction, *, delivered: bool) -> None: ...

    async def depth(self) -> int: ...

    async def oldest_age_s(self) -> float | None:
        """Seconds since the oldest buffered reading was added, by the buffer's clock."""
        ...

    @property
    def dropped_total(self) -> int: ...

    async def close(self) -> None: ...


# ---- what an uplink reports; the forwarder decides what to do with each --------------------


@dataclass(frozen=True, slots=True)
class Delivered:
    """The service answered 200: the batch is done. Rejected readings are bad data."""

    result: IngestResult


@dataclass(frozen=True, slots=True)
class Unreadable:
    """400: the service cannot read the body at all. Retrying cannot help."""

    detail: str


@dataclass(frozen=True, slots=True)
class TooLarge:
    """413: split the batch and send the halves."""


@dataclass(frozen=True, slots=True)
class NotAuthorised:
    """401/403: the token is wrong or revoked. Keep the data, retry slowly."""

    status: int
    detail: str


@dataclass(frozen=True, slots=True)
class RetryLater:
    """429, 5xx or a connection error: retry with backoff. `after_s` from Retry-After.

    `outage`: the service, or the storage behind it, is down (502, 503, 504, no connection):
    its readiness tells when it is back, so waiting may end early on `Uplink.ready`.
    Not for 429 (the service is up and wants less) or a 500 (a fault that readiness does
    not see): those wait their full delay.
    """

    reason: str
    after_s: float | None = None
    outage: bool = False


SendOutcome = Delivered | Unreadable | TooLarge | NotAuthorised | RetryLater


class Uplink(Protocol):
    """Sends one batch to the service. Called by the forwarder only.

    `send` never retries nor sleeps; it reports what happened as a value. Sending the same
    batch id again is always safe (the service replays its stored answer).
    """

    async def send(self, batch_id: str, readings: Sequence[Reading]) -> SendOutcome: ...

    async def ready(self) -> bool:
        """One look at the service's readiness (`GET /readyz`): True only when it says it is
        ready to store. Never raises, never retries; called by the forwarder while it waits
        out an outage."""
        ...

    async def close(self) -> None: ...
