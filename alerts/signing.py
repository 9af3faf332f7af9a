"""HMAC signatures of the one-click links in e-mails (webhooks: ``heatlink.webhooks``).

A link carries the alert, the action, the organisation it was sent to and an expiry time;
its signature covers all four, so it cannot be reused for another alert or after it expires.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

ACTIONS = frozenset({"ack", "shelve"})


@dataclass(frozen=True)
class LinkSigner:
    secret: bytes
    base_url: str
    ttl_s: float

    def _sig(self, alert_id: int, action: str, org: str, expires: int) -> str:
        message = f"{alert_id}|{action}|{org}|{expires}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def link(self, alert_id: int, action: str, org: str, now: datetime) -> str:
        expires = int(now.timestamp() + self.ttl_s)
        query = urlencode({"action": action, "org": org, "expires": expires,
                           "sig": self._sig(alert_id, action, org, expires)})
        return f"{self.base_url.rstrip('/')}/v1/alerts/{alert_id}/link?{query}"

    def check(self, alert_id: int, action: str, org: str, expires: int, sig: str,
              now: datetime) -> str | None:
        """None when the link is good; otherwise why it is refused."""
        if action not in ACTIONS:
            return "unknown action"
        expected = self._sig(alert_id, action, org, expires).encode()
        if not hmac.compare_digest(expected, sig.encode("utf-8", "replace")):
            return "bad signature"
        if now.timestamp() > expires:
            return "link expired"
        return None
