"""The simulator's MQTT publisher over TLS with credentials, against a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from simulators.mqtt_publisher import MqttPublisher
from tests.support.servers import Mosquitto

USER, PASSWORD = "simulator", "pa55word"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_tls_files(folder: Path) -> None:
    """A private CA and a server certificate for 127.0.0.1 signed by it."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("heatlink test CA"))
          .issuer_name(_name("heatlink test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(hours=1))
          .not_valid_after(now + timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


@pytest.fixture
def tls_broker() -> Iterator[Mosquitto]:
    broker = Mosquitto()
    folder = broker.folder
    _write_tls_files(folder)
    passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    subprocess.run([passwd, "-b", "-c", str(folder / "passwd"), USER, PASSWORD], check=True,
                   capture_output=True)
    for path in folder.iterdir():
        path.chmod(0o644)  # the broker drops to its own user and must read them
    broker.config.write_text(
        f"listener {broker.port} 127.0.0.1\n"
        f"cafile {folder / 'ca.pem'}\ncertfile {folder / 'server.pem'}\n"
        f"keyfile {folder / 'server.key'}\n"
        f"allow_anonymous false\npassword_file {folder / 'passwd'}\n"
        "persistence false\nlog_dest none\n")
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


async def test_publishes_over_tls_with_credentials(tls_broker: Mosquitto) -> None:
    ca_file = tls_broker.folder / "ca.pem"
    received: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    subscribed, arrived = asyncio.Event(), asyncio.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="heatlink-tls-sub")
    sub.username_pw_set(USER, PASSWORD)
    sub.tls_set(ca_certs=str(ca_file), cert_reqs=ssl.CERT_REQUIRED)
    sub.on_connect = lambda c, *_: c.subscribe("heatlink-sim/#", qos=1)
    sub.on_subscribe = lambda *_: loop.call_soon_threadsafe(subscribed.set)

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        received.append(json.loads(msg.payload))
        loop.call_soon_threadsafe(arrived.set)

    sub.on_message = on_message
    sub.connect("127.0.0.1", tls_broker.port)
    sub.loop_start()
    try:
        await asyncio.wait_for(subscribed.wait(), 10)
        url = f"mqtts://{USER}:{PASSWORD}@127.0.0.1:{tls_broker.port}"
        publisher = MqttPublisher(url, ca_file=ca_file)
        await publisher.start()
        ts = datetime(2026, 1, 15, 6, tzinfo=UTC)
        publisher.publish("glomfjord/smoltfarm/tank1/temp", ts, 12.03, "good")
        await publisher.flush()
        await publisher.stop()
        await asyncio.wait_for(arrived.wait(), 10)
        assert received == [{"value": 12.03, "ts": "2026-01-15T06:00:00.000000+00:00",
                             "quality": "good"}]
    finally:
        sub.disconnect()
        sub.loop_stop()


async def test_wrong_credentials_are_refused(tls_broker: Mosquitto) -> None:
    url = f"mqtts://{USER}:wrong@127.0.0.1:{tls_broker.port}"
    publisher = MqttPublisher(url, ca_file=tls_broker.folder / "ca.pem")
    with pytest.raises(ConnectionError, match="refused"):
        await publisher.start()
