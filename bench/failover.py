"""`heatlink bench failover`: the partitioned monitor when a replica dies.

Two ``heatlink serve`` replicas on one database with the partitioned monitor
(HEATLINK_MONITOR_PARTITIONS), a plant of several sites (each its own partition unit),
each site with a band rule that its breach series crosses back and forth all the time.
Clients post batches alternately to both replicas as fast as they are answered; part way
through one replica is killed (SIGKILL) and the clients move to the other (a gateway's
failover: the batch in flight is sent again, its id makes it once). Prints:

- readings per second through two replicas before the kill, and through one after;
- the time from the kill to every partition being held again, and to the first reading
  of a moved partition, stored after the kill, being evaluated (the partition served);
- findings lost and repeated: the band rules' findings in the database against those the
  engine makes of the same readings offline, in one pass (target 0 and 0).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import numpy as np
import typer
import yaml

from bench.system import BenchService, bench_database, bench_service
from heatlink.cluster.loader import EXAMPLE_CLUSTER, load_cluster
from services.monitor.engine import Engine
from services.monitor.group import VersionedRule
from services.monitor.partitions import partition_map
from services.monitor.plan import plan_from_cluster

app = typer.Typer(add_completion=False)
HIGH = 100.0  # the band rules' high limit; breach series cross it every `period` instants


def failover_cluster(sites: int, per_site: int, folder: Path) -> tuple[Path, list[str]]:
    """The example cluster plus ``sites`` sites of ``per_site`` series each, one gateway;
    series 0 of each site carries a band rule with no delays (every crossing a finding)."""
    doc = yaml.safe_load(EXAMPLE_CLUSTER.read_text())
    keys = []
    for s in range(sites):
        site = f"fo{s}"
        doc["sites"].append({"id": site, "name": f"Failover plant {s}"})
        doc["assets"].append({"id": f"{site}/plant", "name": f"Plant {s}",
                              "kind": "heat_source", "owner": "glomfjord-smelter"})
        mine = [f"{site}/plant/t{i}" for i in range(per_site)]
        keys += mine
        doc["series"] += [{"key": k, "asset": f"{site}/plant", "quantity": "temperature",
                           "unit": "degC", "range": [-50, 200]} for k in mine]
        doc["rules"].append({"id": f"{site}-band", "kind": "band",
                             "owner": "glomfjord-smelter", "series": mine[0], "low": -40.0,
                             "high": HIGH, "deadband": 0.0, "on_delay_s": 0,
                             "off_delay_s": 0,
                             # No predictions: their slope window (600 readings here) is
                             # longer than the history's capacity (512), whose contents
                             # after a restart or a takeover differ from a run's that
                             # never stopped, and so would the time a prediction ends.
                             "predict_horizon_s": 0})
    doc["gateways"].append({"id": "fo-gw", "owner": "glomfjord-smelter",
                            "series": [f"fo{s}/*" for s in range(sites)]})
    path = folder / "failover-cluster.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path, keys


def value(key: str, instant: int, period: int) -> float:
    if key.endswith("/t0"):
        return HIGH + 20.0 if (instant // period) % 2 else HIGH - 20.0
    return 50.0 + (instant % 7)


def make_batch(keys: list[str], start: datetime, first: int, instants: int,
               period: int) -> bytes:
    readings = [{"series": k, "ts": (start + timedelta(seconds=i)).isoformat(),
                 "value": value(k, i, period)}
                for i in range(first, first + instants) for k in keys]
    return json.dumps({"gateway": "fo-gw", "batch_id": uuid.uuid4().hex,
                       "readings": readings}).encode()


def expected_findings(cluster_file: Path, keys: list[str], instants: dict[str, int],
                      period: int, start: datetime) -> set[tuple[str, datetime, str]]:
    """The band rules' findings the engine makes of every reading (``instants[key]`` of
    each), in one pass."""
    cluster = load_cluster(cluster_file)
    rules = [VersionedRule(r, 1) for r in cluster.rules]
    t0 = start.timestamp()
    engine = Engine(plan_from_cluster(cluster), rules, t0)
    breach = [k for k in keys if k.endswith("/t0")]
    index = engine.table.index
    idx = np.concatenate([np.full(instants[k], index[k]) for k in breach])
    steps = np.concatenate([np.arange(instants[k]) for k in breach])
    v = np.array([value(k, int(i), period) for k in breach for i in range(instants[k])])
    found = engine.process(idx, t0 + steps.astype(float), v, None,
                           now_s=t0 + float(steps.max()) + 1)
    return {(f.rule_id, f.ts, f.state) for f in found if f.rule_id.startswith("fo")}


@app.command()
def main(
    sites: int = typer.Option(8, help="Sites (partition units) of the bench plant"),
    per_site: int = typer.Option(25, help="Series per site"),
    batch_size: int = typer.Option(1000, help="Readings per batch (whole instants)"),
    seconds: float = typer.Option(30.0, help="Length of the steady ingest"),
    kill_after: float = typer.Option(10.0, help="Seconds of ingest before the kill"),
    clients: int = typer.Option(4, help="Concurrent clients"),
    partitions: int = typer.Option(16, help="HEATLINK_MONITOR_PARTITIONS"),
    lease_s: float = typer.Option(6.0, help="HEATLINK_MONITOR_LEASE_S"),
    period: int = typer.Option(200, help="Instants between crossings of the band"),
) -> None:
    """Steady ingest through two replicas, one killed; figures of the takeover."""
    folder = Path(tempfile.mkdtemp(prefix="heatlink-bench-"))
    cluster_file, keys = failover_cluster(sites, per_site, folder)
    env = {"HEATLINK_MONITOR_PARTITIONS": str(partitions),
           "HEATLINK_MONITOR_LEASE_S": str(lease_s)}
    with bench_database() as url, bench_service(url, cluster_file, env) as a, \
            bench_service(url, cluster_file, env) as b:
        token = a.token("glomfjord-smelter", "gateway", "fo-gw")
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
        asyncio.run(_run(url, [a, b], token, keys, cluster_file, start, sites, per_site,
                         batch_size, seconds, kill_after, clients, partitions, period))


async def _run(url: str, replicas: list[BenchService], token: str, keys: list[str],
               cluster_file: Path, start: datetime, sites: int, per_site: int,
               batch_size: int, seconds: float, kill_after: float, clients: int,
               partitions: int, period: int) -> None:
    db = await asyncpg.create_pool(url, min_size=1, max_size=3)
    cluster = load_cluster(cluster_file)
    where = partition_map(cluster, plan_from_cluster(cluster), partitions)
    await _until_held(db, partitions, owners=2)
    victim, survivor = replicas[1], replicas[0]
    victim_name = await db.fetchval(
        "SELECT owner FROM monitor_partitions WHERE owner LIKE $1 LIMIT 1",
        f"%-{victim.process.pid}-%")
    moved = {p for p, in await db.fetch(
        "SELECT partition FROM monitor_partitions WHERE owner = $1", victim_name)}
    moved_keys = [k for k in keys if k.endswith("/t0") and where[k] in moved]
    print(f"{sites} sites of {per_site} series in {len({where[k] for k in keys})} "
          f"partitions of {partitions}; the replica to be killed holds {len(moved)} "
          f"partitions, {len(moved_keys)} of the breach series")
    alive = [survivor.url, victim.url]
    stored = [0, 0]  # readings before, after the kill
    killed_at: float | None = None
    # A client per group of sites, sending their instants in order (a gateway per site:
    # one series' readings never overtake each other), to both replicas in turn.
    groups = [[k for k in keys if int(k.split("/")[0][2:]) % clients == n]
              for n in range(clients)]
    next_instant = [0] * clients

    async def client(n: int) -> None:
        mine = groups[n]
        per_batch = max(1, batch_size // max(1, len(mine)))
        async with httpx.AsyncClient(timeout=60, headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json"}) as http:
            turn = n
            while mine and time.perf_counter() < deadline:
                first = next_instant[n]
                body = make_batch(mine, start, first, per_batch, period)
                while True:  # a gateway's failover: the same batch to the next replica
                    target = alive[turn % len(alive)]
                    turn += 1
                    try:
                        response = await http.post(f"{target}/v1/ingest", content=body)
                        response.raise_for_status()
                        break
                    except httpx.TransportError:
                        if target in alive and target != survivor.url:
                            alive.remove(target)
                next_instant[n] = first + per_batch
                answer = response.json()
                if not answer.get("replayed"):
                    stored[killed_at is not None] += answer["accepted"]

    began = time.perf_counter()
    deadline = began + seconds
    tasks = [asyncio.create_task(client(n)) for n in range(clients)]
    await asyncio.sleep(kill_after)
    victim.process.kill()
    killed_at = time.perf_counter()
    at_kill = list(next_instant)  # a reading at or after these is stored after the kill
    victim.process.wait()
    held_s = await _until_held(db, partitions, owners=1, since=killed_at)
    group_of = {k: n for n, g in enumerate(groups) for k in g}
    served_s = max([await _until_evaluated(
        db, [k], start + timedelta(seconds=at_kill[group_of[k]]), since=killed_at)
        for k in moved_keys] or [float("nan")])
    await asyncio.gather(*tasks)
    ended = time.perf_counter()
    breach = [k for k in keys if k.endswith("/t0")]
    instants = {k: next_instant[group_of[k]] for k in breach}
    for k in breach:
        await _until_evaluated(db, [k], start + timedelta(seconds=instants[k] - 1), ended)
    expected = expected_findings(cluster_file, keys, instants, period, start)
    rows = await db.fetch("SELECT rule_id, ts, state FROM monitor_findings"
                          " WHERE rule_id LIKE 'fo%'")
    found = [(r["rule_id"], r["ts"], r["state"]) for r in rows]
    lost = len(expected - set(found))
    repeated = len(found) - len(set(found)) + len(set(found) - expected)
    await db.close()
    print(f"readings/s through two replicas: {stored[0] / (killed_at - began):,.0f} "
          f"({clients} clients, batches of about {batch_size})")
    print(f"readings/s through one after the kill: {stored[1] / (ended - killed_at):,.0f}")
    print(f"kill -> every partition held again: {held_s:.1f} s (lease "
          f"{_lease(replicas[0])} s)")
    print(f"kill -> a moved partition's reading stored after the kill evaluated: "
          f"{served_s:.1f} s")
    print(f"findings: {len(expected)} expected, {len(found)} stored, lost {lost}, "
          f"repeated {repeated}")
    for what, items in (("lost", expected - set(found)), ("repeated", set(found) - expected)):
        for rule_id, ts, state in sorted(items)[:5]:
            print(f"  {what}: {rule_id} {state} at instant {(ts - start).total_seconds():.0f}")
    print(f"  (the kill came at instants {at_kill})")


def _lease(service: BenchService) -> str:
    return service.env.get("HEATLINK_MONITOR_LEASE_S", "6")


async def _until_held(db: asyncpg.Pool, partitions: int, owners: int,
                      since: float | None = None) -> float:
    """Until every partition is held (by ``owners`` replicas); seconds since ``since``."""
    began = since if since is not None else time.perf_counter()
    while time.perf_counter() - began < 120:
        row = await db.fetchrow(
            "SELECT count(*) FILTER (WHERE owner IS NOT NULL AND lease_until > now()) AS held,"
            " count(DISTINCT owner) AS owners FROM monitor_partitions")
        if row is not None and row["held"] == partitions and row["owners"] == owners:
            return time.perf_counter() - began
        await asyncio.sleep(0.05)
    raise SystemExit(f"the partitions were not held by {owners} replicas within 120 s")


async def _until_evaluated(db: asyncpg.Pool, keys: list[str], ts: datetime,
                           since: float) -> float:
    if not keys:
        return float("nan")  # the killed replica held none of these
    while time.perf_counter() - since < 300:
        n = await db.fetchval("SELECT count(*) FROM monitor_watermarks"
                              " WHERE series = ANY($1::text[]) AND ts >= $2", keys, ts)
        if n == len(keys):
            return time.perf_counter() - since
        await asyncio.sleep(0.05)
    raise SystemExit(f"readings up to {ts} not evaluated within 300 s")
