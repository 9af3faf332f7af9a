"""The real parts of a control test, wired together in this event loop: the simulator's
OPC UA server, a gateway with a control section, a closed Mosquitto of the test's own (the
service and the gateway each log in with only their topics) and the service on its own
database; commands and results signed with keys made for the test.

Clock: the simulator runs at ``SPEED`` times real time, and a ramp of hours must run in
seconds. The service and the gateway are given `SimClock`, which reads the simulation's
own time: ramp steps, command expiry, input staleness and reading timestamps are then all
in sim time, exactly as they would all be in wall time at a real plant. The only wall-time
figure left is the runner's tick (``HEATLINK_CONTROL_TICK_S``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from demo.broker import BrokerUser, LocalMosquitto, gateway_user, service_user
from gateway.config import parse_config
from gateway.runner import Gateway
from heatlink.cluster.loader import EXAMPLE_CLUSTER
from heatlink.signing import SigningKey
from services.access.principal import Role
from services.runtimes import runtimes_of
from services.settings import Settings
from services.storage.local_postgres import free_port
from simulators.live import LiveSimulation
from simulators.scenario import Scenario, load_scenario
from tests.support.servers import broker_login
from tests.support.service import AppHandle, make_token, running_app
from tests.support.waiting import until

SPEED = 900.0
TANK = "glomfjord/smoltfarm/tank1"
POINT = f"{TANK}/temp_setpoint"
TEMP = f"{TANK}/temp"
GATEWAY = "glomfjord-gw1"
# The gateway's own bounds on the nodes it writes (the farm's 2 K/h, a quarter hour's worth
# as the largest step): independent of the service's plan, which keeps well inside them.
EDGE = {"range": [0, 20], "max_rate_per_h": 2.0, "max_step": 0.5}


class SimClock:
    """Now is the simulation's time: the one clock every part of the test shares."""

    def __init__(self, sim: LiveSimulation) -> None:
        self.sim = sim

    def now(self) -> datetime:
        return self.sim.start + timedelta(seconds=self.sim.sim_time_s)


def scenario(events: list[dict[str, Any]] | None = None) -> Scenario:
    """A normal day, every series on OPC UA (the gateway reads only what it needs)."""
    base = load_scenario("normal-day")
    data = base.model_dump(mode="json")
    data.update(transports={"glomfjord": "opcua", "mo": "opcua"}, events=events or [])
    return Scenario.model_validate(data)


# At SPEED a reading's trip through gateway and ingest, and a command's through the broker
# and back, take sim minutes on a loaded machine, not seconds: the cluster's 120 s staleness
# limit and 600 s command lifetime (0.7 s of wall time) would hold or give up on ramps that
# work. Two expiries in a row held a ramp for its operator, and a CI run waited in vain.
LOADED_MACHINE = {"max_input_age_s": 600, "command_ttl_s": 1800, "max_attempts": 6}


def cluster_file(tmp_path: Path, point_settings: dict[str, Any] | None = None) -> Path:
    """The example cluster, its writable points unchanged but for LOADED_MACHINE's limits;
    ``point_settings`` changes every writable point further."""
    data = yaml.safe_load(EXAMPLE_CLUSTER.read_text())
    for point in data["writable_points"]:
        point.update(LOADED_MACHINE)
        point.update(point_settings or {})
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@dataclass
class ControlKeys:
    service: SigningKey
    gateway: SigningKey
    gateway_key_file: Path
    service_key_file: Path
    gateway_keys_file: Path  # what the service trusts

    @classmethod
    def make(cls, folder: Path) -> ControlKeys:
        service, gateway = SigningKey.generate(), SigningKey.generate()
        service.save(folder / "service.key")
        gateway.save(folder / "gateway.key")
        keys_file = folder / "gateway-keys.yaml"
        keys_file.write_text(yaml.safe_dump({GATEWAY: [gateway.public_text]}))
        return cls(service, gateway, folder / "gateway.key", folder / "service.key",
                   keys_file)


@dataclass
class ControlBroker:
    """A closed broker with the service's and the gateway's logins (and a superuser, for
    tests that play a client with every right)."""

    broker: LocalMosquitto
    service: BrokerUser
    gateway: BrokerUser

    @classmethod
    def start(cls) -> ControlBroker:
        service, gateway = service_user(), gateway_user(GATEWAY)
        broker = LocalMosquitto(users=[service, gateway])
        broker.start()
        return cls(broker, service, gateway)

    @property
    def url(self) -> str:
        """Without a login: each client brings its own."""
        return f"mqtt://127.0.0.1:{self.broker.port}"


def gateway_config(tmp_path: Path, *, endpoint: str, service_url: str, token: str,
                   broker: ControlBroker | None, keys: ControlKeys | None, client_id: str,
                   name: str = "gw", nodes: list[str] | None = None) -> Any:
    data: dict[str, Any] = {
        "sources": [{"kind": "opcua", "name": "plant", "endpoint": endpoint,
                     "publishing_interval_ms": 50, "sampling_interval_ms": 0,
                     "queue_size": 100, "reconnect": {"initial_s": 0.2, "max_s": 1.0},
                     "nodes": [{"node_id": f"ns=2;s={key}", "series": key}
                               for key in (nodes or [TEMP])]}],
        "buffer": {"path": str(tmp_path / f"{name}.sqlite3"), "synchronous": "normal"},
        "uplink": {"url": service_url, "gateway_id": "glomfjord-gw1", "token": token,
                   "dead_letter_path": str(tmp_path / f"{name}-dead.jsonl"),
                   "retry": {"initial_s": 0.1, "max_s": 0.5}},
        "http": {"port": 0},
    }
    if broker is not None and keys is not None:
        data["control"] = {
            "mqtt_url": broker.url, "username": broker.gateway.name,
            "password": broker.gateway.password, "client_id": client_id,
            "opcua_source": "plant", "signing_key": str(keys.gateway_key_file),
            "trusted_keys": [keys.service.public_text],
            "state_path": str(tmp_path / "control-state.json"),
            "audit_path": str(tmp_path / "control-audit.jsonl"),
            "writable_nodes": [{"node_id": f"ns=2;s={POINT}", **EDGE},
                               {"node_id": f"ns=2;s={TANK}/heater_setpoint", **EDGE}]}
    return parse_config(data, "test")


@contextlib.asynccontextmanager
async def gateway_running(config: Any, clock: SimClock) -> AsyncIterator[Gateway]:
    gateway = Gateway(config, clock=clock)
    task = asyncio.create_task(gateway.run())
    started = asyncio.create_task(gateway.started.wait())
    await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    try:
        if gateway.control is not None:
            await asyncio.wait_for(gateway.control.subscription.connected.wait(), 10)
        yield gateway
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass
class Plant:
    sim: LiveSimulation
    clock: SimClock
    app: AppHandle
    gateway: Gateway | None
    owner: str  # fjordsmolt operator token (control scope)
    database_url: str
    tmp_path: Path
    broker: ControlBroker
    keys: ControlKeys
    gateway_token: str

    async def ramp(self, ramp_id: int) -> dict[str, Any]:
        async with self.app.client(self.owner) as client:
            answer = await client.get(f"/v1/control/ramps/{ramp_id}")
            assert answer.status_code == 200, answer.text
            result: dict[str, Any] = answer.json()
            return result

    async def audit(self, token: str | None = None, **params: Any) -> list[dict[str, Any]]:
        async with self.app.client(token or self.owner) as client:
            answer = await client.get("/v1/control/audit", params=params)
            assert answer.status_code == 200, answer.text
            rows: list[dict[str, Any]] = answer.json()
            return rows

    async def request(self, target: float, token: str | None = None,
                      **extra: Any) -> Any:
        async with self.app.client(token or self.owner) as client:
            return await client.post("/v1/control/ramps",
                                     json={"point": POINT, "target": target, **extra})

    async def until_tank_stored(self) -> None:
        """Until a tank temperature is stored: the ramp's start value and fresh input."""
        pool = runtimes_of(self.app.app).pool

        async def stored() -> bool:
            return bool(await pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM readings r JOIN series s ON s.id = r.series_id"
                " WHERE s.key = $1)", TEMP))
        await until(stored, "a tank temperature stored")

    async def until_status(self, ramp_id: int, status: str, timeout_s: float = 90.0) -> None:
        async def reached() -> bool:
            return bool((await self.ramp(ramp_id))["status"] == status)
        await until(reached, f"ramp {ramp_id} {status}", timeout_s)


@contextlib.contextmanager
def control_broker() -> Iterator[ControlBroker]:
    broker = ControlBroker.start()
    try:
        yield broker
    finally:
        broker.broker.close()


@contextlib.asynccontextmanager
async def plant(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *,
                events: list[dict[str, Any]] | None = None,
                with_gateway: bool = True,
                point_settings: dict[str, Any] | None = None) -> AsyncIterator[Plant]:
    keys = ControlKeys.make(tmp_path)
    with control_broker() as broker:
        async with _plant(database_url, tmp_path, monkeypatch, broker, keys, events,
                          with_gateway, point_settings) as handle:
            yield handle


@contextlib.asynccontextmanager
async def _plant(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 broker: ControlBroker, keys: ControlKeys,
                 events: list[dict[str, Any]] | None, with_gateway: bool,
                 point_settings: dict[str, Any] | None = None) -> AsyncIterator[Plant]:
    monkeypatch.setenv("HEATLINK_CONTROL_MQTT_URL", broker.url)
    monkeypatch.setenv("HEATLINK_CONTROL_MQTT_USERNAME", broker.service.name)
    monkeypatch.setenv("HEATLINK_CONTROL_MQTT_PASSWORD", broker.service.password)
    monkeypatch.setenv("HEATLINK_CONTROL_SIGNING_KEY_FILE", str(keys.service_key_file))
    monkeypatch.setenv("HEATLINK_CONTROL_GATEWAY_KEYS_FILE", str(keys.gateway_keys_file))
    monkeypatch.setenv("HEATLINK_CONTROL_CLIENT_ID", f"service-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("HEATLINK_CONTROL_TICK_S", "0.05")
    # The service runs on the plant's clock: a stream ticket's 120 s are 0.13 s of real
    # time, less than a loaded machine's browser takes from the ticket to its stream.
    monkeypatch.setenv("HEATLINK_STREAM_TICKET_TTL_S", "1e6")
    # A ramp starts from a plant value at most this old: at SPEED the default 900 sim s
    # are one second of wall time, less than a loaded machine's trip from plant to store.
    monkeypatch.setenv("HEATLINK_CONTROL_START_MAX_AGE_S", "3600")
    monkeypatch.setenv("HEATLINK_ALERTS_RUN_WORKER", "false")
    sim = LiveSimulation(scenario(events), speed=SPEED, opcua_port=free_port(),
                         run_forever=True)
    clock = SimClock(sim)
    gw_token = await make_token(database_url, "glomfjord-smelter", Role.GATEWAY,
                                gateway=GATEWAY)
    owner = await make_token(database_url, "fjordsmolt", Role.OPERATOR, name="farm operator")
    settings = Settings(database_url=database_url,
                        cluster_file=cluster_file(tmp_path, point_settings), retention_days=30)
    async with sim, running_app(settings, clock=clock) as app:
        config = gateway_config(tmp_path, endpoint=sim.opcua_endpoint, service_url=app.url,
                                token=gw_token, broker=broker, keys=keys,
                                client_id=f"gw-{uuid.uuid4().hex[:8]}")
        handle = Plant(sim, clock, app, None, owner, database_url, tmp_path, broker, keys,
                       gw_token)
        if not with_gateway:
            yield handle
            return
        async with gateway_running(config, clock) as gateway:
            handle.gateway = gateway
            yield handle


class BrokerTap:
    """A plain paho client with the broker's superuser login (an attacker who has it, or an
    operator looking on): records what passes on ``topic_filter`` and publishes anything."""

    def __init__(self, url: str, topic_filter: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"tap-{uuid.uuid4().hex[:8]}",
                                  protocol=MQTTProtocolVersion.MQTTv5)
        self.client.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(*broker_login(self.client, url))
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._loop.call_soon_threadsafe(self._add, message.topic, bytes(message.payload))

    def _add(self, topic: str, payload: bytes) -> None:
        self.messages.append((topic, payload))
        self._changed.set()

    async def subscribed(self) -> None:
        assert await asyncio.to_thread(self._subscribed.wait, 10), "tap not subscribed"

    async def first(self, match: Callable[[str, bytes], bool], what: str,
                    timeout_s: float = 30.0) -> bytes:
        """The first message that ``match``es, waiting for it to arrive."""
        async with asyncio.timeout(timeout_s):
            while True:
                for topic, payload in self.messages:
                    if match(topic, payload):
                        return payload
                self._changed.clear()
                await self._changed.wait()
        raise AssertionError(what)  # unreachable: the timeout raises first

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
