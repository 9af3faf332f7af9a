"""`heatlink bench ingest`: the API path against the database's own COPY speed.

(a) the limit: asyncpg ``copy_records_to_table`` of the readings into ``readings``;
(b) the API path: the same readings posted in batches by concurrent clients to
    ``heatlink serve`` (one worker process), on the same database.
Prints readings per second for each, the ratio b/a and the service's peak memory.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import typer
import yaml

from bench.system import bench_database, bench_service
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


async def copy_limit(url: str, batches: list[bytes]) -> float:
    """Readings per second for COPY of the same readings, straight into the table."""
    conn = await asyncpg.connect(url)
    try:
        ids = {r["key"]: r["id"] for r in await conn.fetch("SELECT id, key FROM series")}
        records = [(ids[r["series"]], datetime.fromisoformat(r["ts"]), r["value"], 0)
                   for body in batches for r in json.loads(body)["readings"]]
        started = time.perf_counter()
        for i in range(0, len(records), 5000):
            await conn.copy_records_to_table(
                "readings", records=records[i:i + 5000],
                columns=("series_id", "ts", "value", "quality"))
        elapsed = time.perf_counter() - started
        await conn.execute("TRUNCATE readings")
        return len(records) / elapsed
    finally:
        await conn.close()


async def api_path(base_url: str, token: str, batches: list[bytes], clients: int) -> float:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in batches:
        queue.put_nowait(body)
    stored = 0

    async def client() -> None:
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
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return stored / elapsed


@app.command()
def main(
    readings: int = typer.Option(500_000, help="Readings per run"),
    series: int = typer.Option(1000, help="Series they spread over"),
    batch_size: int = typer.Option(5000, help="Readings per API batch"),
    clients: int = typer.Option(4, help="Concurrent API clients"),
    rounds: int = typer.Option(3, help="Runs of each; medians are printed"),
) -> None:
    """Measure COPY and the API path on the same database, in one run."""
    folder = Path(tempfile.mkdtemp(prefix="heatlink-bench-"))
    cluster_file, keys = bench_cluster(series, folder)
    with bench_database() as url, bench_service(url, cluster_file) as service:
        token = service.token("glomfjord-smelter", "gateway", "bench-gw")
        copy_rates, api_rates = [], []
        for round_no in range(rounds):
            batches = make_batches(keys, readings, batch_size)
            copy_rate, api_rate = asyncio.run(_round(url, service.url, token, batches, clients))
            copy_rates.append(copy_rate)
            api_rates.append(api_rate)
            print(f"round {round_no + 1}: copy {copy_rate:,.0f}/s, api {api_rate:,.0f}/s")
        copy_median = statistics.median(copy_rates)
        api_median = statistics.median(api_rates)
        print(f"(a) COPY limit:  {copy_median:,.0f} readings/s (median of {rounds})")
        print(f"(b) API path:    {api_median:,.0f} readings/s "
              f"({clients} clients, batches of {batch_size}, one worker)")
        print(f"ratio b/a:       {api_median / copy_median:.2f}")
        print(f"service peak memory: {service.peak_rss_mb():.0f} MB")


async def _round(url: str, base_url: str, token: str, batches: list[bytes],
                 clients: int) -> tuple[float, float]:
    copy_rate = await copy_limit(url, batches)
    api_rate = await api_path(base_url, token, batches, clients)
    conn = await asyncpg.connect(url)
    try:  # the next round starts from the same empty table
        await conn.execute("TRUNCATE readings, ingest_batches")
    finally:
        await conn.close()
    return copy_rate, api_rate
