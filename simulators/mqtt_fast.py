"""A minimal asyncio MQTT 3.1.1 publisher for load generation only.

paho-mqtt spends most of its time per message in Python bookkeeping: here it acks about
15–23 k QoS 1 messages/s at best. Load tests need a steady 20 k/s and more from one
process while leaving CPU for what is measured, so this publisher encodes PUBLISH
packets itself, writes them in batches and counts PUBACKs. It does CONNECT, PUBLISH
(QoS 0/1) and PUBACK, and nothing else: no subscriptions, no reconnects, no retries.
The simulator proper uses paho-mqtt.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from urllib.parse import unquote, urlsplit

CONNECT, CONNACK, PUBLISH, PUBACK = 0x10, 0x20, 0x30, 0x40


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: str | bytes) -> bytes:
    raw = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(raw)) + raw


def connect_packet(client_id: str, username: str | None, password: str | None,
                   keepalive_s: int = 0) -> bytes:
    flags = 0x02  # clean session
    payload = _string(client_id)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
        if password is not None:
            flags |= 0x40
            payload += _string(password)
    body = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive_s) + payload
    return bytes([CONNECT]) + _remaining_length(len(body)) + body


def publish_packet(topic: bytes, payload: bytes, qos: int, packet_id: int) -> bytes:
    head = struct.pack("!H", len(topic)) + topic
    if qos:
        head += struct.pack("!H", packet_id)
    return (bytes([PUBLISH | (qos << 1)]) + _remaining_length(len(head) + len(payload))
            + head + payload)


class FastMqttPublisher:
    def __init__(self, url: str, *, qos: int = 1, client_id: str = "heatlink-load",
                 ca_file: str | None = None) -> None:
        self.url = url
        self.qos = qos
        self.client_id = client_id
        self.ca_file = ca_file
        self.sent = 0
        self.acked = 0
        self._next_id = 1
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._acks: asyncio.Task[None] | None = None
        self._acked_event = asyncio.Event()

    async def connect(self) -> None:
        parts = urlsplit(self.url)
        tls = parts.scheme in ("mqtts", "ssl")
        context = ssl.create_default_context(cafile=self.ca_file) if tls else None
        self._reader, self._writer = await asyncio.open_connection(
            parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), ssl=context)
        self._writer.write(connect_packet(
            self.client_id, unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None))
        await self._writer.drain()
        header = await self._reader.readexactly(4)
        if header[0] != CONNACK or header[3] != 0:
            raise ConnectionError(f"broker refused the connection (return code {header[3]})")
        self._acks = asyncio.create_task(self._read_acks())

    async def _read_acks(self) -> None:
        assert self._reader is not None
        while True:
            # Every packet a publish-only client receives here is a 4-byte PUBACK.
            chunk = await self._reader.readexactly(4 * 256) if self.sent - self.acked >= 256 \
                else await self._reader.readexactly(4)
            self.acked += len(chunk) // 4
            self._acked_event.set()

    def publish_many(self, messages: list[tuple[bytes, bytes]]) -> None:
        """Queue (topic, payload) pairs in one write; call ``drain`` now and then."""
        assert self._writer is not None
        packets = []
        for topic, payload in messages:
            packets.append(publish_packet(topic, payload, self.qos, self._next_id))
            self._next_id = self._next_id % 65535 + 1
        self._writer.write(b"".join(packets))
        self.sent += len(messages)
        if not self.qos:
            self.acked = self.sent

    async def drain(self) -> None:
        assert self._writer is not None
        await self._writer.drain()

    async def wait_acked(self, timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            while self.acked < self.sent:
                self._acked_event.clear()
                await self._acked_event.wait()

    async def close(self) -> None:
        if self._acks is not None:
            self._acks.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncio.IncompleteReadError):
                await self._acks
        if self._writer is not None:
            self._writer.write(bytes([0xE0, 0]))  # DISCONNECT
            with contextlib.suppress(ConnectionError):
                await self._writer.drain()
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
