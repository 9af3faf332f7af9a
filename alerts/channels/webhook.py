"""Webhook channel: POSTs the message as JSON, signed as Standard Webhooks defines it
(``heatlink.webhooks``): the message's key is its ``webhook-id``, the attempt's time its
``webhook-timestamp``, so a receiver can refuse a delivery replayed later."""

from __future__ import annotations

import httpx
import orjson

from alerts.channels.render import as_json
from alerts.model import Delivered, Fail, Message, Outcome, Retry
from heatlink.clock import Clock, SystemClock
from heatlink.webhooks import signed_headers


class WebhookChannel:
    name = "webhook"

    def __init__(self, timeout_s: float = 10.0, clock: Clock | None = None) -> None:
        self._client = httpx.AsyncClient(timeout=timeout_s)
        self._clock = clock or SystemClock()

    async def send(self, message: Message) -> Outcome:
        body = orjson.dumps(as_json(message))
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.key,
                   "X-Heatlink-Idempotency-Key": message.key}
        if message.secret is not None:
            sent_s = int(self._clock.now().timestamp())
            headers.update(signed_headers(message.secret, message.key, sent_s, body))
        try:
            response = await self._client.post(message.address, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Retry(f"{type(exc).__name__}: {exc}")
        status = response.status_code
        if 200 <= status < 300:
            return Delivered(f"HTTP {status}")
        if status in (408, 425, 429) or status >= 500:
            return Retry(f"HTTP {status}", _retry_after(response))
        return Fail(f"HTTP {status}: {response.text[:200]}")

    async def close(self) -> None:
        await self._client.aclose()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value else None
    except ValueError:
        return None  # an HTTP date: the worker's backoff is close enough
