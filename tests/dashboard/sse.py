"""A small server-sent events reader for tests: messages as (id, event, data)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Message:
    id: str | None
    event: str
    data: Any


async def messages(response: httpx.Response) -> AsyncIterator[Message]:
    """Messages with data, in order; comments and keep-alives are skipped."""
    event_id: str | None = None
    event, data = "message", ""
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield Message(event_id, event, json.loads(data))
            event, data = "message", ""
        elif line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()


async def values_until(stream: AsyncIterator[Message], series: str, value: float
                       ) -> tuple[list[dict[str, Any]], str | None]:
    """Every value received until ``series`` has ``value``, and the last message id."""
    seen: list[dict[str, Any]] = []
    async for msg in stream:
        if msg.event == "values":
            seen.extend(msg.data["values"])
            if any(v["series"] == series and v["value"] == value for v in msg.data["values"]):
                return seen, msg.id
    raise AssertionError("the stream ended first")
