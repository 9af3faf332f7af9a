"""`heatlink bench alerts`: time from a finding to the webhook receiving it, while the service
ingests readings in the background.

A `heatlink serve` process runs the delivery worker; this process hands findings to the
alert module's FindingSink (as the monitor does: the alert and its delivery committed in one
transaction, the worker woken by NOTIFY) and runs the webhook receiver in a thread of its own.
Background ingest posts paced batches to /v1/ingest at the requested rate.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import typer
import uvicorn
import yaml

from alerts.service import AlertService
from alerts.signing import LinkSigner
from bench.asgi import read_body
from bench.ingest import bench_cluster
from bench.system import bench_database, bench_service
from heatlink.clock import SystemClock
from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.loader import load_cluster
from heatlink.findings import Finding
from services.readings.store import latest_values
from services.storage.local_postgres import free_port

app = typer.Typer(add_completion=False)


class Receiver:
    """Webhook receiver in its own thread and loop, so the load cannot delay its clock."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrived: dict[str, float] = {}
        self.expected = 0
        self.all_in = threading.Event()
        self.lock = threading.Lock()
        self.server = uvicorn.Server(uvicorn.Config(self, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Any],
                       send: Callable[[dict[str, Any]], Any]) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        now = time.perf_counter()
        with self.lock:
            for note in orjson.loads(body)["notifications"]:
                self.arrived.setdefault(note["alert"]["rule_id"], now)
            if len(self.arrived) >= self.expected:
                self.all_in.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def start(self) -> None:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def write_cluster(folder: Path, series: int, hook_url: str) -> tuple[Path, list[str]]:
    path, keys = bench_cluster(series, folder)
    doc = yaml.safe_load(path.read_text())
    doc["subscriptions"] = [{"org": "fjordsmolt", "contact": "bench", "channel": "webhook",
                             "address": hook_url}]
    # Every finding is a new alert to one address: flood control would (rightly) group them.
    doc["alerting"] = {"group_window_s": 0, "max_notifications_per_hour": 1_000_000}
    path.write_text(yaml.safe_dump(doc))
    return path, keys


def make_bodies(keys: list[str], rate: int, duration_s: float, batch: int) -> list[bytes]:
    start = datetime.now(UTC) - timedelta(hours=12)
    total = int(rate * duration_s)
    bodies = []
    ts_step = 0
    for first in range(0, total, batch):
        readings = []
        for i in range(first, min(first + batch, total)):
            if i % len(keys) == 0:
                ts_step += 1
            readings.append({"series": keys[i % len(keys)],
                             "ts": (start + timedelta(seconds=ts_step)).isoformat(),
                             "value": 20.0 + (i % 100) / 10, "quality": "good"})
        bodies.append(orjson.dumps({"gateway": "bench-gw", "batch_id": uuid.uuid4().hex,
                                    "readings": readings}))
    return bodies


async def ingest(base_url: str, token: str, bodies: list[bytes], rate: int, batch: int,
                 stop: asyncio.Event) -> tuple[int, float]:
    """Posts ``bodies`` paced to ``rate`` readings/s over two clients; returns (stored, s)."""
    interval = batch / rate
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    stored = 0
    started = time.perf_counter()

    async def pace() -> None:
        for n, body in enumerate(bodies):
            delay = started + n * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the load generator, not awaiting an event
            if stop.is_set():
                break
            queue.put_nowait(body)
        for _ in range(2):
            queue.put_nowait(b"")

    async def client() -> None:
        nonlocal stored
        async with httpx.AsyncClient(base_url=base_url, timeout=60, headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json"}) as c:
            while body := await queue.get():
                response = await c.post("/v1/ingest", content=body)
                response.raise_for_status()
                stored += response.json()["accepted"]

    await asyncio.gather(pace(), client(), client())
    return stored, time.perf_counter() - started


async def measure(url: str, base_url: str, token: str, cluster: Path, keys: list[str],
                  receiver: Receiver, findings: int, interval_s: float, rate: int,
                  batch: int) -> tuple[list[float], int, float]:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    assert pool is not None
    index = ClusterIndex(load_cluster(cluster))
    sink = AlertService(pool, index, SystemClock(), LinkSigner(b"bench", base_url, 60),
                        latest=latest_values)
    duration = findings * interval_s + 3.0
    bodies = make_bodies(keys, rate, duration, batch)
    stop = asyncio.Event()
    load = asyncio.create_task(ingest(base_url, token, bodies, rate, batch, stop))
    await asyncio.sleep(1.0)  # let the background ingest reach its rate first
    handed: dict[str, float] = {}
    committed: dict[str, float] = {}
    run = uuid.uuid4().hex[:6]
    for n in range(findings):
        at = datetime.now(UTC)
        rule_id = f"bench-{run}-{n}"
        finding = Finding(rule_id, 1, "supply_disruption", "glomfjord/smelter/hx1/primary/power",
                          "glomfjord-smelter", "alarm", "disrupted", "ok", at, at, at, False,
                          100.0, None, None)
        handed[rule_id] = time.perf_counter()
        await sink.findings([finding])
        committed[rule_id] = time.perf_counter()
        await asyncio.sleep(interval_s)
        # Over before the next: one episode a finding, each paged (within one episode the
        # next disruption would be grouped under the first and not paged).
        over = datetime.now(UTC)
        await sink.findings([replace(finding, state="ok", previous_state="disrupted", ts=over,
                                     detected_at=over)])
    await asyncio.to_thread(receiver.all_in.wait, 10)
    stop.set()
    stored, elapsed = await load
    await pool.close()
    with receiver.lock:
        latencies = [receiver.arrived[k] - t for k, t in handed.items() if k in receiver.arrived]
        to_commit = [committed[k] - t for k, t in handed.items()]
    print(f"finding → outbox committed: p50 {_ms(to_commit, 0.5):.1f} ms, "
          f"p99 {_ms(to_commit, 0.99):.1f} ms")
    return latencies, stored, elapsed


def _ms(seconds: list[float], q: float) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


@app.command()
def main(
    findings: int = typer.Option(200, help="Findings handed over, one at a time"),
    interval_s: float = typer.Option(0.1, help="Pause between findings"),
    rate: int = typer.Option(20_000, help="Background ingest, readings per second"),
    series: int = typer.Option(1000, help="Series the background readings spread over"),
    batch: int = typer.Option(2000, help="Readings per ingest batch"),
) -> None:
    """Print p50 and p99 of finding → webhook under background ingest."""
    folder = Path(tempfile.mkdtemp(prefix="heatlink-bench-alerts-"))
    receiver = Receiver()
    receiver.expected = findings
    receiver.start()
    cluster, keys = write_cluster(folder, series, f"http://127.0.0.1:{receiver.port}/hook")
    try:
        with bench_database() as url, bench_service(url, cluster) as service:
            token = service.token("glomfjord-smelter", "gateway", "bench-gw")
            latencies, stored, elapsed = asyncio.run(measure(
                url, service.url, token, cluster, keys, receiver, findings, interval_s, rate,
                batch))
    finally:
        receiver.stop()
    report(latencies, findings, stored, elapsed, rate)


def report(latencies: list[float], findings: int, stored: int, elapsed: float,
           rate: int) -> None:
    ms = sorted(x * 1000 for x in latencies)
    print(f"background ingest: {stored / elapsed:,.0f} readings/s achieved "
          f"(target {rate:,}), {stored:,} readings in {elapsed:.1f} s")
    print(f"webhooks received: {len(ms)} of {findings}")
    if not ms:
        raise SystemExit(1)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    print(f"finding → webhook: p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, "
          f"max {ms[-1]:.1f} ms (target p99 < 500 ms)")
