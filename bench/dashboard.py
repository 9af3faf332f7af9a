"""`heatlink bench dashboard`: the dashboard's first load and the live stream under load.

Runs `heatlink serve` (one process) on a cluster grown to ``--series`` series (the
example plus synthetic exchanges), stores an hour of history, then measures

(a) first load over HTTP: the page, its scripts and styles, and the /v1/dashboard
    snapshot (what the page needs before it shows every value), median of rounds;
(b) first load in Chromium, when /usr/bin/chromium exists: navigation until every value
    is on screen (``body[data-ready]``), and until the first trend chart is drawn;
(c) the live stream: ``--clients`` SSE clients on the facilitator's stream while a
    gateway posts ``--rate`` readings per second through POST /v1/ingest; values
    delivered per second, completeness per client, and latency from post to receipt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import typer
import yaml

from bench.system import bench_database, bench_service
from heatlink.cluster.loader import EXAMPLE_CLUSTER

app = typer.Typer(add_completion=False)
CHROMIUM = Path("/usr/bin/chromium")
SIDES = ("primary", "secondary")
FIELDS = (("supply_temp", "temperature", "degC", 60.0), ("return_temp", "temperature",
                                                            "degC", 30.0),
          ("flow", "flow", "m3/h", 300.0))


def bench_cluster(series_count: int, folder: Path) -> tuple[Path, list[str]]:
    """The example cluster plus synthetic exchanges (six series each) up to
    ``series_count`` series in all; the synthetic keys."""
    doc = yaml.safe_load(EXAMPLE_CLUSTER.read_text())
    existing = len(doc["series"]) + len(doc.get("derived", []))
    count = max(1, -(-(series_count - existing) // 6))
    doc["sites"].append({"id": "bench", "name": "Benchmark park"})
    keys: list[str] = []
    for i in range(count):
        hx, src, tank = f"bench/hx{i}", f"bench/src{i}", f"bench/tank{i}"
        doc["assets"] += [
            {"id": src, "name": f"Source {i}", "kind": "heat_source",
             "owner": "glomfjord-smelter", "feeds": [hx]},
            {"id": hx, "name": f"Exchanger {i}", "kind": "heat_exchanger",
             "owner": "glomfjord-smelter", "feeds": [tank]},
            {"id": tank, "name": f"Tank {i}", "kind": "fish_tank", "owner": "fjordsmolt"}]
        mine = [f"{hx}/{side}/{name}" for side in SIDES for name, *_ in FIELDS]
        doc["series"] += [{"key": f"{hx}/{side}/{name}", "asset": hx, "quantity": quantity,
                           "unit": unit, "range": [-50, 5000]}
                          for side in SIDES for name, quantity, unit, _ in FIELDS]
        doc["exchanges"].append({
            "id": f"bench-{i}", "name": f"Bench exchange {i}",
            "supplier": "glomfjord-smelter", "recipient": "fjordsmolt", "exchanger": hx,
            "recipient_assets": [tank], "contracted_power_kw": 5000, "notice_period_h": 24,
            "supply_band": {"series": f"{hx}/secondary/supply_temp", "low": 40, "high": 80},
            "shared_series": [k for k in mine if "/secondary/" in k]})
        keys += mine
    doc["gateways"].append({"id": "bench-gw", "owner": "glomfjord-smelter",
                            "series": ["bench/*"]})
    path = folder / "bench-cluster.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path, keys


def _value(key: str, i: int) -> float:
    base = next(v for name, *_, v in FIELDS if key.endswith(name))
    return base + (i % 60) / 10


def _batch(readings: list[dict[str, Any]]) -> bytes:
    return json.dumps({"gateway": "bench-gw", "batch_id": uuid.uuid4().hex,
                       "readings": readings}).encode()


async def store_history(http: httpx.AsyncClient, keys: list[str], minutes: int) -> int:
    """``minutes`` of one-per-30-s readings of every key, ending now."""
    now = datetime.now(UTC)
    readings = [{"series": k, "ts": (now - timedelta(seconds=30 * i)).isoformat(),
                 "value": _value(k, i)} for i in range(minutes * 2) for k in keys]
    for i in range(0, len(readings), 10_000):
        response = await http.post("/v1/ingest", content=_batch(readings[i:i + 10_000]))
        response.raise_for_status()
    return len(readings)


async def http_first_load(base_url: str, token: str, rounds: int) -> tuple[float, int, int]:
    """Median seconds to fetch everything the page needs, bytes, and series in the snapshot."""
    times: list[float] = []
    size = series = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        for _ in range(rounds):
            started = time.perf_counter()
            parts = [await http.get(p) for p in (
                "/", "/static/dashboard.css", "/static/dashboard.js", "/static/graph.js",
                "/static/trends.js", "/static/alerts.js",
                "/static/vendor/uPlot.min.css", "/static/vendor/uPlot.iife.min.js")]
            snap = await http.get("/v1/dashboard", headers={"Authorization": f"Bearer {token}"})
            times.append(time.perf_counter() - started)
            for response in [*parts, snap]:
                response.raise_for_status()
            size = sum(len(r.content) for r in [*parts, snap])
            series = len(snap.json()["series"])
    return statistics.median(times), size, series


async def browser_first_load(base_url: str, token: str, rounds: int
                             ) -> tuple[float, float]:
    """Median seconds from navigation to every value shown, and to the first chart drawn."""
    from playwright.async_api import async_playwright

    ready: list[float] = []
    charts: list[float] = []
    marks: list[list[float]] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            for _ in range(rounds):
                context = await browser.new_context(viewport={"width": 1920, "height": 1080})
                await context.add_init_script(
                    f"sessionStorage.setItem('heatlink.token', {json.dumps(token)})")
                page = await context.new_page()
                started = time.perf_counter()
                await page.goto(base_url + "/")
                await page.wait_for_selector("body[data-ready='1']")
                ready.append(time.perf_counter() - started)
                marks.append(await page.evaluate(
                    "['heatlink-snapshot', 'heatlink-ready'].map("
                    "n => performance.getEntriesByName(n)[0].startTime)"))
                await page.wait_for_selector("article.exchange .chart canvas")
                charts.append(time.perf_counter() - started)
                await context.close()
        finally:
            await browser.close()
    snapshot_ms = statistics.median(m[0] for m in marks)
    ready_ms = statistics.median(m[1] for m in marks)
    print(f"    in the page: snapshot received {snapshot_ms:.0f} ms after navigation start, "
          f"everything rendered at {ready_ms:.0f} ms")
    return statistics.median(ready), statistics.median(charts)


async def stream_load(base_url: str, reader: str, gateway: str, keys: list[str],
                      clients: int, rate: int, seconds: float) -> dict[str, float]:
    batches_per_s = 10
    per_batch = max(1, rate // batches_per_s)
    received = [0] * clients
    final_sent: int | None = None
    caught_up = asyncio.Event()
    latencies: list[float] = []
    connected = asyncio.Event()
    opened = 0
    stop = asyncio.Event()

    async def client(n: int) -> None:
        nonlocal opened
        async with httpx.AsyncClient(base_url=base_url, timeout=None, headers={
                "Authorization": f"Bearer {reader}"}) as http, \
                http.stream("GET", "/v1/stream") as response:
            response.raise_for_status()
            opened += 1
            if opened == clients:
                connected.set()
            buffer = b""
            async for chunk in response.aiter_bytes():
                buffer += chunk
                *messages, buffer = buffer.split(b"\n\n")
                for message in messages:
                    if b"event: values" not in message:
                        continue
                    count = message.count(b'"series":')
                    received[n] += count
                    if final_sent is not None and min(received) >= final_sent:
                        caught_up.set()
                    if n % 10 == 0:  # a sample of clients measures latency
                        at = message.rfind(b'"ts":"')
                        ts = datetime.fromisoformat(message[at + 6:message.index(b'"', at + 6)]
                                                    .decode())
                        latencies.append((datetime.now(UTC) - ts).total_seconds())
                if stop.is_set():
                    return

    tasks = [asyncio.create_task(client(n)) for n in range(clients)]
    await asyncio.wait_for(connected.wait(), 60)
    sent = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=30, headers={
            "Authorization": f"Bearer {gateway}", "Content-Type": "application/json"}) as gw:
        started = time.perf_counter()
        tick = 0
        while time.perf_counter() - started < seconds:
            now = datetime.now(UTC).isoformat()
            chosen = [keys[(tick * per_batch + j) % len(keys)] for j in range(per_batch)]
            response = await gw.post("/v1/ingest", content=_batch(
                [{"series": k, "ts": now, "value": _value(k, tick)} for k in chosen]))
            response.raise_for_status()
            sent += response.json()["accepted"]
            tick += 1
            # Paced publishing: the next batch is due at tick / batches_per_s.
            await asyncio.sleep(max(0.0, started + tick / batches_per_s - time.perf_counter()))
        elapsed = time.perf_counter() - started
    # Give the stream up to 10 s to deliver what was sent, then stop reading.
    final_sent = sent
    if min(received) >= sent:
        caught_up.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(caught_up.wait(), 10)
    stop.set()
    for task in tasks:
        task.cancel()
    failed = [r for r in await asyncio.gather(*tasks, return_exceptions=True)
              if isinstance(r, Exception) and not isinstance(r, asyncio.CancelledError)]
    if failed:
        print(f"{len(failed)} stream clients failed, e.g. {failed[0]!r}")
    latencies.sort()
    return {"sent_per_s": sent / elapsed, "sent": sent,
            "delivered_per_s": sum(received) / elapsed,
            "min_complete": min(received) / sent if sent else 0.0,
            "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else float("nan"),
            "p95_ms": 1000 * latencies[int(len(latencies) * 0.95)] if latencies
            else float("nan"),
            "max_ms": 1000 * latencies[-1] if latencies else float("nan")}


@app.command()
def main(
    series: int = typer.Option(500, help="Series in the cluster (example plus synthetic)"),
    clients: int = typer.Option(100, help="Concurrent stream clients"),
    rate: int = typer.Option(1000, help="Value updates per second into the stream"),
    seconds: float = typer.Option(10.0, help="How long the stream is loaded"),
    rounds: int = typer.Option(5, help="First-load rounds; medians are printed"),
) -> None:
    """Measure the dashboard's first load and the live stream on a fresh service."""
    folder = Path(tempfile.mkdtemp(prefix="heatlink-bench-"))
    cluster_file, keys = bench_cluster(series, folder)
    with bench_database() as url, bench_service(url, cluster_file) as service:
        gateway = service.token("glomfjord-smelter", "gateway", "bench-gw")
        reader = service.token("cluster-facilitator", "facilitator")
        asyncio.run(_run(service.url, gateway, reader, keys, clients, rate, seconds, rounds,
                         CHROMIUM.exists()))


async def _run(base_url: str, gateway: str, reader: str, keys: list[str], clients: int,
               rate: int, seconds: float, rounds: int, chromium: bool) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=120, headers={
            "Authorization": f"Bearer {gateway}", "Content-Type": "application/json"}) as gw:
        stored = await store_history(gw, keys, minutes=60)
    print(f"history: {stored:,} readings of {len(keys)} synthetic series (one hour)")
    took, size, shown = await http_first_load(base_url, reader, rounds)
    print(f"(a) first load over HTTP, {shown} series: {took * 1000:.0f} ms "
          f"(page, scripts, snapshot; {size / 1024:.0f} KiB; median of {rounds})")
    if not chromium:
        print("(b) first load in Chromium: skipped, /usr/bin/chromium is absent")
    else:
        in_browser = await browser_first_load(base_url, reader, rounds)
        print(f"(b) first load in Chromium, {shown} series: every value shown after "
              f"{in_browser[0] * 1000:.0f} ms, first trend chart drawn after "
              f"{in_browser[1] * 1000:.0f} ms (median of {rounds})")
    got = await stream_load(base_url, reader, gateway, keys, clients, rate, seconds)
    print(f"(c) live stream, {clients} clients, {got['sent_per_s']:,.0f} value updates/s "
          f"posted for {seconds:.0f} s: {got['delivered_per_s']:,.0f} values/s delivered, "
          f"least complete client {got['min_complete']:.1%}, latency post→receipt "
          f"p50 {got['p50_ms']:.0f} ms, p95 {got['p95_ms']:.0f} ms, max {got['max_ms']:.0f} ms")


