"""An MQTT broker's address as every heatlink client reads it: ``mqtt://host:port`` or
``mqtts://host:port`` (TLS), optionally with ``user:password@`` (percent-encoded).

Credentials given in a config's own username/password fields win over those in the URL;
the URL form exists for settings that are one URL (HEATLINK_ALERTS_MQTT_URL, test servers).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def parse_broker_url(url: str) -> BrokerAddress:
    parts = urlsplit(url)
    tls = parts.scheme == "mqtts"
    return BrokerAddress(
        host=parts.hostname or "localhost", port=parts.port or (8883 if tls else 1883),
        tls=tls, username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None)
