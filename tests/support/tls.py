"""TLS for the tests' brokers: a private CA and a server certificate for 127.0.0.1 made with
`cryptography`, and Mosquitto with a TLS listener and users with passwords: what an MQTT
peer at a real plant or service looks like."""

from __future__ import annotations

import asyncio
import ssl
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from demo.broker import BrokerTls, BrokerUser
from heatlink.aio import wait_event
from services.storage.local_postgres import free_port
from tests.support.servers import Mosquitto


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def write_test_ca(folder: Path) -> BrokerTls:
    """``ca.pem``, ``server.pem`` and ``server.key`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
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
    tls = BrokerTls(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    tls.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    tls.key_file.chmod(0o600)
    return tls


@dataclass(frozen=True)
class TlsBroker:
    broker: Mosquitto
    ca_file: Path

    @property
    def port(self) -> int:
        """The TLS listener's port."""
        assert self.broker.tls_port is not None
        return self.broker.tls_port

    def url(self, user: str | None = None, password: str | None = None) -> str:
        auth = f"{user}:{password}@" if user else ""
        return f"mqtts://{auth}127.0.0.1:{self.port}"


@contextmanager
def tls_mosquitto(users: dict[str, str]) -> Iterator[TlsBroker]:
    """A closed broker with a TLS listener that lets in only these users, on every topic."""
    with tempfile.TemporaryDirectory(prefix="heatlink-tls-") as folder:
        tls = write_test_ca(Path(folder))
        broker = Mosquitto(users=[BrokerUser(name, password, read=("#",), write=("#",))
                                  for name, password in users.items()], tls=tls)
        broker.start()
        try:
            yield TlsBroker(broker, tls.ca_file)
        finally:
            broker.close()


@asynccontextmanager
async def tls_subscriber(broker: TlsBroker, user: str, password: str,
                         topic: str) -> AsyncIterator[asyncio.Queue[tuple[str, bytes]]]:
    """What arrives on `topic`, read over TLS as `user`; entered once subscribed."""
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    subscribed = asyncio.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"tls-sub-{free_port()}")
    client.username_pw_set(user, password)
    client.tls_set(ca_certs=str(broker.ca_file), cert_reqs=ssl.CERT_REQUIRED)
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: loop.call_soon_threadsafe(subscribed.set)
    client.on_message = lambda _c, _u, msg: loop.call_soon_threadsafe(
        received.put_nowait, (msg.topic, bytes(msg.payload)))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        if not await wait_event(subscribed, 10):
            raise TimeoutError(f"not subscribed to {topic} within 10 s")
        yield received
    finally:
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)
