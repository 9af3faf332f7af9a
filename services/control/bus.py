"""`CommandBus`: the service's MQTT session for commands out and results in.

Results arrive on a persistent session at QoS 1 and are acknowledged only after the
runtime stored them, so a result sent while the service was down arrives when it is
back. The session itself is `heatlink.mqtt_session.PersistentSession`, shared with the
gateway's end.
"""

from __future__ import annotations

import logging
from pathlib import Path

from heatlink.commands import command_topic, result_filter
from heatlink.mqtt_session import PersistentSession, SessionOptions

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 86_400


class CommandBus(PersistentSession):
    def __init__(self, url: str, client_id: str, topic_prefix: str, *,
                 username: str | None = None, password: str | None = None,
                 ca_file: Path | None = None) -> None:
        self.topic_prefix = topic_prefix
        super().__init__(SessionOptions(
            url=url, client_id=client_id, subscribe=result_filter(topic_prefix),
            session_expiry_s=SESSION_EXPIRY_S, name="control bus", username=username,
            password=password, ca_file=ca_file), log)

    def send(self, gateway: str, signed_command: bytes) -> None:
        """Queue a signed command at QoS 1; paho sends it once connected. Its expiry bounds
        how late the gateway may apply it, so no answer is awaited here."""
        self.publish(command_topic(gateway, self.topic_prefix), signed_command)
