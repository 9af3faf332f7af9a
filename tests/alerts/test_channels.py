"""One contract suite for every channel, fakes included: a message to a peer that is up is
Delivered and arrives; a peer that is down gives Retry (never an exception). E-mail upgrades
to TLS when the server offers STARTTLS."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from alerts.channels.base import Channel
from alerts.channels.dashboard import DashboardChannel
from alerts.channels.email import SmtpEmailChannel
from alerts.channels.mqtt import PahoMqttChannel
from alerts.channels.webhook import WebhookChannel
from alerts.model import Delivered, Message, Retry
from alerts.testing import InMemoryAlertStream, RecordingChannel
from services.storage.local_postgres import free_port
from tests.alerts.support import (
    _Arrivals,
    _SmtpHandler,
    mqtt_subscriber,
    smtp_server,
    webhook_receiver,
)


def message(address: str, key: str = "hl-1-1-x") -> Message:
    item = {"event": "raised", "at": "2026-01-15T06:00:00+00:00",
            "alert": {"id": 1, "title": "Heat supply lost", "severity": "alarm",
                      "state": "active_unack", "time_to_impact_s": 1148.0,
                      "detail": {"contingency": ["Start backup heater B-2"]}},
            "links": {"acknowledge": "http://h/v1/alerts/1/link?sig=x"}}
    return Message(key, "test", address, "fjordsmolt", "night shift", (item,))


@dataclass
class Peer:
    """A channel wired to a live peer, how to read what arrived, and an address that is down."""

    channel: Channel
    address: str
    arrived: Callable[[], Awaitable[int]]
    down: Channel | None
    down_address: str


PeerFactory = Callable[[], AbstractAsyncContextManager[Peer]]


@asynccontextmanager
async def recording() -> AsyncIterator[Peer]:
    channel = RecordingChannel()

    async def arrived() -> int:
        return len(channel.sent)

    yield Peer(channel, "anywhere", arrived, RecordingChannel(outcomes=[Retry("down")]), "x")


@asynccontextmanager
async def webhook() -> AsyncIterator[Peer]:
    async with webhook_receiver() as hook:
        channel = WebhookChannel(timeout_s=5)

        async def arrived() -> int:
            return len(await hook.wait("/in"))

        try:
            yield Peer(channel, hook.url("/in"), arrived, channel,
                       f"http://127.0.0.1:{free_port()}/closed")
        finally:
            await channel.close()


@asynccontextmanager
async def email() -> AsyncIterator[Peer]:
    async with smtp_server() as (url, mails):
        channel = SmtpEmailChannel(url, "heatlink@test", timeout_s=5)

        async def arrived() -> int:
            return len(await mails.wait_for(lambda items: len(items) >= 1))

        yield Peer(channel, "vakt@fjordsmolt.example", arrived,
                   SmtpEmailChannel(f"smtp://127.0.0.1:{free_port()}", "h@t", timeout_s=2),
                   "vakt@fjordsmolt.example")


@asynccontextmanager
async def mqtt_peer(url: str) -> AsyncIterator[Peer]:
    async with mqtt_subscriber(url, "heatlink/fjordsmolt/alerts") as seen:
        channel = PahoMqttChannel(url, client_id=f"contract-{free_port()}", timeout_s=5)
        down = PahoMqttChannel(f"mqtt://127.0.0.1:{free_port()}", client_id="down",
                               timeout_s=0.5)

        async def arrived() -> int:
            return len(await seen.wait_for(lambda items: len(items) >= 1))

        try:
            yield Peer(channel, "heatlink/fjordsmolt/alerts", arrived, down, "t")
        finally:
            await channel.close()
            await down.close()


@asynccontextmanager
async def dashboard() -> AsyncIterator[Peer]:
    stream = InMemoryAlertStream()

    async def arrived() -> int:
        return len(stream.events.get("fjordsmolt", []))

    yield Peer(DashboardChannel(stream), "fjordsmolt", arrived, None, "")


@pytest.fixture(params=["recording", "webhook", "email", "mqtt", "dashboard"])
def peer(request: pytest.FixtureRequest, mqtt_url: str) -> PeerFactory:
    factories: dict[str, PeerFactory] = {
        "recording": recording, "webhook": webhook, "email": email,
        "mqtt": lambda: mqtt_peer(mqtt_url), "dashboard": dashboard}
    return factories[request.param]


async def test_delivered_when_the_peer_is_up(peer: PeerFactory) -> None:
    async with peer() as p:
        outcome = await p.channel.send(message(p.address))
        assert isinstance(outcome, Delivered)
        assert await p.arrived() == 1


async def test_retry_when_the_peer_is_down(peer: PeerFactory) -> None:
    async with peer() as p:
        if p.down is None:
            pytest.skip("this channel has no peer that can be down")
        outcome = await p.down.send(message(p.down_address))
        assert isinstance(outcome, Retry)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    from ipaddress import ip_address

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip_address(
                "127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "smtp.pem", folder / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_email_uses_starttls_when_offered(tmp_path: Path) -> None:
    import asyncio

    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    arrivals = _Arrivals()
    port = free_port()
    controller = Controller(_SmtpHandler(asyncio.get_running_loop(), arrivals),
                            hostname="127.0.0.1", port=port, tls_context=server_tls,
                            require_starttls=True)
    await asyncio.to_thread(controller.start)
    try:
        client_tls = ssl.create_default_context(cafile=str(cert))
        channel = SmtpEmailChannel(f"smtp://127.0.0.1:{port}", "heatlink@test",
                                   tls_context=client_tls, timeout_s=5)
        assert isinstance(await channel.send(message("vakt@fjordsmolt.example")), Delivered)
        [mail] = await arrivals.wait_for(lambda items: len(items) >= 1)
        assert mail["X-Heatlink-Idempotency-Key"] == "hl-1-1-x"
    finally:
        await asyncio.to_thread(controller.stop)
