"""MQTT source against a real Mosquitto: flow, malformed payloads (check 7), broker restart
(check 5)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from gateway.mqtt_source import MqttSource
from gateway.testing import RecordingUplink
from heatlink.clock import SystemClock
from heatlink.wire import format_ts
from tests.gateway.plants import GLOMFJORD, MqttPublisher
from tests.gateway.support import config_for, eventually, mqtt_source, running
from tests.support.servers import Mosquitto

T0 = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)


async def test_malformed_payloads_are_counted_and_skipped_while_good_ones_flow(
        mqtt_url: str, tmp_path: Path) -> None:
    uplink = RecordingUplink()
    config = config_for(tmp_path, [mqtt_source(mqtt_url)])
    async with running(config, uplink) as gateway:
        source = gateway.sources[0]
        await eventually(lambda: source.up, what="subscribed")
        publisher = MqttPublisher(mqtt_url)
        series = GLOMFJORD[0][0]
        bad = [b"{not json", b'{"value": "hot", "ts": "2026-01-15T06:00:00Z"}',
               b'{"value": 1, "ts": "later"}', b"{not json either"]
        for i in range(50):
            publisher.publish(series, T0 + timedelta(seconds=i), 30.0 + i / 100)
            if i % 10 == 5:
                publisher.publish(series, T0, 0, payload=bad[(i // 10) % len(bad)])
        publisher.client.publish("heatlink-sim", b"1", qos=1)  # matches no rule's series
        await eventually(lambda: len(uplink.stored) == 50, what="50 good readings delivered")
        await eventually(lambda: sum(source.stats.bad_payloads.values()) == 6)
        assert source.stats.bad_payloads == {"not_json": 3, "value_not_a_number": 1,
                                             "bad_timestamp": 1, "unmapped_topic": 1}
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(
                f"http://127.0.0.1:{gateway.status.port}/metrics")).text
            health = await client.get(f"http://127.0.0.1:{gateway.status.port}/healthz")
        assert 'heatlink_gateway_bad_payloads_total{kind="mqtt",reason="not_json",' \
               'source="mqtt"} 3.0' in metrics
        assert "heatlink_gateway_readings_out_total 50.0" in metrics
        assert health.json()["sources"]["mqtt"]["up"] is True
        publisher.close()


async def test_a_message_is_acknowledged_only_once_it_is_in_the_buffer(
        mqtt_url: str, tmp_path: Path) -> None:
    """Read without acknowledging; a new connection with the same session gets it again."""
    config = config_for(tmp_path, [mqtt_source(mqtt_url)])
    publisher = MqttPublisher(mqtt_url)
    first = MqttSource(config.sources[0], SystemClock())  # type: ignore[arg-type]
    stream = first.stream()
    await eventually(lambda: True)
    task = asyncio.ensure_future(anext(stream))
    await eventually(lambda: first.up, what="subscribed")
    publisher.publish("glomfjord/smoltfarm/tank1/temp", T0, 12.0)
    arrival = await asyncio.wait_for(task, 10)
    assert [r.value for r in arrival.readings] == [12.0]
    await stream.aclose()  # disconnect without calling arrival.ack()
    second = MqttSource(config.sources[0], SystemClock())  # type: ignore[arg-type]
    stream = second.stream()
    again = await asyncio.wait_for(anext(stream), 10)
    assert [(r.value, format_ts(r.ts)) for r in again.readings] == [(12.0, format_ts(T0))]
    again.ack()
    await stream.aclose()
    publisher.close()


async def test_broker_restart_loses_nothing_acknowledged(mosquitto: Mosquitto,
                                                         tmp_path: Path) -> None:
    uplink = RecordingUplink()
    config = config_for(tmp_path, [mqtt_source(mosquitto.url)])
    async with running(config, uplink) as gateway:
        source = gateway.sources[0]
        await eventually(lambda: source.up, what="subscribed")
        publisher = MqttPublisher(mosquitto.url)
        sent = 0

        async def publish(n: int) -> None:
            nonlocal sent
            for _ in range(n):
                series = GLOMFJORD[sent % len(GLOMFJORD)][0]
                publisher.publish(series, T0 + timedelta(milliseconds=sent), 20.0)
                sent += 1
                if sent % 50 == 0:
                    await asyncio.sleep(0)

        await publish(2000)
        # Restart while messages are still in flight to the gateway.
        await asyncio.to_thread(mosquitto.restart)
        await eventually(lambda: not source.up or source.stats.reconnects_total > 0,
                         what="disconnect noticed")
        await eventually(lambda: source.up, timeout_s=15, what="resubscribed")
        await eventually(lambda: publisher.client.is_connected(), timeout_s=15)
        await publish(500)
        after = format_ts(T0 + timedelta(milliseconds=2000))
        await eventually(lambda: sum(ts >= after for _, ts in publisher.acked) == 500,
                         timeout_s=20, what="the broker took the 500 sent after its restart")
        await eventually(lambda: publisher.acked <= {
            (s, format_ts(ts)) for s, ts in uplink.stored},  # type: ignore[arg-type]
            timeout_s=20, what="every acknowledged message delivered")
        stored = {(s, format_ts(ts)) for s, ts in uplink.stored}  # type: ignore[arg-type]
        assert publisher.acked <= stored
        # Some of the first 2000 were still with the publisher when the broker went down
        # (its own loss, not the gateway's); everything after the restart got through.
        assert len(publisher.acked) >= 1000
        publisher.close()
