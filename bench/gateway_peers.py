"""The benchmark's peers, each run in its own process so they do not share the gateway's
CPU time slice (the GIL): an ingest sink, an MQTT publisher, an OPC UA server that changes
values as fast as it can. None of this is used by the gateway itself."""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.sharedctypes import Synchronized
from typing import Any
from urllib.parse import urlsplit


def run_sink(port: int, received: Synchronized[int]) -> None:
    """POST /v1/ingest and /v1/ingest/runs: decompress, parse, count, answer like the
    service (all accepted).

    It reads the body as the service's common path does (`read_typed`, msgspec): the json
    module took a third of the sink's time per batch, on a machine whose two cores the
    gateway shares with it. It speaks HTTP/1.1 and keeps the connection, as the service
    does: with HTTP/1.0 every batch paid for a new connection (a tenth of the gateway's
    samples on the way out, in a profile)."""
    from services.ingest.decode import read_typed
    from services.ingest.runs import TypedRuns, read_typed_runs, runs_size

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The answer's headers and body go out as two writes: with Nagle's algorithm the
        # second waits for the gateway's delayed acknowledgement, 40 ms a batch.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            batch = read_typed_runs(body) if self.path.endswith("/runs") else read_typed(body)
            if batch is None:
                self.send_error(400, "the sink reads only the common body")
                return
            n = runs_size(batch.runs) if isinstance(batch, TypedRuns) else len(batch.readings)
            with received.get_lock():
                received.value += n
            answer = json.dumps({"batch_id": batch.batch_id, "accepted": n}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            # A gateway that stops drops its kept connection: not the sink's error to print.
            if not isinstance(sys.exc_info()[1], ConnectionError):
                super().handle_error(request, client_address)

    Server(("127.0.0.1", port), Handler).serve_forever()


def run_publisher(url: str, messages: int, series: int, done: Synchronized[int]) -> None:
    """Publish `messages` JSON payloads at QoS 1 as fast as the broker takes them."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    parts = urlsplit(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.max_inflight_messages_set(2000)
    client.max_queued_messages_set(0)
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    client.loop_start()
    base_s = time.time() - messages  # distinct, past timestamps: one second apart
    infos = []
    for i in range(messages):
        ts = datetime.fromtimestamp(base_s + i, UTC).isoformat()
        payload = json.dumps({"value": 20.0 + (i % 100) / 10, "ts": ts, "quality": "good"})
        infos.append(client.publish(f"bench/s{i % series}", payload, qos=1))
    for info in infos:
        info.wait_for_publish(timeout=120)
    done.value = 1
    client.disconnect()
    client.loop_stop()


def run_sparkplug_publisher(url: str, group: str, messages: int, metrics: int,
                            done: Synchronized[int]) -> None:
    """An edge node's births, then `messages` DDATA of `metrics` metrics each, by alias, at
    QoS 1 (so the broker queues them for the gateway's session while it is away)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from gateway.sparkplug import sparkplug_b_pb2 as pb

    parts = urlsplit(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-edge")
    client.max_inflight_messages_set(2000)
    client.max_queued_messages_set(0)
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    client.loop_start()
    base_ms = int((time.time() - messages) * 1000)  # past, one second apart
    topic = f"spBv1.0/{group}"
    birth = pb.Payload(timestamp=base_ms, seq=0)
    bd_seq = birth.metrics.add(name="bdSeq", datatype=pb.Int64, long_value=0)
    bd_seq.timestamp = base_ms
    infos = [client.publish(f"{topic}/NBIRTH/bench-edge", birth.SerializeToString(), qos=1)]
    device = pb.Payload(timestamp=base_ms, seq=1)
    for k in range(metrics):
        device.metrics.add(name=f"m{k}", alias=k + 1, datatype=pb.Double, double_value=0.0,
                           timestamp=base_ms - 1000)
    infos.append(client.publish(f"{topic}/DBIRTH/bench-edge/dev", device.SerializeToString(),
                                qos=1))
    for i in range(messages):
        data = pb.Payload(timestamp=base_ms + i * 1000, seq=(i + 2) % 256)
        for k in range(metrics):
            data.metrics.add(alias=k + 1, timestamp=base_ms + i * 1000,
                             double_value=20.0 + (i % 100) / 10 + k)
        infos.append(client.publish(f"{topic}/DDATA/bench-edge/dev", data.SerializeToString(),
                                    qos=1))
    for info in infos:
        info.wait_for_publish(timeout=120)
    done.value = 1
    client.disconnect()
    client.loop_stop()


def run_opcua_server(port: int, items: int, seconds: float, written: Synchronized[int],
                     ready: Synchronized[int]) -> None:
    asyncio.run(_opcua_server(port, items, seconds, written, ready))


async def _opcua_server(port: int, items: int, seconds: float, written: Synchronized[int],
                        ready: Synchronized[int]) -> None:
    import logging

    from asyncua import ua
    from asyncua.server.server import Server

    logging.getLogger("asyncua").setLevel(logging.ERROR)
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/bench/")
    ns = await server.register_namespace("urn:heatlink:bench")
    nodes = [await server.nodes.objects.add_variable(
        ua.NodeId.from_string(f"ns={ns};s=bench/s{i}"), f"s{i}", 0.0) for i in range(items)]
    await server.start()
    ready.value = 1
    while True:  # until the gateway has subscribed (a flag in shared memory)
        if ready.value >= 2:
            break
        await asyncio.sleep(0.05)
    started = time.monotonic()
    count = 0
    while time.monotonic() - started < seconds:
        now = datetime.now(UTC)
        for i, node in enumerate(nodes):
            # asyncua types its DateTime as a distinct alias of datetime
            dv = ua.DataValue(ua.Variant(float(count + i), ua.VariantType.Double),
                              SourceTimestamp=now, ServerTimestamp=now)  # type: ignore[arg-type]
            await server.write_attribute_value(node.nodeid, dv)
        count += len(nodes)
        written.value = count
        await asyncio.sleep(0)
    ready.value = 3
    await asyncio.sleep(2)  # let the last publish go out
    await server.stop()
