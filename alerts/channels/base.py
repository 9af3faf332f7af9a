"""The contract every delivery channel keeps."""

from __future__ import annotations

from typing import Protocol

from alerts.model import Message, Outcome


class Channel(Protocol):
    """Sends one message to one address.

    Called by the delivery worker, one message at a time per address. Returns `Delivered`
    when the receiver has taken the message, `Retry(reason, after_s)` on a temporary failure
    (the worker schedules the next attempt; ``after_s`` None means its own backoff), `Fail`
    when retrying cannot help. Never loops, sleeps or retries by itself, and never raises for
    a failure of the receiver. A retry is safe: the message carries the same idempotency key
    (``Message.key``) every time, for the receiver to drop repeats.
    """

    name: str

    async def send(self, message: Message) -> Outcome: ...

    async def close(self) -> None: ...
