"""Dashboard channel: hands the message to the live stream of the dashboard."""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from alerts.channels.render import as_json
from alerts.model import Delivered, Message, Outcome


class AlertStream(Protocol):
    """What the dashboard's live stream implements to show alerts as they happen.

    ``publish`` is called once per message with its JSON form (see render.as_json); it must
    not block. The stream is best effort towards browsers; the alert stays in /v1/alerts.
    """

    def publish_alert(self, org: str, event: dict[str, Any]) -> None: ...


class DashboardChannel:
    name = "dashboard"

    def __init__(self, stream: AlertStream) -> None:
        self._stream = stream

    async def send(self, message: Message) -> Outcome:
        self._stream.publish_alert(message.org, as_json(message))
        return Delivered("published")

    async def close(self) -> None:
        return None


class EventHub(Protocol):
    """The service's live hub (services/live/hub.py) as this channel uses it."""

    def publish(self, kind: str, data: bytes, *, series: str | None = None,
                orgs: frozenset[str] | None = None) -> int: ...


class LiveHubStream:
    """Publishes alert events on the live hub, visible to the alert's organisation only."""

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub

    def publish_alert(self, org: str, event: dict[str, Any]) -> None:
        self._hub.publish("alert", orjson.dumps(event), orgs=frozenset({org}))
