"""Load generation from one process, in short runs. What rate it reaches is a benchmark
figure (`heatlink simulate --load-opcua N` and `--load-mqtt RATE` print it), not asserted."""

from __future__ import annotations

from asyncua import Client

from services.storage.local_postgres import free_port
from simulators.load import OpcUaLoad, mqtt_load


async def test_every_round_changes_all_five_thousand_opcua_variables() -> None:
    async with OpcUaLoad(5000, port=free_port()) as load, Client(load.endpoint) as client:
        first, last = (client.get_node(load.node_ids[i]) for i in (0, 4999))
        report = await load.run(duration_s=1.5)
        after_first = [await first.read_value(), await last.read_value()]
        await load.run(duration_s=0.5)
        after_second = [await first.read_value(), await last.read_value()]
    assert report.rounds >= 1
    assert report.sent == 5000 * report.rounds
    assert after_first != after_second


async def test_the_mqtt_load_is_acknowledged_by_the_broker(mqtt_url: str) -> None:
    report = await mqtt_load(mqtt_url, 20_000, duration_s=1.0, qos=1)
    assert report.sent > 0
    assert report.acked == report.sent
    assert report.summary().startswith("mqtt: target 20,000/s")
