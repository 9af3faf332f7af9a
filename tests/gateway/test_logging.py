"""What an edge box's journal shows of an outage: one line when the source goes down, one
when it is back; no per-request lines from httpx, no asyncua tracebacks."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from gateway.logs import LIBRARIES, configure_logging
from gateway.uplink_http import HttpUplink
from services.storage.local_postgres import free_port
from tests.gateway.plants import GLOMFJORD, OpcUaPlant
from tests.gateway.support import config_for, eventually, opcua_source, running


@pytest.fixture
def gateway_logging() -> Iterator[None]:
    levels = {name: logging.getLogger(name).level for name in LIBRARIES}
    configure_logging("INFO")
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def accept_all(request: httpx.Request) -> httpx.Response:
    batch = json.loads(request.content)
    count = (sum(len(run["ts"]) for run in batch["runs"]) if "runs" in batch
             else len(batch["readings"]))
    return httpx.Response(200, json={"batch_id": batch["batch_id"], "accepted": count})


@pytest.mark.usefixtures("gateway_logging")
async def test_an_outage_is_one_line_down_and_one_line_up(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    plant = OpcUaPlant(free_port())
    await plant.start()
    series = [s for s, _ in GLOMFJORD]
    config = config_for(tmp_path, [opcua_source(plant.endpoint, series, plant.ns)], gzip=False)
    uplink = HttpUplink("http://service.invalid", "glomfjord-gw1", "t", compress=False,
                        transport=httpx.MockTransport(accept_all))
    caplog.set_level(logging.INFO)
    try:
        async with running(config, uplink) as gateway:
            source, forwarder = gateway.sources[0], gateway.forwarder
            await eventually(lambda: source.up)
            for i in range(20):  # twenty batches through httpx
                await plant.write(series[0], 30.0 + i, datetime.now(UTC))
                await eventually(lambda i=i: forwarder.stats.readings_out_total > i)
            await plant.stop()
            await eventually(lambda: not source.up)
            await eventually(lambda: source.stats.reconnects_total >= 3, timeout_s=20)
            await plant.start()
            await eventually(lambda: source.up, timeout_s=20)
    finally:
        await plant.stop()
    lines = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    down = [m for n, _, m in lines if m.startswith("source opcua: down")]
    up = [m for n, _, m in lines if m.startswith("source opcua: up")]
    assert len(down) == 1, down
    assert len(up) == 2, up  # the first connection and the recovery
    assert [line for line in lines if line[0].split(".")[0] in LIBRARIES] == []
