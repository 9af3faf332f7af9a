"""Real receivers for the alert tests: a webhook server (uvicorn), an SMTP server (aiosmtpd)
and an MQTT subscriber (paho on Mosquitto), each letting a test await what arrives."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import uvicorn
import yaml
from aiosmtpd.controller import Controller
from paho.mqtt.enums import CallbackAPIVersion

from alerts.service import AlertService
from alerts.signing import LinkSigner
from heatlink.clock import Clock
from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.loader import EXAMPLE_CLUSTER
from heatlink.findings import Finding
from services.readings.store import latest_values
from services.storage.local_postgres import free_port
from tests.support.servers import broker_login

T0 = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def key(self) -> str:
        return self.headers["idempotency-key"]


class _Arrivals:
    """A list that tests can await a condition on."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Condition()

    async def add(self, item: Any) -> None:
        async with self._changed:
            self.items.append(item)
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[list[Any]], bool],
                       timeout_s: float = 15.0) -> list[Any]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: predicate(self.items)),
                                   timeout_s)
        return self.items


@dataclass
class WebhookReceiver:
    """An HTTP server answering ``status`` (or hanging while ``hang`` is set)."""

    port: int = field(default_factory=free_port)
    status: int = 200
    hang: bool = False
    requests: _Arrivals = field(default_factory=_Arrivals)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests.items if r.path == path]

    async def wait(self, path: str, count: int = 1, timeout_s: float = 15.0) -> list[Received]:
        await self.requests.wait_for(
            lambda items: sum(1 for r in items if r.path == path) >= count, timeout_s)
        return self.at(path)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        await self.requests.add(Received(scope["path"], headers, body))
        if self.hang:
            await self.released.wait()
        await send({"type": "http.response.start", "status": self.status,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})


@asynccontextmanager
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    server = uvicorn.Server(uvicorn.Config(receiver, host="127.0.0.1", port=receiver.port,
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        receiver.released.set()
        server.should_exit = True
        await task


class _SmtpHandler:
    def __init__(self, loop: asyncio.AbstractEventLoop, arrivals: _Arrivals) -> None:
        self.loop = loop
        self.arrivals = arrivals

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        asyncio.run_coroutine_threadsafe(self.arrivals.add(parsed), self.loop)
        return "250 OK"


@asynccontextmanager
async def smtp_server() -> AsyncIterator[tuple[str, _Arrivals]]:
    arrivals = _Arrivals()
    port = free_port()
    controller = Controller(_SmtpHandler(asyncio.get_running_loop(), arrivals),
                            hostname="127.0.0.1", port=port)
    await asyncio.to_thread(controller.start)
    try:
        yield f"smtp://127.0.0.1:{port}", arrivals
    finally:
        await asyncio.to_thread(controller.stop)


def mail_parts(mail: EmailMessage) -> tuple[str, str]:
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None
    assert html is not None
    return text.get_content(), html.get_content()


@asynccontextmanager
async def mqtt_subscriber(url: str, topic: str) -> AsyncIterator[_Arrivals]:
    loop = asyncio.get_running_loop()
    arrivals = _Arrivals()
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{free_port()}")

    def on_connect(c: Any, u: Any, f: Any, reason: Any, p: Any) -> None:
        c.subscribe(topic, qos=1)

    def on_subscribe(c: Any, u: Any, mid: Any, codes: Any, p: Any) -> None:
        subscribed.set()

    def on_message(c: Any, u: Any, msg: Any) -> None:
        asyncio.run_coroutine_threadsafe(arrivals.add((msg.topic, msg.payload, msg.qos)), loop)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(*broker_login(client, url))
    client.loop_start()
    await asyncio.to_thread(subscribed.wait, 10)
    try:
        yield arrivals
    finally:
        client.disconnect()
        client.loop_stop()


def write_cluster(folder: Path, subscriptions: list[dict[str, Any]],
                  alerting: dict[str, Any] | None = None) -> Path:
    """The example cluster with these subscriptions (and alerting policy)."""
    doc = yaml.safe_load(EXAMPLE_CLUSTER.read_text())
    doc["subscriptions"] = subscriptions
    if alerting is not None:
        doc["alerting"] = alerting
    path = folder / "cluster.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def finding(rule_id: str, series: str, state: str, *, kind: str = "supply_disruption",
            owner: str = "glomfjord-smelter", previous: str = "ok", severity: str = "alarm",
            at: datetime = T0, value: float | None = None) -> Finding:
    return Finding(rule_id=rule_id, rule_version=1, kind=kind, series=series, owner=owner,
                   severity=severity, state=state, previous_state=previous, ts=at,
                   since_ts=at - timedelta(seconds=30), detected_at=at, late=False,
                   value=value, slope_per_h=None, predicted_time_to_limit_s=None)


HX1_POWER = "glomfjord/smelter/hx1/primary/power"
TANK_TEMP = "glomfjord/smoltfarm/tank1/temp"


def trip(rule_id: str = "hx1-disruption", at: datetime = T0) -> Finding:
    """The furnace trip as the monitor reports it: heat power through HX-1 collapses."""
    return finding(rule_id, HX1_POWER, "disrupted", at=at, value=300.0)


async def settled(pool: Any, now: datetime, timeout_s: float = 15.0) -> None:
    """Until no delivery is due or being sent: the worker runs in a thread of the service,
    whose progress is visible only in the database, so this polls it."""
    for _ in range(int(timeout_s / 0.02)):
        busy = await pool.fetchval(
            """SELECT count(*) FROM alert_deliveries d WHERE status = 'pending'
                 AND (next_attempt_at <= $1 OR EXISTS (
                      SELECT 1 FROM alert_delivery_attempts a
                      WHERE a.delivery_id = d.id AND a.finished_at IS NULL))""", now)
        if busy == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("deliveries still due or in flight")


def alert_service(pool: Any, index: ClusterIndex, clock: Clock) -> AlertService:
    """The alerts' FindingSink as the service builds it, on a test's pool and clock."""
    return AlertService(pool, index, clock, LinkSigner(b"k", "http://x", 60),
                        latest=latest_values)
