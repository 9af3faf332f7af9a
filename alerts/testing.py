"""Fakes of the alert module's interfaces, for tests only: no product path uses them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from alerts.model import Delivered, Message, Outcome


class RecordingChannel:
    """A channel that keeps every message and answers with the outcomes it is given
    (delivered once they run out)."""

    def __init__(self, name: str = "webhook", outcomes: Sequence[Outcome] = ()) -> None:
        self.name = name
        self.outcomes = list(outcomes)
        self.sent: list[Message] = []
        self.arrived = asyncio.Event()

    async def send(self, message: Message) -> Outcome:
        self.sent.append(message)
        self.arrived.set()
        return self.outcomes.pop(0) if self.outcomes else Delivered("recorded")

    async def close(self) -> None:
        return None


class InMemoryAlertStream:
    """The dashboard's stream when no live hub is wired: keeps recent events per
    organisation and hands them to subscribers' queues."""

    def __init__(self, keep: int = 200) -> None:
        self.keep = keep
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.subscribers: dict[str, list[asyncio.Queue[dict[str, Any]]]] = {}

    def publish_alert(self, org: str, event: dict[str, Any]) -> None:
        kept = self.events.setdefault(org, [])
        kept.append(event)
        del kept[:-self.keep]
        for queue in self.subscribers.get(org, []):
            queue.put_nowait(event)

    def subscribe(self, org: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.subscribers.setdefault(org, []).append(queue)
        return queue
