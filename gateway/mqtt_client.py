"""`BufferedClient`: paho's MQTT client with cheaper paths for a gateway's intake.

paho is the chosen library and stays as it is; this subclass overrides four of its private
methods, each a narrow seam kept to what paho itself does (tests/gateway/test_mqtt_client.py
checks each against a real Mosquitto and against paho's own decoding):

- ``_sock_recv``: paho takes each packet off the socket in several small ``recv`` calls
  (the type byte, the length bytes one by one, then the body); at 20,000 messages a second
  those system calls cost more than the messages. This reads what the socket holds, up to
  256 KiB, and serves paho's small reads from it.
- ``_packet_read``: when a whole packet is already in that buffer, its fixed header is
  read there and paho is handed the packet whole, instead of taking it byte by byte.
- ``_handle_publish``: for an MQTT 5 PUBLISH at QoS 0 or 1 without properties (a property
  length of 0, what nearly every publisher sends) it builds the message without paho's
  `Properties` object, whose construction and ``unpack`` took a third of the receive path.
  Every other PUBLISH (properties present, QoS 2, MQTT 3, a packet too short) goes to paho.
- ``read_plain``: such PUBLISH packets, when already whole in that buffer, go to
  ``on_message`` one after the other without paho's per-packet round (``loop_read``,
  ``_packet_read``'s state, ``_packet_handle``, and the topic matcher that
  ``_handle_on_message`` runs for callbacks by filter, which the gateway never adds): a
  third of the time a message took. It stops at the first other packet, for paho.
- ``acks``: PUBACKs for a whole arrival as one write (one packet queued, one ``send``)
  instead of one per message. The broker reads them as the separate packets they are.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

PUBACK = 0x40
PUBLISH = 0x30
_PUBACK = struct.Struct("!BBH")
# The properties of every message that came without any. Shared: nothing in the gateway
# changes a received message's properties, and a fresh object per message is the cost
# this seam avoids.
NO_PROPERTIES = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]


class BufferedClient(mqtt.Client):
    CHUNK_BYTES = 256 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rx = b""
        self._rx_pos = 0
        self._filtered = False  # a callback by topic filter was added: paho's path only

    # ---- reading the socket ----------------------------------------------------------------

    def buffered(self) -> bool:
        """Bytes read from the socket that paho has not taken yet."""
        return self._rx_pos < len(self._rx)

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rx_pos >= len(self._rx):
            chunk = super()._sock_recv(self.CHUNK_BYTES)  # BlockingIOError when empty
            if not chunk:
                return chunk  # the broker closed the connection
            self._rx, self._rx_pos = chunk, 0
        start = self._rx_pos
        self._rx_pos = min(len(self._rx), start + bufsize)
        return self._rx[start:self._rx_pos]

    def _reset_sockets(self, sockpair_only: bool = False) -> None:
        if not sockpair_only:  # a new connection must not start with the old one's bytes
            self._rx, self._rx_pos = b"", 0
        super()._reset_sockets(sockpair_only)

    def _packet_read(self) -> MQTTErrorCode:
        if self._in_packet["command"] == 0:  # between packets
            whole = next_packet(self._rx, self._rx_pos)
            if whole is not None:
                command, start, end = whole
                self._rx_pos = end
                # The state paho's own reads leave once a packet is complete; paho then
                # handles it and starts over, as after reading it itself.
                self._in_packet = {
                    "command": command, "have_remaining": 1, "remaining_count": [],
                    "remaining_mult": 1, "remaining_length": end - start,
                    "packet": bytearray(self._rx[start:end]), "to_process": 0, "pos": 0}
        return super()._packet_read()

    # ---- a PUBLISH without properties --------------------------------------------------------

    def _handle_publish(self) -> MQTTErrorCode:
        header: int = self._in_packet["command"]
        packet: bytearray = self._in_packet["packet"]
        qos = (header & 0x06) >> 1
        message = None
        if self._protocol == MQTTProtocolVersion.MQTTv5 and qos < 2:
            message = plain_publish(header, packet)
        if message is None:
            return super()._handle_publish()
        message.timestamp = mqtt.time_func()
        if self._logger is not None or self._on_log is not None:  # (the property locks)
            self._easy_log(mqtt.MQTT_LOG_DEBUG, "Received PUBLISH (d%d, q%d, r%d, m%d), %r, "
                           "no properties, ...  (%d bytes)", message.dup, message.qos,
                           message.retain, message.mid, message._topic, len(message.payload))
        self._handle_on_message(message)
        if qos == 0 or self._manual_ack:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return self._send_puback(message.mid)

    def message_callback_add(self, sub: str, callback: Any) -> None:
        self._filtered = True
        super().message_callback_add(sub, callback)

    def read_plain(self, limit: int) -> int:
        """Hand ``on_message`` up to `limit` plain PUBLISH packets (QoS 0 or 1, no
        properties: `plain_publish`) that are whole in the buffer, as paho would with manual
        acknowledgement; stop at any other packet or one not whole yet, which `loop_read`
        then takes. Returns how many were handed on."""
        on_message = self.on_message
        if (on_message is None or self._in_packet["command"] != 0 or not self._manual_ack
                or self._protocol != MQTTProtocolVersion.MQTTv5 or self._filtered
                or self._logger is not None or self._on_log is not None):
            return 0
        data = self._rx
        handled = 0
        now = mqtt.time_func()
        while handled < limit:
            whole = next_packet(data, self._rx_pos)
            if whole is None:
                break
            header, start, end = whole
            if header & 0xF0 != PUBLISH or header & 0x06 > 0x02:  # QoS 2 (or 3): paho
                break
            message = plain_publish(header, data, start, end)
            if message is None:
                break
            message.timestamp = now
            self._rx_pos = end  # taken, whatever the callback does
            # Held as paho holds it around callbacks: a publish from inside is queued for
            # the socket's next writable turn, not written in the middle of a read.
            with self._in_callback_mutex:
                on_message(self, self._userdata, message)
            handled += 1
        if handled:
            with self._msgtime_mutex:  # what the keep-alive checks
                self._last_bytes_received = now
        return handled

    # ---- acknowledgements --------------------------------------------------------------------

    def acks(self, mids: Iterable[int]) -> None:
        """PUBACK each QoS 1 message id, all in one write."""
        packet = b"".join(_PUBACK.pack(PUBACK, 2, mid) for mid in mids)
        if packet:
            # A PUBACK packet as paho queues it; paho does nothing on writing one but write it.
            self._packet_queue(PUBACK, packet, 0, 1)


def next_packet(data: bytes, pos: int) -> tuple[int, int, int] | None:
    """(command byte, start, end of the body) of the MQTT packet at `pos` when all of it is
    in `data`; None when it is not (paho reads it then), or its length is not valid MQTT."""
    size = len(data)
    if pos >= size:
        return None
    length, mult, at = 0, 1, pos + 1
    for _ in range(4):  # the remaining length takes at most four bytes
        if at >= size:
            return None
        byte = data[at]
        at += 1
        length += (byte & 127) * mult
        mult *= 128
        if not byte & 128:
            return (data[pos], at, at + length) if at + length <= size else None
    return None  # a fifth length byte: paho reports the protocol error


def plain_publish(header: int, packet: bytes | bytearray, begin: int = 0,
                  size: int | None = None) -> mqtt.MQTTMessage | None:
    """The message of an MQTT 5 PUBLISH (QoS 0 or 1) whose body is `packet[begin:size]` and
    whose property length is 0, as paho would make it; None for any other packet (paho
    decodes those, or says what is wrong)."""
    qos = (header & 0x06) >> 1
    if size is None:
        size = len(packet)
    if size - begin < 2:
        return None
    topic_end = begin + 2 + ((packet[begin] << 8) | packet[begin + 1])
    mid = 0
    pos = topic_end
    if qos:
        pos += 2
        if pos > size:
            return None
        mid = (packet[topic_end] << 8) | packet[topic_end + 1]
    # An empty topic is valid only with a topic alias, which is a property: paho's case.
    if topic_end == begin + 2 or pos >= size or packet[pos] != 0:
        return None
    return ReceivedMessage(mid, bytes(packet[begin + 2:topic_end]), bytes(packet[pos + 1:size]),
                           qos, bool(header & 0x08), bool(header & 0x01))


_INFO: Any = mqtt.MQTTMessage.__dict__["info"]  # the slot that holds a message's `info`


class ReceivedMessage(mqtt.MQTTMessage):
    """A received message as paho makes it, but for its `info`: the handle of a message
    being published (with a lock and a condition, a fifth of a received message's cost),
    which nothing reads of a received one. It is made if it is read."""

    __slots__ = ()

    def __init__(self, mid: int, topic: bytes, payload: bytes, qos: int, dup: bool,
                 retain: bool) -> None:
        # Every slot paho's constructor sets, but `info`.
        self.timestamp = 0.0
        self.state = mqtt.mqtt_ms_invalid
        self.mid = mid
        self._topic = topic
        self.payload = payload
        self.qos = qos
        self.dup = dup
        self.retain = retain
        self.properties = NO_PROPERTIES

    @property
    def info(self) -> mqtt.MQTTMessageInfo:
        try:
            held: mqtt.MQTTMessageInfo = _INFO.__get__(self)
        except AttributeError:
            held = mqtt.MQTTMessageInfo(self.mid)
            _INFO.__set__(self, held)
        return held

    @info.setter
    def info(self, value: mqtt.MQTTMessageInfo) -> None:
        _INFO.__set__(self, value)
