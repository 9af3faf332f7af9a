"""`heatlink bench ingest`: the API path against the database's own COPY speed.

(a) the limit: asyncpg ``copy_records_to_table`` of the readings into ``readings``;
(b) the API path: the same readings posted in batches by concurrent clients to
    ``heatlink serve`` (one worker process), on the same database.
Prints readings per second for each, the ratio b/a and the service's peak memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import typer
import yaml

from services.cluster.loader import EXAMPLE_CLUSTER
from services.storage.local_postgres import LocalPostgres, find_install, free_port

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


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
    server: LocalPostgres | None = None
    url = os.environ.get("HEATLINK_DATABASE_URL")
    if not url:
        install = find_install()
        if install is None:
            raise SystemExit("no PostgreSQL found; set HEATLINK_DATABASE_URL")
        server = LocalPostgres(install, f"bench-{uuid.uuid4().hex[:8]}")
        url = server.start()
        print(f"database: private server, TimescaleDB {install.timescaledb}")
    cluster_file, keys = bench_cluster(series, folder)
    port = free_port()
    env = {**os.environ, "HEATLINK_DATABASE_URL": url,
           "HEATLINK_CLUSTER_FILE": str(cluster_file), "HEATLINK_LOG_LEVEL": "WARNING"}
    service = subprocess.Popen([sys.executable, "-m", "heatlink.cli", "serve", "--port",
                                str(port)], env=env)
    try:
        base_url = f"http://127.0.0.1:{port}"
        asyncio.run(_wait_ready(base_url))
        token = subprocess.run(
            [sys.executable, "-m", "heatlink.cli", "token", "create", "--org",
             "glomfjord-smelter", "--role", "gateway", "--gateway", "bench-gw", "--name",
             "bench"], env=env, capture_output=True, text=True, check=True).stdout.strip()
        copy_rates, api_rates = [], []
        for round_no in range(rounds):
            batches = make_batches(keys, readings, batch_size)
            copy_rate, api_rate = asyncio.run(_round(url, base_url, token, batches, clients))
            copy_rates.append(copy_rate)
            api_rates.append(api_rate)
            print(f"round {round_no + 1}: copy {copy_rate:,.0f}/s, api {api_rate:,.0f}/s")
        copy_median = statistics.median(copy_rates)
        api_median = statistics.median(api_rates)
        print(f"(a) COPY limit:  {copy_median:,.0f} readings/s (median of {rounds})")
        print(f"(b) API path:    {api_median:,.0f} readings/s "
              f"({clients} clients, batches of {batch_size}, one worker)")
        print(f"ratio b/a:       {api_median / copy_median:.2f}")
        print(f"service peak memory: {peak_rss_mb(service.pid):.0f} MB")
    finally:
        service.terminate()
        service.wait()
        if server is not None:
            server.destroy()


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


async def _wait_ready(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        for _ in range(600):
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the service did not become ready")
