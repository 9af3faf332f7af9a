"""`MqttSource`: an MQTT 5 persistent session at QoS 1 with acknowledgement after buffering.

The broker keeps every message we have not acknowledged (clean start off, session expiry),
and paho acknowledges only when told to (`manual_ack=True`): the runner calls an arrival's
`ack` after the buffer has the readings, so a crash or a broker restart loses nothing that
was acknowledged. Messages the broker resends after a reconnect are stored again; the
service's idempotency by (series, source timestamp) makes that harmless.

paho runs on the event loop (its documented "external loop" mode: the loop watches the
socket and calls `loop_read`/`loop_write`), not in its own thread. With a thread, the two
threads fight for the GIL on every message and each acknowledgement wakes the other: that
halved throughput. Only the blocking TCP connect runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from gateway.columns import ReadingColumns
from gateway.config import MqttConnection, MqttSourceConfig
from gateway.mqtt_client import BufferedClient
from gateway.mqtt_payload import BadPayload, TopicMap, parse_payload
from gateway.protocols import Arrival
from gateway.stats import SourceStats
from heatlink.aio import cancel_and_wait, forget, raise_if_cancel_requested, wait_event
from heatlink.backoff import Backoff
from heatlink.broker_url import parse_broker_url
from heatlink.clock import Clock
from heatlink.wire import Reading

log = logging.getLogger("gateway.mqtt")

# (connection generation, message id, qos) of a message to acknowledge once buffered
Inbound = tuple[int, int, int]
READS_PER_WAKE = 1024  # packets read per "socket readable" before yielding to the loop
CONNECT_GRACE_S = 1.0  # how long a stop waits for a TCP connect already under way


class MqttClientSource:
    """A broker connection on the event loop: persistent session, QoS 1, acknowledgement
    after buffering, reconnects. Subclasses say what to subscribe to and what a message
    means (`_subscriptions`, `_on_message`, which calls `_arrived`), and may act at the
    edges of a connection (`_prepare`, `_on_subscribed`, `_on_lost`, `_before_disconnect`).
    """

    kind = "mqtt"

    def __init__(self, config: MqttConnection, name: str, client_id: str, clock: Clock,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.name = name
        self.stats = SourceStats(name, self.kind)
        self._client_id = client_id
        self._clock = clock
        self._rng = rng or random.Random()
        self._backoff = Backoff.from_config(config.reconnect)
        self._inbox = ReadingColumns()
        self._acks: list[Inbound] = []
        self._wake = asyncio.Event()
        self._lost = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        # Message ids are per connection: an ack for a message of an earlier connection
        # must not be sent on the new one (it could acknowledge another message).
        self._generation = 0
        self._received = 0
        self._client: BufferedClient | None = None
        self._session_present = False
        self._refused = False
        self._stopping = False  # a disconnect the source asked for is no outage

    @property
    def up(self) -> bool:
        return self.stats.up

    # ---- paho callbacks (on the event loop, except socket ones during a connect) ----------

    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: Any,
                    reason_code: Any, _properties: Any) -> None:
        if reason_code.is_failure:
            self._refused = True
            self.stats.went_down(f"broker refused the connection: {reason_code}")
            return
        self._refused = False
        self._generation += 1
        # Subscribing again is harmless when the broker kept our session, and needed when
        # it did not (session expired, broker lost its persistence).
        client.subscribe([(f, SubscribeOptions(qos=1)) for f in self._subscriptions()])
        self._session_present = bool(getattr(flags, "session_present", False))

    def _subscriptions(self) -> list[str]:
        raise NotImplementedError

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int,
                      reason_codes: list[Any], _properties: Any) -> None:
        refused = [str(rc) for rc in reason_codes if rc.is_failure]
        if refused:
            self.stats.went_down(f"broker refused the subscription: {', '.join(refused)}")
            return
        session = "resumed" if self._session_present else "new"
        self.stats.went_up(f"subscribed to {len(reason_codes)} filter(s), session {session}")
        self._on_subscribed(_client)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any,
                       reason_code: Any, _properties: Any) -> None:
        # The refusal says more than the disconnect that follows it.
        if not self._refused and not self._stopping:
            self.stats.went_down(f"disconnected: {reason_code}")
        self._in_loop(self._lost.set)
        self._in_loop(self._on_lost)

    def _on_message(self, _client: mqtt.Client, _userdata: Any,
                    message: mqtt.MQTTMessage) -> None:
        raise NotImplementedError

    def _arrived(self, message: mqtt.MQTTMessage) -> None:
        """Count a message; the runner acknowledges it once the readings taken from it
        (appended to `_inbox` before this call) are in the buffer."""
        self._received += 1
        if not self._acks:
            self._wake.set()
        self._acks.append((self._generation, message.mid, message.qos))

    def _add_readings(self, readings: list[Reading]) -> None:
        """Readings that come from no message (a lost connection made them stale)."""
        if readings:
            self._inbox.extend(readings)
            self._wake.set()

    # ---- hooks at the edges of a connection -------------------------------------------------

    def _prepare(self, client: mqtt.Client) -> None:
        """Before each connection attempt (e.g. the will it registers)."""

    def _on_subscribed(self, client: mqtt.Client) -> None:
        """Connected and subscribed."""

    def _on_lost(self) -> None:
        """The connection is gone (on the event loop)."""

    def _before_disconnect(self, client: mqtt.Client) -> None:
        """A clean stop, just before the DISCONNECT."""

    # ---- paho's socket on the event loop --------------------------------------------------

    def _in_loop(self, fn: Callable[..., object], *args: object) -> None:
        """Run `fn` on the event loop: now when called from it, else scheduled."""
        if self._loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def _on_socket_open(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        self._in_loop(self._watch, sock)

    def _watch(self, sock: socket.socket) -> None:
        assert self._loop is not None
        self._loop.add_reader(sock, self._read, sock)

    def _on_socket_close(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        self._in_loop(self._unwatch, sock)

    def _unwatch(self, sock: Any) -> None:
        assert self._loop is not None
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)

    def _on_register_write(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        self._in_loop(self._watch_write, sock)

    def _watch_write(self, sock: socket.socket) -> None:
        if self._loop is not None and self._client is not None:
            self._loop.add_writer(sock, self._client.loop_write)

    def _on_unregister_write(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        self._in_loop(self._unwatch_write, sock)

    def _unwatch_write(self, sock: socket.socket) -> None:
        assert self._loop is not None
        self._loop.remove_writer(sock)

    def _read(self, sock: socket.socket) -> None:
        client = self._client
        if client is None:
            return
        # paho reads one packet per call; read on while packets keep coming. Plain
        # PUBLISH packets already whole in the client's buffer go first, in one go.
        budget = READS_PER_WAKE
        while budget > 0:
            handed = client.read_plain(budget)
            before = self._received
            if client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS or \
                    (self._received == before and not handed):
                break
            budget -= handed + 1
        # Bytes already taken off the socket (ours, or TLS's decrypted ones) do not make it
        # readable again: come back for them.
        held = client.buffered()
        if (held or (isinstance(sock, ssl.SSLSocket) and sock.pending())) and \
                self._loop is not None:
            self._loop.call_soon(self._read, sock)

    # ---- life cycle -----------------------------------------------------------------------

    def _make_client(self) -> BufferedClient:
        cfg = self.config
        client = BufferedClient(CallbackAPIVersion.VERSION2, client_id=self._client_id,
                                protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True)
        address = parse_broker_url(cfg.url)
        if cfg.username or address.username:
            client.username_pw_set(cfg.username or address.username,
                                   cfg.resolved_password() if cfg.username else address.password)
        if address.tls:
            client.tls_set(ca_certs=str(cfg.ca_file) if cfg.ca_file else None,
                           cert_reqs=ssl.CERT_REQUIRED)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = cfg.session_expiry_s
        props.ReceiveMaximum = cfg.receive_maximum
        client.connect_async(address.host, address.port,
                             keepalive=cfg.keepalive_s, clean_start=False, properties=props)
        return client

    async def stream(self) -> AsyncIterator[Arrival]:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        client = self._make_client()
        self._client = client
        self._stopping = False
        keeper = asyncio.create_task(self._keep_connected(client), name=f"mqtt {self.name}")
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                inbound, self._acks = self._acks, []
                readings, self._inbox = self._inbox, ReadingColumns()
                if not inbound and not readings:
                    continue
                self.stats.readings_total += len(readings)
                yield Arrival(readings, ack=functools.partial(self._ack, inbound))
        finally:
            await cancel_and_wait(keeper)
            self._stopping = True
            with contextlib.suppress(Exception):
                if client.is_connected():
                    self._before_disconnect(client)
                client.disconnect()
                # Flush the DISCONNECT now: paho closes the socket once it is written, and
                # the broker keeps our session instead of waiting for a keep-alive timeout.
                client.loop_write()
            sock = client.socket()
            if sock is not None:
                self._unwatch(sock)
            self._client = None

    async def _keep_connected(self, client: mqtt.Client) -> None:
        """Connect, reconnect with backoff after a loss, and run paho's housekeeping
        (keep-alive pings, timeouts) once a second."""
        attempt = 0
        while True:
            raise_if_cancel_requested()
            self._lost.clear()
            try:
                self._prepare(client)
                await self._connect(client)
            except (OSError, mqtt.WebsocketConnectionError) as exc:
                self.stats.went_down(f"cannot connect to {self.config.url}: {exc}")
                attempt += 1
                await asyncio.sleep(self._backoff.delay_s(attempt, self._rng))
                continue
            attempt = 0
            while not await wait_event(self._lost, 1.0):
                client.loop_misc()
            self.stats.reconnects_total += 1
            attempt += 1
            await asyncio.sleep(self._backoff.delay_s(attempt, self._rng))

    async def _connect(self, client: mqtt.Client) -> None:
        # The TCP (and TLS) connect blocks: keep it off the event loop.
        connecting = asyncio.create_task(asyncio.to_thread(client.reconnect))
        try:
            await asyncio.shield(connecting)
        except asyncio.CancelledError:
            # The thread connects on regardless. Give it a moment, so that the socket it
            # opens is watched and then closed by the stream's end rather than left open.
            connecting.add_done_callback(forget)
            await asyncio.wait({connecting}, timeout=CONNECT_GRACE_S)
            raise

    def _ack(self, inbound: list[Inbound]) -> None:
        client = self._client
        if client is None:
            return
        generation = self._generation
        client.acks(mid for gen, mid, qos in inbound if qos == 1 and gen == generation)
        for gen, mid, qos in inbound:
            if qos == 2 and gen == generation:  # not subscribed for; paho answers it
                client.ack(mid, qos)


class MqttSource(MqttClientSource):
    """Topics mapped to series by the config's filters; payloads JSON or plain numbers."""

    kind = "mqtt"
    config: MqttSourceConfig

    def __init__(self, config: MqttSourceConfig, clock: Clock,
                 rng: random.Random | None = None) -> None:
        super().__init__(config, config.name, config.client_id, clock, rng)
        self._topics = TopicMap(config.topics)

    def _subscriptions(self) -> list[str]:
        return [t.filter for t in self.config.topics]

    def _on_message(self, _client: mqtt.Client, _userdata: Any,
                    message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        found = self._topics.lookup(topic)
        if found is None:
            self.stats.bad_payload("unmapped_topic", topic)
        else:
            series, fmt, unit = found
            parsed = parse_payload(series, message.payload, fmt, self._clock.now)
            if isinstance(parsed, BadPayload):
                self.stats.bad_payload(parsed.kind, f"{topic}: {parsed.sample}")
            else:
                self._inbox.append(parsed if unit is None else parsed._replace(unit=unit))
        self._arrived(message)
