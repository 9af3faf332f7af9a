"""Load generation reaches its targets from one process (short runs; figures in the report)."""

from __future__ import annotations

from asyncua import Client

from services.storage.local_postgres import free_port
from simulators.load import OpcUaLoad, mqtt_load


async def test_five_thousand_opcua_variables_change_every_second() -> None:
    async with OpcUaLoad(5000, port=free_port()) as load, Client(load.endpoint) as client:
        first, last = (client.get_node(load.node_ids[i]) for i in (0, 4999))
        report = await load.run(duration_s=1.5)
        after_first = [await first.read_value(), await last.read_value()]
        await load.run(duration_s=0.5)
        after_second = [await first.read_value(), await last.read_value()]
    assert report.rounds == 2
    assert report.sent == 10_000
    assert report.max_round_s < 1.0  # every round fits in its one-second interval
    assert after_first != after_second


async def test_mqtt_publisher_reaches_twenty_thousand_messages_per_second(mqtt_url: str) -> None:
    report = await mqtt_load(mqtt_url, 20_000, duration_s=1.0, qos=1)
    assert report.acked == report.sent
    assert report.sent >= 19_000
    assert report.summary().startswith("mqtt: target 20,000/s")
