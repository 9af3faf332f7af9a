"""`BufferedClient`'s seams on paho: the messages and acknowledgements a broker sees are
the ones paho itself would make (a real Mosquitto; paho's own decoder as the reference)."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt import _packet
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.mqtt_client import BufferedClient, next_packet, plain_publish
from tests.support.servers import broker_login


def publish_packet(topic: bytes, payload: bytes, *, qos: int, mid: int = 0, dup: bool = False,
                   retain: bool = False, properties: bytes = b"\x00") -> tuple[int, bytes]:
    header = 0x30 | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = struct.pack("!H", len(topic)) + topic
    if qos:
        body += struct.pack("!H", mid)
    return header, body + properties + payload


@pytest.mark.parametrize(("qos", "mid", "dup", "retain", "payload"), [
    (1, 4711, False, False, b'{"value": 1}'), (0, 0, False, True, b""),
    (1, 65535, True, False, b"\x00\xff" * 300)])
def test_a_publish_without_properties_reads_as_paho_reads_it(
        qos: int, mid: int, dup: bool, retain: bool, payload: bytes) -> None:
    header, body = publish_packet(b"plant/hx1/temp", payload, qos=qos, mid=mid, dup=dup,
                                  retain=retain)
    ours = plain_publish(header, bytearray(body))
    paho = _packet.decode_publish(header, bytearray(body), MQTTProtocolVersion.MQTTv5)
    assert ours is not None
    assert (ours.topic, ours.mid, ours.qos, ours.dup, ours.retain, ours.payload) == (
        paho.topic.decode(), paho.mid, paho.qos, paho.dup, paho.retain, paho.payload)
    assert not ours.properties.json()  # type: ignore[union-attr]
    assert (ours.timestamp, ours.state) == (0.0, mqtt.MQTTMessage().state)
    assert ours.info.mid == mid  # made when read, as paho makes it


def test_anything_else_is_left_to_paho() -> None:
    with_properties = publish_packet(b"t", b"1", qos=1, mid=1, properties=b"\x02\x01\x01")
    empty_topic = publish_packet(b"", b"1", qos=1, mid=1)
    assert plain_publish(*with_properties) is None  # a payload format indicator
    assert plain_publish(*empty_topic) is None  # only valid with a topic alias
    assert plain_publish(0x32, b"\x00\x05ab") is None  # shorter than its topic says
    assert plain_publish(0x30, b"\x00") is None


def test_a_packet_is_taken_whole_only_when_all_of_it_is_there() -> None:
    data = b"\x40\x02\x00\x07" + b"\x30\x80\x01" + b"x" * 128
    assert next_packet(data, 0) == (0x40, 2, 4)
    assert next_packet(data, 4) == (0x30, 7, 135)
    assert next_packet(data[:-1], 4) is None  # the rest is still on the way
    assert next_packet(b"\x30\xff\xff\xff\xff\x01", 0) is None  # invalid: paho says so
    assert next_packet(data, len(data)) is None


def pump(client: BufferedClient, done: Callable[[], bool], timeout_s: float = 10) -> int:
    """Drive the client as the gateway's event loop does: socket reads, then what the
    client already holds, plain PUBLISH packets first. How many went the plain way."""
    deadline = time.monotonic() + timeout_s
    plain = 0
    while not done():
        assert time.monotonic() < deadline, "the broker did not deliver in time"
        client.loop(timeout=0.05)
        while client.buffered():
            plain += client.read_plain(1024)
            client.loop_read()
    return plain


def receiver(url: str, got: list[mqtt.MQTTMessage]) -> BufferedClient:
    """A persistent session, connected and subscribed to ``seam/#``."""
    client = BufferedClient(CallbackAPIVersion.VERSION2, client_id="seam-receiver",
                            protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True)
    client.on_message = lambda _c, _u, message: got.append(message)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 600
    client.connect(*broker_login(client, url), clean_start=False, properties=props)
    subscribed: list[object] = []
    client.on_subscribe = lambda *args: subscribed.append(args)
    client.subscribe("seam/#", qos=1)
    pump(client, lambda: bool(subscribed))
    return client


def test_messages_arrive_whole_with_their_properties_and_one_write_acknowledges_all(
        mqtt_url: str) -> None:
    got: list[mqtt.MQTTMessage] = []
    client = receiver(mqtt_url, got)
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="seam-publisher",
                            protocol=MQTTProtocolVersion.MQTTv5)
    publisher.connect(*broker_login(publisher, mqtt_url))
    publisher.loop_start()
    sent = []
    for i in range(2000):
        props = None
        if i % 100 == 0:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.UserProperty = ("row", str(i))
        sent.append(publisher.publish(f"seam/{i % 7}", f"{i}".encode() * (i % 50), qos=1,
                                      properties=props))
    acked = 0

    def acknowledge() -> bool:
        """What came since the last look, in one write (the broker sends no more than its
        in-flight window until acknowledged)."""
        nonlocal acked
        client.acks(m.mid for m in got[acked:])
        acked = len(got)
        return acked == len(sent)

    plain = pump(client, acknowledge)
    assert plain > 0  # most came the plain way, the others through paho, in their order
    assert [(m.topic, m.payload) for m in got] == [
        (f"seam/{i % 7}", f"{i}".encode() * (i % 50)) for i in range(2000)]
    assert [m.properties.UserProperty for m in got[::100]] == [  # type: ignore[union-attr]
        [("row", str(i))] for i in range(0, 2000, 100)]
    # The broker answers a connection's packets in order: once it acknowledged a later
    # SUBSCRIBE, it has taken every PUBACK (a session taken over by the next connection
    # could otherwise drop the last ones, still unread at the broker).
    resubscribed: list[object] = []
    client.on_subscribe = lambda *args: resubscribed.append(args)
    client.subscribe("seam/#", qos=1)
    pump(client, lambda: bool(resubscribed))
    client.disconnect()
    pump(client, lambda: not client.is_connected())
    # Back on the same session: every message was acknowledged, so the first to arrive is
    # one published now, not one the broker still held for us.
    got.clear()
    client = receiver(mqtt_url, got)
    publisher.publish("seam/now", b"fresh", qos=1)
    pump(client, lambda: bool(got))
    assert [(m.topic, m.payload) for m in got] == [("seam/now", b"fresh")]
    client.disconnect()
    publisher.disconnect()
    publisher.loop_stop()
