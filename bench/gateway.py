"""`heatlink bench gateway`: what one gateway process sustains, into buffer and uplink.

    OPC UA   value changes/s from a server changing `--opcua-items` values flat out
    MQTT     messages/s draining a broker queue of `--mqtt-messages` QoS 1 messages
    Sparkplug metrics/s draining `--sparkplug-messages` DDATA of 10 metrics each
             (both MQTT paths also as a ratio to mosquitto_sub on the same queued load;
             each the median of three rounds, the load published again for each)
    backlog  readings/s a buffer of `--backlog` readings drains to the uplink
    memory   the gateway process's peak resident set

Peers (ingest sink, MQTT publisher, OPC UA server) run in their own processes; the broker is
a local `mosquitto` (or `--mqtt-url`). Targets from issue 4: >= 5,000 changes/s, >= 20,000
messages/s, >= 50,000 readings/s, < 150 MB.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import resource
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import typer

from bench import gateway_peers as bench_peers
from bench.gateway_sparkplug import (
    METRICS_PER_MESSAGE,
    ROUNDS,
    Drained,
    bench_sparkplug,
    in_rounds,
    until_up,
)
from bench.mosquitto_sub import MosquittoSub
from gateway.buffer_sqlite import SqliteBuffer
from gateway.config import GatewayConfig, parse_config
from gateway.runner import Gateway, tune_process
from heatlink.clock import SystemClock
from heatlink.wire import Reading
from services.storage.local_postgres import free_port

app = typer.Typer(help=__doc__, add_completion=False)
SPAWN = multiprocessing.get_context("spawn")


def wait_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


@contextmanager
def sink() -> Iterator[tuple[str, Synchronized[int]]]:
    port = free_port()
    received: Synchronized[int] = SPAWN.Value("q", 0)
    process = SPAWN.Process(target=bench_peers.run_sink, args=(port, received), daemon=True)
    process.start()
    wait_port(port)
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        process.terminate()
        process.join()


@contextmanager
def mosquitto(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "mosquitto.conf"
        config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                          "max_queued_messages 0\nmax_inflight_messages 0\n")
        process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            yield f"mqtt://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait()


async def until(condition: Callable[[], bool], timeout_s: float) -> None:
    """Poll a condition set by another process (shared memory offers nothing to await)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step did not finish in time")
        await asyncio.sleep(0.01)


def gateway_config(folder: Path, sink_url: str, sources: list[dict[str, Any]]) -> GatewayConfig:
    return parse_config({
        "sources": sources,
        "buffer": {"path": str(folder / "buffer.sqlite3"), "synchronous": "full"},
        "uplink": {"url": sink_url, "gateway_id": "bench", "token": "bench",
                   "batch_max_readings": 10_000, "dead_letter_path": str(folder / "dead.jsonl")},
        "http": {"port": 0},
    })


async def bench_mqtt(folder: Path, sink_url: str, received: Synchronized[int], url: str,
                     messages: int, rounds: int = ROUNDS) -> list[Drained]:
    source = {"kind": "mqtt", "name": "mqtt", "url": url, "client_id": "bench-gateway",
              "receive_maximum": 20_000,
              "topics": [{"filter": "bench/+", "series": "bench/{0}"}]}
    config = gateway_config(folder / "mqtt", sink_url, [source])
    # Create the persistent sessions (the gateway's and mosquitto_sub's), leave, let the
    # broker queue everything, come back: the client alone sets the pace, not the publisher.
    await until_up(Gateway(config))
    sub = MosquittoSub(url, "bench/+", "bench-sub-mqtt")
    if sub.available:
        sub.subscribe()
    return await in_rounds(config, received, sub, SPAWN, lambda done: SPAWN.Process(
        target=bench_peers.run_publisher, args=(url, messages, 30, done)),
        messages, messages, rounds)


async def bench_opcua(folder: Path, sink_url: str, items: int, seconds: float) -> tuple[
        float, float]:
    port = free_port()
    written: Synchronized[int] = SPAWN.Value("q", 0)
    ready: Synchronized[int] = SPAWN.Value("i", 0)
    server = SPAWN.Process(target=bench_peers.run_opcua_server,
                           args=(port, items, seconds, written, ready))
    server.start()
    await until(lambda: ready.value >= 1, 30)
    source = {"kind": "opcua", "name": "opcua", "endpoint": f"opc.tcp://127.0.0.1:{port}/bench/",
              "publishing_interval_ms": 100, "sampling_interval_ms": 0, "queue_size": 1000,
              "nodes": [{"node_id": f"ns=2;s=bench/s{i}", "series": f"bench/s{i}"}
                        for i in range(items)]}
    gateway = Gateway(gateway_config(folder / "opcua", sink_url, [source]))
    task = asyncio.create_task(gateway.run())
    try:
        await until(lambda: gateway.sources[0].up, 30)
        base_in = gateway.sources[0].stats.readings_total
        ready.value = 2
        started = time.monotonic()
        await until(lambda: ready.value >= 3, seconds + 30)
        produced_s = time.monotonic() - started
        # Wait for what was written to come in and go out.
        stats = gateway.sources[0].stats
        with contextlib.suppress(TimeoutError):
            await until(lambda: stats.readings_total - base_in >= written.value
                        and gateway.forwarder.stats.readings_out_total >= stats.readings_total,
                        30)
        took_s = time.monotonic() - started
        got = gateway.sources[0].stats.readings_total - base_in
        typer.echo(f"  OPC UA server wrote {written.value} values in {produced_s:.1f} s "
                   f"({written.value / produced_s:,.0f}/s); gateway received {got}")
        return got / produced_s, gateway.forwarder.stats.readings_out_total / took_s
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        server.join(timeout=10)


async def bench_backlog(folder: Path, sink_url: str, received: Synchronized[int],
                        backlog: int) -> float:
    config = gateway_config(folder / "backlog", sink_url, [
        {"kind": "mqtt", "name": "idle", "url": "mqtt://127.0.0.1:9", "client_id": "idle",
         "topics": [{"filter": "x", "series": "x"}]}])
    buffer = await SqliteBuffer(config.buffer.path, SystemClock(), synchronous="normal").open()
    t0 = datetime.now(UTC) - timedelta(days=1)
    for chunk in range(0, backlog, 50_000):
        await buffer.add([Reading(f"bench/s{i % 30}", t0 + timedelta(milliseconds=i), float(i))
                          for i in range(chunk, min(backlog, chunk + 50_000))])
    await buffer.close()
    gateway = Gateway(config, sources=[])
    start = received.value
    task = asyncio.create_task(gateway.run())
    try:
        began = time.monotonic()
        while received.value - start < backlog:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        return backlog / (time.monotonic() - began)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def yardstick(what: str, count: int, rounds: Sequence[Drained], per_message: int,
              target: str) -> list[tuple[str, str, str]]:
    """Rates from the first reading in (into the buffer, through to the uplink), as the
    gateway's figures always were; then from the start of the gateway and of mosquitto_sub
    draining the same queued load from the same broker, as a ratio (connections included
    on both sides). Each the median over the rounds; a ratio is the median of each round's
    own, the gateway against the yardstick of the same round."""

    def median(of: Callable[[Drained], float]) -> float:
        return statistics.median(of(d) for d in rounds)

    n = f"median of {len(rounds)} rounds"
    rows = [(f"{what} into buffer (acked, {n})",
             f"{median(lambda d: count / max(d.into_buffer_s - d.first_in_s, 1e-9)):,.0f}",
             target),
            (f"{what} through to the uplink",
             f"{median(lambda d: count / max(d.to_uplink_s - d.first_in_s, 1e-9)):,.0f}",
             target)]
    subs = [d.sub_s for d in rounds if d.sub_s is not None]
    if len(subs) < len(rounds):
        return [*rows, ("  mosquitto_sub", "not installed", "")]
    sub = statistics.median(count / s for s in subs)  # in the same unit: `per_message` each
    ratios_in = sorted(s / d.into_buffer_s for s, d in zip(subs, rounds, strict=True))
    ratios_out = sorted(s / d.to_uplink_s for s, d in zip(subs, rounds, strict=True))
    return [*rows,
            (f"  mosquitto_sub on the same load ({per_message} per message, median of 3 "
             "sessions a round)", f"{sub:,.0f}", ""),
            ("  from start: ratio into buffer / mosquitto_sub",
             f"{statistics.median(ratios_in):.2f}", ""),
            ("  from start: ratio through to the uplink / mosquitto_sub",
             f"{statistics.median(ratios_out):.2f}", ">= 0.5"),
            ("    each round, lowest to highest", " ".join(f"{r:.2f}" for r in ratios_out), "")]


@app.command()
def main(opcua_items: int = typer.Option(200, help="variables changing on the OPC UA server"),
         opcua_seconds: float = typer.Option(5.0, help="how long the server changes them"),
         mqtt_messages: int = typer.Option(
             60_000, max=65_000,
             help="messages queued at the broker (mosquitto queues at most 65,535 per session)"),
         mqtt_url: str | None = typer.Option(None, help="broker; default a local mosquitto"),
         # 300,000 metrics: mosquitto_sub takes a third of a second over them. With a
         # tenth of that load it took 36 to 127 ms, and the ratio swung with it (0.26 to
         # 0.49 in four runs in a row on one machine, against 0.33 twice at this load).
         sparkplug_messages: int = typer.Option(
             30_000, max=65_000, help="Sparkplug DDATA messages queued at the broker, each "
             f"with {METRICS_PER_MESSAGE} metrics"),
         backlog: int = typer.Option(200_000, help="readings in the buffer to drain"),
         only: str = typer.Option("opcua,mqtt,sparkplug,backlog",
                                  help="which parts to run")) -> None:
    """Measure and print the figures."""
    logging.basicConfig(level=logging.ERROR)
    tune_process()  # as `heatlink gateway run` does: this process stands for the gateway's
    parts = set(only.split(","))
    figures: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp, sink() as (sink_url, received):
        folder = Path(tmp)
        if "opcua" in parts:
            into, out = asyncio.run(bench_opcua(folder, sink_url, opcua_items, opcua_seconds))
            figures.append(("OPC UA value changes/s into buffer", f"{into:,.0f}", ">= 5,000"))
            figures.append(("OPC UA readings/s out to the uplink", f"{out:,.0f}", ""))
        if "mqtt" in parts:
            with mosquitto(mqtt_url) as url:
                mqtt = asyncio.run(bench_mqtt(folder, sink_url, received, url, mqtt_messages))
            figures += yardstick("MQTT messages/s", mqtt_messages, mqtt, 1, ">= 20,000")
        if "sparkplug" in parts:
            with mosquitto(mqtt_url) as url:
                sparkplug = asyncio.run(bench_sparkplug(
                    gateway_config, SPAWN, folder, sink_url, received, url,
                    sparkplug_messages))
            figures += yardstick(f"Sparkplug DDATA ({METRICS_PER_MESSAGE} metrics) metrics/s",
                                 (sparkplug_messages + 1) * METRICS_PER_MESSAGE, sparkplug,
                                 METRICS_PER_MESSAGE, "")
        if "backlog" in parts:
            rate = asyncio.run(bench_backlog(folder, sink_url, received, backlog))
            figures.append(("backlog drain, readings/s", f"{rate:,.0f}", ">= 50,000"))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures.append(("peak memory of the gateway process, MB", f"{peak_mb:,.0f}", "< 150"))
    width = max(len(name) for name, _, _ in figures)
    for name, value, target in figures:
        typer.echo(f"{name:<{width}}  {value:>10}  {target}")
