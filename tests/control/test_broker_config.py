"""The shipped broker configuration (deploy/mosquitto.conf and mosquitto.acl), run for real
with a CA made here: anonymous clients are refused on both listeners, the control channel
works over its TLS listener with the service's and a gateway's logins, and a gateway reads
only its own commands and writes only its own results."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from gateway.config import ControlConfig
from gateway.control_mqtt import CommandSubscription
from heatlink.commands import (
    CommandResult,
    SetpointCommand,
    open_command,
    open_result,
    result_topic,
    sign_command,
    sign_result,
)
from heatlink.signing import SigningKey, TrustedKeys
from services.control.bus import CommandBus
from services.storage.exit_guard import ExitGuard
from services.storage.local_postgres import free_port
from tests.support.servers import BrokerTls, wait_for_port
from tests.support.tls import write_test_ca

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PASSWORDS = {"heatlink-service": "service-pw", "glomfjord-gw1": "gw1-pw", "mo-gw1": "mo-pw",
             "glomfjord-smoltfarm": "farm-pw"}


@dataclass
class ShippedBroker:
    port: int
    tls_port: int
    tls: BrokerTls
    folder: Path
    process: subprocess.Popen[bytes] | None = None
    guard: ExitGuard | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c",
             str(self.folder / "mosquitto.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Gone with this process, however it ends.
        self.guard = ExitGuard(f"kill {self.process.pid}")
        wait_for_port("127.0.0.1", self.port)
        wait_for_port("127.0.0.1", self.tls_port)

    def _ended(self) -> None:
        assert self.process is not None
        self.process.wait(timeout=10)
        self.process = None
        if self.guard is not None:
            self.guard.disarm()
            self.guard = None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self._ended()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self._ended()


def _as_broker_user(path: Path) -> None:
    """Mosquitto started as root reads its files after dropping to its own user."""
    if os.geteuid() == 0:
        for item in [path, *path.rglob("*")]:
            shutil.chown(item, "mosquitto", "mosquitto")


@pytest.fixture
def shipped_broker() -> Iterator[ShippedBroker]:
    folder = Path(tempfile.mkdtemp(prefix="heatlink-deploy-mosquitto-"))
    port, tls_port = free_port(), free_port()
    text = (DEPLOY / "mosquitto.conf").read_text()
    assert "listener 1883\n" in text
    assert "listener 8883\n" in text
    text = (text.replace("listener 1883\n", f"listener {port} 127.0.0.1\n")
            .replace("listener 8883\n", f"listener {tls_port} 127.0.0.1\n")
            .replace("/mosquitto/", f"{folder}/"))
    (folder / "config").mkdir()
    (folder / "data").mkdir()
    (folder / "mosquitto.conf").write_text(text + "log_dest none\n")
    shutil.copyfile(DEPLOY / "mosquitto.acl", folder / "config" / "acl")
    passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    for i, (user, password) in enumerate(PASSWORDS.items()):
        subprocess.run([passwd, *(["-c"] if i == 0 else []), "-b",
                        str(folder / "config" / "passwd"), user, password],
                       check=True, capture_output=True)
    broker = ShippedBroker(port, tls_port, write_test_ca(folder / "config" / "certs"), folder)
    _as_broker_user(folder)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)


def mosquitto_pub(port: int, topic: str, *extra: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
    return subprocess.run([binary, "-h", "127.0.0.1", "-p", str(port), "-q", "1",
                           "-V", "mqttv5", "-t", topic, "-m", '{"status": "applied"}', *extra],
                          capture_output=True, text=True, timeout=10)


def test_anonymous_clients_are_refused_on_both_listeners(shipped_broker: ShippedBroker
                                                         ) -> None:
    topic = result_topic("glomfjord-gw1")
    plain = mosquitto_pub(shipped_broker.port, topic)
    assert plain.returncode != 0
    assert "not authori" in plain.stderr.lower()
    tls = mosquitto_pub(shipped_broker.tls_port, topic, "--cafile",
                        str(shipped_broker.tls.ca_file))
    assert tls.returncode != 0
    assert "not authori" in tls.stderr.lower()
    # A login that exists, with the wrong password, is no better.
    wrong = mosquitto_pub(shipped_broker.port, topic, "-u", "glomfjord-gw1", "-P", "guess")
    assert wrong.returncode != 0


def control_config(broker: ShippedBroker) -> ControlConfig:
    return ControlConfig(
        mqtt_url=f"mqtts://127.0.0.1:{broker.tls_port}", client_id="gw1-control",
        username="glomfjord-gw1", password=PASSWORDS["glomfjord-gw1"],
        ca_file=broker.tls.ca_file, opcua_source="plant",
        writable_nodes=[{"node_id": "ns=2;s=x", "range": [0, 20],  # type: ignore[list-item]
                         "max_rate_per_h": 2, "max_step": 0.5}],
        signing_key=Path("unused"), trusted_keys=[SigningKey.generate().public_text])


def command(gateway: str, seq: int) -> SetpointCommand:
    now = datetime.now(UTC)
    return SetpointCommand(id=f"c{seq}", gateway=gateway, seq=seq, ramp_id=1, step=1,
                           point="p", node_id="ns=2;s=x", value=12.0, issued_at=now,
                           expires_at=now + timedelta(minutes=5), tolerance=0.01)


async def test_the_control_channel_runs_over_tls_with_least_privilege(
        shipped_broker: ShippedBroker) -> None:
    service_key, gateway_key = SigningKey.generate(), SigningKey.generate()
    bus = CommandBus(f"mqtts://127.0.0.1:{shipped_broker.tls_port}", "service-tls",
                     "heatlink/control", username="heatlink-service",
                     password=PASSWORDS["heatlink-service"], ca_file=shipped_broker.tls.ca_file)
    gateway = CommandSubscription(control_config(shipped_broker), "glomfjord-gw1")
    snoop = await Snoop.start(shipped_broker, "glomfjord-gw1", "heatlink/control/+/commands")
    bus.start()
    gateway.start()
    try:
        await asyncio.wait_for(bus.connected.wait(), 10)
        await asyncio.wait_for(gateway.connected.wait(), 10)
        # The service writes a command for another gateway, then one for this one: this
        # gateway gets its own only, even when it asks for every gateway's.
        bus.send("mo-gw1", sign_command(command("mo-gw1", 1), service_key))
        bus.send("glomfjord-gw1", sign_command(command("glomfjord-gw1", 2), service_key))
        _, payload = await asyncio.wait_for(gateway.inbox.get(), 10)
        received = open_command(payload, TrustedKeys({"service": [service_key.public_text]}))
        assert received.id == "c2"
        assert gateway.inbox.empty()
        assert await snoop.topics() == ["heatlink/control/glomfjord-gw1/commands"]

        result = CommandResult(command_id="c2", gateway="glomfjord-gw1", ramp_id=1,
                               point="p", status="applied", value=12.0, readback=12.0,
                               at=datetime.now(UTC))
        gateway.publish_result(sign_result(result, gateway_key))
        _, payload = await asyncio.wait_for(bus.inbox.get(), 10)
        signer, answer = open_result(payload, TrustedKeys(
            {"glomfjord-gw1": [gateway_key.public_text]}))
        assert (signer, answer) == ("glomfjord-gw1", result)
    finally:
        snoop.stop()
        await gateway.stop()
        await bus.stop()

    # The gateway's login may not answer for another gateway, nor send commands.
    assert await publish_as("glomfjord-gw1", shipped_broker, result_topic("mo-gw1")) == \
        "Not authorized"
    assert await publish_as("glomfjord-gw1", shipped_broker,
                            "heatlink/control/glomfjord-gw1/commands") == "Not authorized"
    assert await publish_as("glomfjord-gw1", shipped_broker,
                            result_topic("glomfjord-gw1")) != "Not authorized"


async def publish_as(user: str, broker: ShippedBroker, topic: str) -> str:
    """The broker's answer (PUBACK reason) to a QoS 1 publish by ``user`` over TLS."""
    done = threading.Event()
    answer: list[str] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{user}",
                         protocol=MQTTProtocolVersion.MQTTv5)
    client.username_pw_set(user, PASSWORDS[user])
    client.tls_set(ca_certs=str(broker.tls.ca_file))

    def on_publish(c: Any, u: Any, mid: Any, reason: Any, p: Any) -> None:
        answer.append(str(reason))
        done.set()

    client.on_publish = on_publish
    client.connect("127.0.0.1", broker.tls_port)
    client.loop_start()
    try:
        client.publish(topic, b"{}", qos=1)
        assert await asyncio.to_thread(done.wait, 10)
    finally:
        client.disconnect()
        client.loop_stop()
    return answer[0]


class Snoop:
    """A plain client logged in as ``user``, subscribed to ``topic_filter`` over TLS."""

    def __init__(self, client: mqtt.Client) -> None:
        self.client = client
        self.seen: list[str] = []
        self.arrived = threading.Event()

    @classmethod
    async def start(cls, broker: ShippedBroker, user: str, topic_filter: str) -> Snoop:
        subscribed = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"snoop-{user}",
                             protocol=MQTTProtocolVersion.MQTTv5)
        snoop = cls(client)
        client.username_pw_set(user, PASSWORDS[user])
        client.tls_set(ca_certs=str(broker.tls.ca_file))
        client.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
        client.on_subscribe = lambda *_: subscribed.set()

        def on_message(c: Any, u: Any, message: mqtt.MQTTMessage) -> None:
            snoop.seen.append(message.topic)
            snoop.arrived.set()

        client.on_message = on_message
        client.connect("127.0.0.1", broker.tls_port)
        client.loop_start()
        assert await asyncio.to_thread(subscribed.wait, 10)
        return snoop

    async def topics(self) -> list[str]:
        """What arrived, once something did (messages keep their order per publisher)."""
        assert await asyncio.to_thread(self.arrived.wait, 10)
        return list(self.seen)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _client(user: str, broker: ShippedBroker, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=MQTTProtocolVersion.MQTTv5)
    client.username_pw_set(user, PASSWORDS[user])
    return client


def _publish_readings(broker: ShippedBroker, n: int) -> None:
    """``n`` readings from the farm's device, each acknowledged by the broker."""
    client = _client("glomfjord-smoltfarm", broker, "farm-device")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        for start in range(0, n, 500):
            infos = [client.publish(f"plant/glomfjord/smoltfarm/tank1/temp/{i}", b"12.0", qos=1)
                     for i in range(start, min(start + 500, n))]
            for info in infos:
                info.wait_for_publish(30)
                assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def _drain(broker: ShippedBroker, expected: int) -> int:
    """Reconnect the gateway's persistent session and count what the broker kept for it,
    until ``expected`` arrived or nothing more comes."""
    received: list[int] = []
    done = threading.Event()
    client = _client("glomfjord-gw1", broker, "glomfjord-gw1-readings")

    def on_message(c: Any, u: Any, message: mqtt.MQTTMessage) -> None:
        received.append(1)
        if len(received) >= expected:
            done.set()

    client.on_message = on_message
    client.connect("127.0.0.1", broker.port, clean_start=False,
                   properties=_session_expiry())
    client.loop_start()
    try:
        done.wait(30)
    finally:
        client.disconnect()
        client.loop_stop()
    return len(received)


def _session_expiry() -> Any:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    return props


def _open_session(broker: ShippedBroker) -> None:
    subscribed = threading.Event()
    client = _client("glomfjord-gw1", broker, "glomfjord-gw1-readings")
    client.on_connect = lambda c, *_: c.subscribe("plant/glomfjord/#", qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", broker.port, clean_start=False,
                   properties=_session_expiry())
    client.loop_start()
    try:
        assert subscribed.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_gateway_away_comes_back_to_every_reading_even_after_a_broker_kill(
        shipped_broker: ShippedBroker) -> None:
    """What was seen: 5 s away at 1,000 readings/s lost 4,886 of 5,000 to the default queue
    of 1,000; a SIGKILL lost what arrived since the last of saves 10 s apart."""
    _open_session(shipped_broker)
    _publish_readings(shipped_broker, 5000)
    assert _drain(shipped_broker, 5000) == 5000

    store = shipped_broker.folder / "data" / "mosquitto.db"
    _publish_readings(shipped_broker, 5000)
    saved_before = time.time_ns()
    deadline = time.monotonic() + 10
    # Kill it once it saved after the last publish: what a kill may lose is what arrived
    # since, at most one autosave_interval.
    while not (store.exists() and store.stat().st_mtime_ns > saved_before):
        assert time.monotonic() < deadline, "the broker never saved its store"
        time.sleep(0.05)
    shipped_broker.kill()
    shipped_broker.start()
    assert _drain(shipped_broker, 5000) == 5000
