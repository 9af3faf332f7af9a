"""`CommandSubscription`: the gateway's persistent MQTT session on its command topic.

The broker keeps commands published while the gateway is away and redelivers any the
gateway received but did not finish. A command is acknowledged only after its result is
published, so a crash between the two redelivers it; the command's expiry and the
writer's idempotent absolute value make the redelivery harmless. The session itself is
`heatlink.mqtt_session.PersistentSession`, shared with the service's end.
"""

from __future__ import annotations

import logging

import paho.mqtt.client as mqtt

from gateway.config import ControlConfig
from heatlink.commands import command_topic, result_topic
from heatlink.mqtt_session import PersistentSession, SessionOptions

log = logging.getLogger("gateway.control")


class CommandSubscription(PersistentSession):
    def __init__(self, config: ControlConfig, gateway_id: str) -> None:
        self.command_topic = command_topic(gateway_id, config.topic_prefix)
        self.result_topic = result_topic(gateway_id, config.topic_prefix)
        super().__init__(SessionOptions(
            url=config.mqtt_url, client_id=config.client_id, subscribe=self.command_topic,
            session_expiry_s=config.session_expiry_s, name="control",
            username=config.username, password=config.resolved_password(),
            ca_file=config.ca_file), log)

    def publish_result(self, payload: bytes) -> mqtt.MQTTMessageInfo:
        return self.publish(self.result_topic, payload)
