"""A gateway stops when it is told to, wherever in its connections' life it is.

The OPC UA server (the simulator, `heatlink simulate`) and Mosquitto run as processes of
their own, so that they can be frozen (SIGSTOP: the TCP connections stay up and nothing
answers). Mosquitto is also stopped for real; the OPC UA server, slower to start, is
taken away by cutting the network in front of it (every connection reset, new ones
refused). The uplink's service is a socket that accepts connections and never answers, or
a port where nothing listens. Each round puts the peers in one state of the life cycle,
runs a gateway with an OPC UA source, an MQTT source and a control channel, cancels it at a
random moment and requires it to end within `STOP_BOUND_S`: a bound on "does not hang",
not a speed figure.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from gateway.config import GatewayConfig, parse_config
from gateway.runner import Gateway
from heatlink.commands import SetpointCommand, command_topic, sign_command
from heatlink.signing import SigningKey
from services.storage.local_postgres import free_port
from tests.gateway.support import eventually
from tests.support.cancellation import at_random_point, stop_within_bound
from tests.support.faults import FrozenService, TcpLink, frozen
from tests.support.servers import Mosquitto, broker_login, wait_for_port

pytestmark = pytest.mark.slow

SMELTER = "glomfjord/smelter/hx1"  # served over OPC UA by the simulator's normal day
SETPOINT = "glomfjord/smoltfarm/tank1/temp_setpoint"
PHASES = ("connecting", "connected", "frozen", "frozen_from_start", "gone", "backoff")
ROUNDS_PER_PHASE = 3


class Simulator:
    """`heatlink simulate` in a child process on a fixed port: started, frozen, stopped."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "heatlink.cli", "simulate", "normal-day", "--speed", "60",
             "--forever", "--opcua-port", str(self.port),
             "--ground-truth", str(self.folder / "truth.jsonl")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", self.port, timeout_s=60)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    sim = Simulator(tmp_path_factory.mktemp("sim"))
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="module")
async def opcua_link(simulator: Simulator) -> AsyncIterator[TcpLink]:
    link = TcpLink(simulator.port)
    await link.restore()
    try:
        yield link
    finally:
        await link.cut()


@pytest.fixture(scope="module")
def broker() -> Iterator[Mosquitto]:
    made = Mosquitto()
    made.start()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="module")
def frozen_service() -> Iterator[FrozenService]:
    made = FrozenService()
    try:
        yield made
    finally:
        made.close()


def config(folder: Path, opcua_link: TcpLink, broker: Mosquitto, service_url: str,
           control_id: str) -> GatewayConfig:
    endpoint = f"opc.tcp://127.0.0.1:{opcua_link.port}/heatlink/sim/"
    data: dict[str, Any] = {
        "sources": [
            {"kind": "opcua", "name": "plant", "endpoint": endpoint,
             "publishing_interval_ms": 100, "watchdog_s": 1, "request_timeout_s": 4,
             "reconnect": {"initial_s": 0.1, "max_s": 1.0},
             "nodes": [{"node_id": f"ns=2;s={SMELTER}/{key}", "series": f"{SMELTER}/{key}"}
                       for key in ("primary/supply_temp", "primary/return_temp")]},
            {"kind": "mqtt", "name": "farm", "url": broker.url,
             "client_id": f"gw-{uuid.uuid4().hex[:8]}", "keepalive_s": 5,
             "reconnect": {"initial_s": 0.1, "max_s": 1.0},
             "topics": [{"filter": "heatlink-sim/#", "series": "{0}"}]},
        ],
        "buffer": {"path": str(folder / f"buffer-{uuid.uuid4().hex[:6]}.sqlite3")},
        "uplink": {"url": service_url, "gateway_id": "glomfjord-gw1", "token": "unused",
                   "timeout_s": 30, "dead_letter_path": str(folder / "dead.jsonl"),
                   "retry": {"initial_s": 0.1, "max_s": 1.0}},
        "http": {"port": 0},
        "control": {"mqtt_url": broker.url, "client_id": control_id, "opcua_source": "plant",
                    "writable_nodes": [{"node_id": f"ns=2;s={SETPOINT}", "range": [0, 30],
                                        "max_rate_per_h": 1000, "max_step": 30}],
                    "signing_key": str(_gateway_key(folder)),
                    "trusted_keys": [SERVICE_KEY.public_text]},
    }
    return parse_config(data, "test")


SERVICE_KEY = SigningKey.generate()


def _gateway_key(folder: Path) -> Path:
    path = folder / "gateway.key"
    if not path.exists():
        SigningKey.generate().save(path)
    return path


SEQ = [int(time.time())]  # rising across rounds, as the service's numbers do


def send_command(broker: Mosquitto) -> None:
    """A setpoint command for the control channel, so that its writer is busy too."""
    now = datetime.now(UTC)
    SEQ[0] += 1
    command = SetpointCommand(id=uuid.uuid4().hex, gateway="glomfjord-gw1", seq=SEQ[0],
                              ramp_id=1, step=1, point=SETPOINT, node_id=f"ns=2;s={SETPOINT}",
                              value=12.0, issued_at=now,
                              expires_at=now + timedelta(minutes=5), tolerance=0.01)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.connect(*broker_login(client, broker.url))
    client.loop_start()
    try:
        client.publish(command_topic("glomfjord-gw1"), sign_command(command, SERVICE_KEY),
                       qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def all_up(gateway: Gateway) -> bool:
    control = gateway.control
    return all(s.up for s in gateway.sources) and (
        control is None or control.subscription.connected.is_set())


@dataclass
class Peers:
    simulator: Simulator
    opcua_link: TcpLink
    broker: Mosquitto

    def processes(self) -> tuple[subprocess.Popen[bytes] | None, ...]:
        return self.simulator.process, self.broker.process

    @asynccontextmanager
    async def gone(self) -> AsyncIterator[None]:
        await self.opcua_link.cut()
        self.broker.stop()
        try:
            yield
        finally:
            self.broker.start()
            await self.opcua_link.restore()


async def one_round(phase: str, rng: random.Random, gateway: Gateway, peers: Peers,
                    what: str) -> None:
    """Start `gateway` with its peers in `phase`, cancel it at a random moment."""
    if phase == "frozen_from_start":
        with frozen(*peers.processes()):
            task = asyncio.create_task(gateway.run(), name="gateway")
            await at_random_point(rng, 1.5)
            await stop_within_bound(task, what)
        return
    if phase == "backoff":
        async with peers.gone():
            task = asyncio.create_task(gateway.run(), name="gateway")
            await at_random_point(rng, 2.0)
            await stop_within_bound(task, what)
        return
    task = asyncio.create_task(gateway.run(), name="gateway")
    if phase == "connecting":
        await at_random_point(rng, 0.0, max_turns=4000)
        await stop_within_bound(task, what)
        return
    await eventually(functools.partial(all_up, gateway), timeout_s=30,
                     what=f"{what}: every connection up")
    send_command(peers.broker)
    if phase == "connected":
        await at_random_point(rng, 0.5)
        await stop_within_bound(task, what)
    elif phase == "frozen":
        with frozen(*peers.processes()):
            await at_random_point(rng, 2.0)
            await stop_within_bound(task, what)
    elif phase == "gone":
        async with peers.gone():
            # The loss is noticed within a few turns; half the rounds cancel among them.
            await at_random_point(rng, rng.choice([0.0, 1.0]), max_turns=100)
            await stop_within_bound(task, what)


async def test_a_gateway_stops_within_the_bound_wherever_it_is_cancelled(
        simulator: Simulator, opcua_link: TcpLink, broker: Mosquitto,
        frozen_service: FrozenService, tmp_path: Path) -> None:
    seed = int(os.environ.get("HEATLINK_TEST_SEED") or random.randrange(1 << 32))
    rng = random.Random(seed)
    rounds = [phase for phase in PHASES for _ in range(ROUNDS_PER_PHASE)]
    rng.shuffle(rounds)
    peers = Peers(simulator, opcua_link, broker)
    control_id = f"gw-control-{uuid.uuid4().hex[:8]}"
    for n, phase in enumerate(rounds):
        service_url = rng.choice([frozen_service.url, f"http://127.0.0.1:{free_port()}"])
        what = f"round {n} ({phase}; HEATLINK_TEST_SEED={seed}; service {service_url})"
        gateway = Gateway(config(tmp_path, opcua_link, broker, service_url, control_id))
        await one_round(phase, rng, gateway, peers, what)
