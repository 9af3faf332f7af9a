"""Webhook signatures as the Standard Webhooks specification defines them.

The sender adds three headers: ``webhook-id`` (the message's id, the same on every retry),
``webhook-timestamp`` (seconds since the epoch when this attempt was sent) and
``webhook-signature`` (``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body``). The
timestamp is signed, so a receiver that refuses old deliveries cannot be fed a captured
one again later; the id lets it drop a delivery it already handled.

A receiver calls ``verify`` (this module needs only the standard library: copy it, or
install heatlink). The secret is the value of the subscription's ``secret_env``: a
``whsec_`` secret is base64 after the prefix, as the specification's; anything else is
used as its UTF-8 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

TOLERANCE_S = 300.0  # five minutes either way, as the specification recommends
_PREFIX = "whsec_"


class WebhookRefused(ValueError):
    """A delivery that must not be trusted; the message says why."""


def secret_key(secret: str | bytes) -> bytes:
    """The HMAC key of a configured secret."""
    if isinstance(secret, bytes):
        return secret
    if secret.startswith(_PREFIX):
        return base64.b64decode(secret[len(_PREFIX):] + "==")
    return secret.encode()


def signature(key: bytes, msg_id: str, timestamp_s: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``id.timestamp.body``."""
    signed = f"{msg_id}.{timestamp_s}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(key: bytes, msg_id: str, timestamp_s: int, body: bytes) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp_s),
            "webhook-signature": signature(key, msg_id, timestamp_s, body)}


def verify(secret: str | bytes, headers: Mapping[str, str], body: bytes, now_s: float,
           tolerance_s: float = TOLERANCE_S) -> str:
    """The delivery's ``webhook-id`` when it is genuine and fresh; otherwise raises
    `WebhookRefused`. ``body`` is the raw request body, before any JSON parsing;
    ``now_s`` the receiver's clock (``time.time()``)."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id")
    stamp = lower.get("webhook-timestamp")
    given = lower.get("webhook-signature")
    if not (msg_id and stamp and given):
        raise WebhookRefused("webhook-id, webhook-timestamp and webhook-signature are required")
    try:
        timestamp_s = int(stamp)
    except ValueError:
        raise WebhookRefused(f"webhook-timestamp {stamp!r} is not whole seconds") from None
    if timestamp_s < now_s - tolerance_s:
        raise WebhookRefused(f"sent {now_s - timestamp_s:.0f} s ago: too old to trust")
    if timestamp_s > now_s + tolerance_s:
        raise WebhookRefused(f"sent {timestamp_s - now_s:.0f} s in the future: check clocks")
    expected = signature(secret_key(secret), msg_id, timestamp_s, body).encode()
    # Several signatures may be sent (a key rotation); one match is enough.
    if not any(hmac.compare_digest(expected, s.encode()) for s in given.split()):
        raise WebhookRefused("no signature matches: wrong secret, or the body was changed")
    return msg_id
