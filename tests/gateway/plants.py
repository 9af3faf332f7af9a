"""Stand-ins for the simulated plants, used until `simulators/` provides them: a QoS 1 MQTT
publisher that records what the broker acknowledged, and an asyncua server in-process."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from asyncua import Server, ua
from asyncua.common.node import Node
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from cryptography.x509.oid import ExtendedKeyUsageOID
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from heatlink.wire import format_ts
from tests.support.servers import broker_login

GLOMFJORD = [
    ("glomfjord/smelter/hx1/primary/supply_temp", 31.0),
    ("glomfjord/smelter/hx1/primary/return_temp", 24.0),
    ("glomfjord/smelter/hx1/secondary/supply_temp", 14.0),
    ("glomfjord/smoltfarm/tank1/temp", 12.0),
]


class MqttPublisher:
    """Publishes `heatlink-sim/<series>` JSON at QoS 1; `acked` holds what the broker took."""

    def __init__(self, url: str, client_id: str = "test-publisher") -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=MQTTProtocolVersion.MQTTv5)
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(1000)
        self.client.reconnect_delay_set(1, 1)
        self._sent: list[tuple[mqtt.MQTTMessageInfo, tuple[str, str]]] = []
        self.client.connect(*broker_login(self.client, url))
        self.client.loop_start()

    @property
    def acked(self) -> set[tuple[str, str]]:
        """(series, ts) of the messages the broker acknowledged (PUBACK received)."""
        return {key for info, key in self._sent if info.is_published()}

    def publish(self, series: str, ts: datetime, value: float, *,
                payload: bytes | None = None) -> None:
        body = payload if payload is not None else json.dumps(
            {"value": value, "ts": format_ts(ts), "quality": "good"}).encode()
        info = self.client.publish(f"heatlink-sim/{series}", body, qos=1)
        if payload is None:
            self._sent.append((info, (series, format_ts(ts))))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class PasswordUsers:
    """Lets in only the given usernames with their passwords."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def get_user(self, iserver: object, username: str | None = None,
                 password: str | None = None, certificate: object = None) -> User | None:
        if username is not None and self.users.get(username) == password:
            return User(role=UserRole.User)
        return None


async def make_certificate(folder: Path, name: str, app_uri: str, *, server: bool) -> tuple[
        Path, Path]:
    """A self-signed application certificate (DER) and its key (PEM)."""
    cert, key = folder / f"{name}.der", folder / f"{name}.pem"
    use = [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
    await setup_self_signed_certificate(key, cert, app_uri, socket.gethostname(), use,
                                        {"commonName": name})
    return cert, key


class OpcUaPlant:
    """An asyncua server with one Double variable per series, node id `ns=2;s=<series>`."""

    def __init__(self, port: int, series: Iterable[tuple[str, float]] = GLOMFJORD) -> None:
        self.port = port
        self.endpoint = f"opc.tcp://127.0.0.1:{port}/heatlink/"
        self.series = list(series)
        self.nodes: dict[str, Node] = {}
        self.server: Server | None = None
        self.ns = 2

    async def start(self, *, secure: tuple[Path, Path] | None = None,
                    trusted_clients: Path | None = None,
                    users: dict[str, str] | None = None) -> None:
        server = Server(user_manager=PasswordUsers(users) if users else None)
        await server.init()
        server.set_endpoint(self.endpoint)
        # The URI its certificate names: a client checks that they agree.
        await server.set_application_uri("urn:heatlink:test-plant")
        if secure is not None:
            cert, key = secure
            await server.load_certificate(str(cert))
            await server.load_private_key(str(key))
            server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
            if trusted_clients is not None:
                store = TrustStore([trusted_clients], [])
                await store.load()
                server.set_certificate_validator(CertificateValidator(
                    CertificateValidatorOptions.TRUSTED_VALIDATION
                    | CertificateValidatorOptions.PEER_CLIENT, store))
        ns = await server.register_namespace("urn:heatlink:test-plant")
        folder = await server.nodes.objects.add_folder(ua.NodeId("plant", ns), "plant")
        self.ns = ns
        for series, initial in self.series:
            self.nodes[series] = await folder.add_variable(
                ua.NodeId(series, ns), series.split("/")[-1],
                ua.Variant(initial, ua.VariantType.Double))
        await server.start()
        self.server = server

    async def write(self, series: str, value: float, ts: datetime | None = None) -> None:
        ts = ts or datetime.now(UTC)
        dv = ua.DataValue(ua.Variant(value, ua.VariantType.Double), SourceTimestamp=ts,
                          ServerTimestamp=ts)
        await self.nodes[series].write_value(dv)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None
