"""`heatlink bench ingest`: the API path against the database's own COPY speed.

(a) the limit: asyncpg ``copy_records_to_table`` of the readings into ``readings``;
(b) the API path: the same readings posted in batches by concurrent clients to
    ``heatlink serve`` (one worker process), on the same database, as in production:
    monitor and alert worker running, and a live stream open (the facilitator's, every
    series, read by an SSE client throughout);
(c) the same with two replicas (two ``heatlink serve`` processes on the database), the
    clients spread over both.
Each round measures (a) right before (b) or (c), so a ratio compares figures taken under
the same load of the machine. Prints readings per second, medians, the ratios of the
medians and the median of the per-round ratios, and the services' peak memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import typer
import yaml

from bench.cpu import postmaster_of, process_cpu_s, server_cpu_s
from bench.system import BenchService, bench_database, bench_service
from heatlink.cluster.loader import EXAMPLE_CLUSTER

app = typer.Typer(add_completion=False)


def bench_cluster(series_count: int, folder: Path) -> tuple[Path, list[str]]:
    """The example cluster plus ``series_count`` temperature series on one gateway."""
    doc = yaml.safe_load(EXAMPLE_CLUSTER.read_text())
    keys = [f"bench/plant/unit{i // 10}/t{i % 10}" for i in range(series_count)]
    doc["sites"].append({"id": "bench", "name": "Benchmark plant"})
    doc["assets"].append({"id": "bench/plant", "name": "Bench", "kind": "heat_source",
                          "owner": "glomfjord-smelter"})
    doc["series"] += [{"key": k, "asset": "bench/plant", "quantity": "temperature",
                       "unit": "degC", "range": [-50, 200]} for k in keys]
    doc["gateways"].append({"id": "bench-gw", "owner": "glomfjord-smelter",
                            "series": ["bench/*"]})
    path = folder / "bench-cluster.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path, keys


def make_batches(keys: list[str], total: int, batch_size: int) -> list[bytes]:
    start = datetime.now(UTC) - timedelta(days=1)
    per_series = total // len(keys)
    readings = [{"series": k, "ts": (start + timedelta(seconds=i)).isoformat(),
                 "value": 20.0 + (i % 100) / 10, "quality": "good"}
                for i in range(per_series) for k in keys]
    return [json.dumps({"gateway": "bench-gw", "batch_id": uuid.uuid4().hex,
                        "readings": readings[i:i + batch_size]}).encode()
            for i in range(0, len(readings), batch_size)]


async def copy_limit(url: str, batches: list[bytes],
                     timed: Callable[[], None] = lambda: None) -> tuple[float, int]:
    """Readings per second for COPY of the same readings, straight into the table;
    ``timed()`` is called right before and right after the timed part."""
    conn = await asyncpg.connect(url)
    try:
        ids = {r["key"]: r["id"] for r in await conn.fetch("SELECT id, key FROM series")}
        records = [(ids[r["series"]], datetime.fromisoformat(r["ts"]), r["value"], 0)
                   for body in batches for r in json.loads(body)["readings"]]
        timed()
        started = time.perf_counter()
        for i in range(0, len(records), 5000):
            await conn.copy_records_to_table(
                "readings", records=records[i:i + 5000],
                columns=("series_id", "ts", "value", "quality"))
        elapsed = time.perf_counter() - started
        timed()
        await conn.execute("TRUNCATE readings")
        return len(records) / elapsed, len(records)
    finally:
        await conn.close()


async def api_path(base_urls: list[str], token: str, batches: list[bytes],
                   clients: int) -> float:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in batches:
        queue.put_nowait(body)
    stored = 0

    async def client(base_url: str) -> None:
        nonlocal stored
        async with httpx.AsyncClient(base_url=base_url, timeout=120, headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json"}) as http:
            while not queue.empty():
                body = queue.get_nowait()
                response = await http.post("/v1/ingest", content=body)
                response.raise_for_status()
                stored += response.json()["accepted"]

    started = time.perf_counter()
    await asyncio.gather(*(client(base_urls[i % len(base_urls)]) for i in range(clients)))
    elapsed = time.perf_counter() - started
    return stored / elapsed


async def stream_reader(base_url: str, token: str, received: list[int]) -> None:
    """An open live stream of every series, read until cancelled: the dashboard's load."""
    async with httpx.AsyncClient(base_url=base_url, timeout=None,
                                 headers={"Authorization": f"Bearer {token}"}) as http, \
            http.stream("GET", "/v1/stream") as response:
        response.raise_for_status()
        async for chunk in response.aiter_bytes():
            received[0] += chunk.count(b'"series":')


@app.command()
def main(
    readings: int = typer.Option(200_000, help="Readings per round"),
    series: int = typer.Option(1000, help="Series they spread over"),
    batch_size: int = typer.Option(5000, help="Readings per API batch"),
    clients: int = typer.Option(4, help="Concurrent API clients"),
    rounds: int = typer.Option(7, help="Rounds of each phase; medians are printed"),
    stream: bool = typer.Option(True, help="Keep a live stream of every series open"),
    replicas: int = typer.Option(2, min=1, help="Replicas for the last figure (1: skip it)"),
) -> None:
    """Measure COPY and the API path on the same database, in one run."""
    folder = Path(tempfile.mkdtemp(prefix="heatlink-bench-"))
    cluster_file, keys = bench_cluster(series, folder)
    with bench_database() as url, bench_service(url, cluster_file) as service:
        token = service.token("glomfjord-smelter", "gateway", "bench-gw")
        reader = service.token("cluster-facilitator", "facilitator") if stream else None
        bench = Bench(url, asyncio.run(_postmaster(url)), token, reader, keys, readings,
                      batch_size, clients, rounds)
        one = bench.phase("one replica", [service])
        print(f"(a) COPY limit:  {one.copy:,.0f} readings/s (median of {rounds})")
        print(f"(b) API path:    {one.api:,.0f} readings/s ({clients} clients, batches of "
              f"{batch_size}, one replica, monitor and alerts running"
              f"{', a live stream of every series open' if stream else ''})")
        print(f"ratio b/a:       {one.api / one.copy:.2f} (of the medians; median of the "
              f"per-round ratios {one.ratio:.2f})")
        one.print_cpu()
        if one.streamed is not None:
            print(f"live stream:     {one.streamed:,} readings delivered to the subscriber")
        peaks = [service.peak_rss_mb()]
        if replicas > 1:
            with contextlib.ExitStack() as more:
                others = [more.enter_context(bench_service(url, cluster_file))
                          for _ in range(replicas - 1)]
                many = bench.phase(f"{replicas} replicas", [service, *others])
                peaks += [o.peak_rss_mb() for o in others]
            print(f"(a) COPY limit:  {many.copy:,.0f} readings/s (median of {rounds})")
            print(f"(c) API path:    {many.api:,.0f} readings/s ({clients} clients over "
                  f"{replicas} replicas on one database)")
            print(f"ratio c/a:       {many.api / many.copy:.2f} (of the medians; median of "
                  f"the per-round ratios {many.ratio:.2f})")
            many.print_cpu()
        print("service peak memory: " + ", ".join(f"{p:.0f} MB" for p in peaks))


async def _postmaster(url: str) -> int | None:
    conn = await asyncpg.connect(url)
    try:  # a server on another machine (or in another pid namespace) gives no figures
        return postmaster_of(await conn.fetchval("SELECT pg_backend_pid()"))
    finally:
        await conn.close()


@dataclass(frozen=True)
class Cpu:
    """CPU seconds per million readings, by who spent them."""

    service: float
    database: float
    client: float


@dataclass(frozen=True)
class Figures:
    copy: float  # medians, readings per second
    api: float
    ratio: float  # median of the per-round ratios
    streamed: int | None
    copy_cpu: Cpu
    api_cpu: Cpu

    def print_cpu(self) -> None:
        c, a = self.copy_cpu, self.api_cpu
        print(f"CPU s per million readings (medians): COPY: database {c.database:.1f}, "
              f"its client {c.client:.1f}; API: service {a.service:.1f}, database "
              f"{a.database:.1f}, clients {a.client:.1f}")


@dataclass
class Bench:
    url: str
    postmaster: int | None
    token: str
    reader: str | None
    keys: list[str]
    readings: int
    batch_size: int
    clients: int
    rounds: int

    def phase(self, name: str, services: list[BenchService]) -> Figures:
        copy_rates, api_rates, copy_cpu, api_cpu = [], [], [], []
        streamed = [0]
        for round_no in range(self.rounds):
            batches = make_batches(self.keys, self.readings, self.batch_size)
            copy_rate, api_rate, cpus = asyncio.run(self._round(services, batches, streamed))
            copy_rates.append(copy_rate)
            api_rates.append(api_rate)
            copy_cpu.append(cpus[0])
            api_cpu.append(cpus[1])
            print(f"{name}, round {round_no + 1}: copy {copy_rate:,.0f}/s, "
                  f"api {api_rate:,.0f}/s, ratio {api_rate / copy_rate:.2f}")
        return Figures(statistics.median(copy_rates), statistics.median(api_rates),
                       statistics.median(a / c for a, c in zip(api_rates, copy_rates,
                                                               strict=True)),
                       streamed[0] if self.reader else None, _median(copy_cpu),
                       _median(api_cpu))

    def _cpu(self, services: list[BenchService]) -> tuple[float, float, float]:
        return (sum(process_cpu_s(s.process.pid) for s in services),
                server_cpu_s(self.postmaster) if self.postmaster else float("nan"),
                time.process_time())

    async def _round(self, services: list[BenchService], batches: list[bytes],
                     streamed: list[int]) -> tuple[float, float, tuple[Cpu, Cpu]]:
        base_urls = [s.url for s in services]
        marks: list[tuple[float, float, float]] = []
        # The COPY's CPU is counted from its first record sent to its last: building the
        # records from JSON is the bench's work, not the database path's.
        copy_rate, count = await copy_limit(self.url, batches,
                                            lambda: marks.append(self._cpu(services)))
        before, copied = marks
        between = self._cpu(services)
        listener = (asyncio.create_task(stream_reader(base_urls[0], self.reader, streamed))
                    if self.reader else None)
        try:
            api_rate = await api_path(base_urls, self.token, batches, self.clients)
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
        after = self._cpu(services)
        conn = await asyncpg.connect(self.url)
        try:  # the next round starts from the same empty table
            await conn.execute("TRUNCATE readings, ingest_batches")
        finally:
            await conn.close()
        per_m = 1e6 / count
        copy_cpu = Cpu(0.0, (copied[1] - before[1]) * per_m, (copied[2] - before[2]) * per_m)
        api_cpu = Cpu((after[0] - between[0]) * per_m, (after[1] - between[1]) * per_m,
                      (after[2] - between[2]) * per_m)
        return copy_rate, api_rate, (copy_cpu, api_cpu)


def _median(cpus: list[Cpu]) -> Cpu:
    return Cpu(statistics.median(c.service for c in cpus),
               statistics.median(c.database for c in cpus),
               statistics.median(c.client for c in cpus))
