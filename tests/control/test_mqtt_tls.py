"""The control channel's MQTT session (both ends use `heatlink.mqtt_session`) over TLS with
credentials, against Mosquitto with a TLS listener and a CA made for the test."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from heatlink.mqtt_session import PersistentSession, SessionOptions
from tests.support.tls import tls_mosquitto

log = logging.getLogger("test")


async def until_received(receiver: PersistentSession, send: Callable[[], object]
                         ) -> tuple[int, bytes]:
    """Send until the receiver has something: `connected` is set before the broker has
    confirmed the receiver's subscription, so the first message may find nobody."""
    async with asyncio.timeout(10):
        while True:
            send()
            try:
                return await asyncio.wait_for(receiver.inbox.get(), 0.5)
            except TimeoutError:
                continue


async def test_commands_and_results_cross_a_tls_broker_with_credentials() -> None:
    with tls_mosquitto({"service": "s3rvice", "gateway": "g4teway"}) as broker:
        def session(name: str, user: str, password: str, reads: str) -> PersistentSession:
            return PersistentSession(SessionOptions(
                url=broker.url(), client_id=f"tls-{name}", subscribe=reads,
                session_expiry_s=60, name=name, username=user, password=password,
                ca_file=broker.ca_file), log)

        bus = session("bus", "service", "s3rvice", "heatlink/control/gw1/results")
        gateway = session("gateway", "gateway", "g4teway", "heatlink/control/gw1/commands")
        bus.start()
        gateway.start()
        try:
            await asyncio.wait_for(bus.connected.wait(), 10)
            await asyncio.wait_for(gateway.connected.wait(), 10)
            mid, payload = await until_received(
                gateway, lambda: bus.publish("heatlink/control/gw1/commands", b'{"step": 1}'))
            assert payload == b'{"step": 1}'
            gateway.ack(mid)
            _, answer = await until_received(bus, lambda: gateway.publish(
                "heatlink/control/gw1/results", b'{"step": 1, "ok": true}'))
            assert answer == b'{"step": 1, "ok": true}'
        finally:
            await bus.stop()
            await gateway.stop()
