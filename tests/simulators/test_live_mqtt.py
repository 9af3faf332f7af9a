"""The simulator's MQTT side through a real Mosquitto, and a whole scenario live."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from services.storage.local_postgres import free_port
from simulators.catalog import SERIES
from simulators.live import LiveSimulation
from simulators.truth import read_jsonl
from tests.support.servers import Mosquitto, broker_login


class Subscriber:
    """A plain paho subscriber collecting (topic, payload) and signalling its subscription."""

    def __init__(self, url: str, topic_filter: str, client_id: str = "heatlink-test-sub",
                 clean_session: bool = True) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._loop = asyncio.get_running_loop()
        self.subscribed = asyncio.Event()
        self._arrived = asyncio.Event()
        self.filter = topic_filter
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=clean_session)
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect(*broker_login(self.client, url))
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe(self.filter, qos=1)

    def _on_subscribe(self, *_: Any) -> None:
        self._loop.call_soon_threadsafe(self.subscribed.set)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, json.loads(msg.payload)))
        self._loop.call_soon_threadsafe(self._arrived.set)

    async def wait_for(self, done: Callable[[], bool], timeout_s: float = 10.0) -> None:
        """Wait until ``done()`` holds, checking after every message that arrives."""
        async with asyncio.timeout(timeout_s):
            while True:
                self._arrived.clear()
                if done():
                    return
                await self._arrived.wait()

    def count(self) -> int:
        with self._lock:
            return len(self.messages)

    def received(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def test_samples_arrive_through_mosquitto(mqtt_url: str) -> None:
    subscriber = Subscriber(mqtt_url, "heatlink-sim/#")
    try:
        await asyncio.wait_for(subscriber.subscribed.wait(), 10)
        async with LiveSimulation("normal-day", speed=3600, mqtt_url=mqtt_url,
                                  duration_s=1800) as sim:
            await asyncio.wait_for(sim.finished.wait(), 30)
            assert sim.mqtt is not None
            await sim.mqtt.flush()
            expected = {(sim.mqtt_topic_for(key), ts, value)
                        for key, samples in sim.published.items() for ts, value in samples}
            # With no OPC UA port every series goes over MQTT.
            assert len({topic for topic, _, _ in expected}) == len(SERIES)

            def arrived() -> set[tuple[str, datetime, float]]:
                return {(topic, datetime.fromisoformat(p["ts"]), p["value"])
                        for topic, p in subscriber.received()}

            # Counting first keeps the check cheap while messages stream in.
            await subscriber.wait_for(
                lambda: subscriber.count() >= len(expected) and expected <= arrived())
        first_topic, first = subscriber.received()[0]
        assert first_topic.startswith("heatlink-sim/")
        assert set(first) == {"value", "ts", "quality"}
        assert first["quality"] in ("good", "uncertain", "bad")
    finally:
        subscriber.close()


async def test_comms_loss_scenario_live_over_both_transports(mqtt_url: str,
                                                             tmp_path: Path) -> None:
    truth_path = tmp_path / "truth.jsonl"
    subscriber = Subscriber(mqtt_url, "heatlink-sim/glomfjord/smoltfarm/#")
    try:
        await asyncio.wait_for(subscriber.subscribed.wait(), 10)
        async with LiveSimulation("comms-loss", speed=6000, opcua_port=free_port(),
                                  mqtt_url=mqtt_url, ground_truth_path=truth_path,
                                  duration_s=6000) as sim:
            assert sim.transport_of("glomfjord/smoltfarm/tank1/temp") == "mqtt"
            assert sim.transport_of("glomfjord/smelter/hx1/primary/flow") == "opcua"
            await asyncio.wait_for(sim.finished.wait(), 30)
            assert sim.mqtt is not None
            await sim.mqtt.flush()
        kinds = [(e["kind"], e["sim_s"]) for e in read_jsonl(truth_path)]
        assert kinds == [("comms_lost", 3600.0), ("comms_restored", 5400.0)]
        events = read_jsonl(truth_path)
        assert all(e["wall_at"] is not None for e in events)
        lost_at = datetime.fromisoformat(events[0]["sim_at"])
        back_at = datetime.fromisoformat(events[1]["sim_at"])
        tank = sim.published["glomfjord/smoltfarm/tank1/temp"]
        assert tank
        assert not [ts for ts, _ in tank if lost_at <= ts < back_at]
        assert [ts for ts, _ in sim.published["glomfjord/smelter/hx1/primary/flow"]
                if lost_at <= ts < back_at]
        smolt_sent = sum(len(v) for k, v in sim.published.items()
                         if k.startswith("glomfjord/smoltfarm/"))
        await subscriber.wait_for(lambda: subscriber.count() >= smolt_sent)
        assert len(subscriber.received()) == smolt_sent
    finally:
        subscriber.close()


async def test_nothing_is_lost_across_a_broker_restart(mosquitto: Mosquitto) -> None:
    # A persistent session on both ends: the broker keeps what the subscriber has not had,
    # paho keeps and resends what the broker has not acknowledged.
    subscriber = Subscriber(mosquitto.url, "heatlink-sim/#", client_id="heatlink-test-restart",
                            clean_session=False)
    try:
        await asyncio.wait_for(subscriber.subscribed.wait(), 10)
        async with LiveSimulation("normal-day", speed=1800, mqtt_url=mosquitto.url,
                                  duration_s=3600) as sim:
            await sim.wait_until(1200)
            await asyncio.to_thread(mosquitto.restart)
            await asyncio.wait_for(sim.finished.wait(), 60)
            assert sim.mqtt is not None
            await sim.mqtt.flush(timeout_s=30)
        expected = {(sim.mqtt_topic_for(key), ts)
                    for key, samples in sim.published.items() for ts, _ in samples}
        assert len(expected) == len(SERIES) * (3600 // 10 + 1)

        def arrived() -> set[tuple[str, datetime]]:
            return {(topic, datetime.fromisoformat(p["ts"])) for topic, p in subscriber.received()}

        await subscriber.wait_for(
            lambda: subscriber.count() >= len(expected) and expected <= arrived(), timeout_s=30)
    finally:
        subscriber.close()


async def test_an_unreachable_broker_fails_the_start_and_frees_the_opcua_port() -> None:
    port = free_port()
    sim = LiveSimulation("normal-day", opcua_port=port, mqtt_url=f"mqtt://127.0.0.1:{free_port()}")
    with pytest.raises(ConnectionError):
        await sim.__aenter__()
    assert sim.opcua is not None
    assert not sim.opcua.running
