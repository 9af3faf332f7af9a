"""`heatlink bench e2e`: from a value change at an OPC UA plant to the webhook that tells of
it, through the real gateway, ingest, monitor and alerts, under a steady background load of
half the ingest capacity.

Processes (spawned, so that none shares a GIL): the database; `heatlink serve` (ingest,
monitor, alerts and their delivery worker, as in production); the plant, an asyncua server
whose values the bench flips across a band rule's high limit on a fixed schedule, each
change with its source timestamp; the real `Gateway` subscribed to it (publishing interval
as in the example gateway config), its uplink wrapped to write down when each batch was sent
and answered; the webhook receiver; the background load, paced batches posted to
/v1/ingest on another gateway's series (no rules on them: the monitor still evaluates
every reading). Capacity is measured first on the same service (the API path flat out,
`--capacity-readings`), unless `--rate` gives the background load.

Each change's way is cut at instants the system records; all are wall-clock times of one
machine, so they compare:

    gateway         source timestamp (OPC UA, set by the plant) → the gateway's uplink
                    begins the POST carrying it: sampling and publishing interval, the
                    subscription's notification, the SQLite buffer's commit, the
                    forwarder's pickup (bench: `TimedUplink`, in the gateway process)
    ingest          → the gateway has the answer, or the monitor began on the reading if
                    that came first (`monitor_findings.detected_at`; ingest tells its
                    observers right after the commit, before the answer is written): HTTP,
                    decode, checks, COPY and commit
    monitor         → the alert service takes the finding (`alert_findings_seen.seen_at`,
                    the instant also of its transition): the monitor's queue behind the
                    background batches, evaluation, storing findings and watermarks
    alert pipeline  → the delivery worker claims its delivery (the first
                    `alert_delivery_attempts.at`): dedup, impact, lifecycle, route and
                    outbox in one transaction, commit, NOTIFY, the worker's wake-up
    delivery        → the webhook receiver has read the POST (its own clock, in its own
                    process): grouping, rendering, the HTTP request

Printed: p50, p99 and max of source → webhook (target from issue 17: p99 < 500 ms), each
hop's p50, p99, max and share of the summed time, and the achieved background rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import typer
import yaml

from bench import e2e_peers as peers
from bench.e2e_hops import journeys, report
from bench.gateway import wait_port
from bench.ingest import api_path, bench_cluster, make_batches
from bench.system import bench_database, bench_service
from services.storage.local_postgres import free_port

app = typer.Typer(help=__doc__, add_completion=False)
SPAWN = multiprocessing.get_context("spawn")
ORG, GATEWAY, RULES = "e2e-plant", "e2e-gw", "e2e-"


def e2e_cluster(folder: Path, load_series: int, plant_series: int,
                hook_url: str) -> tuple[Path, list[str], list[str]]:
    """The bench cluster (``load_series`` series without rules for the background load)
    plus a plant of ``plant_series`` series, each with a band rule and no delays, owned by
    an organisation whose only subscription is the receiver's webhook."""
    path, load_keys = bench_cluster(load_series, folder)
    doc = yaml.safe_load(path.read_text())
    keys = [f"e2e/plant/t{i}" for i in range(plant_series)]
    doc["organisations"].append({"id": ORG, "name": "End-to-end bench plant",
                                 "contact_email": "ops@e2e.example"})
    doc["sites"].append({"id": "e2e", "name": "End-to-end bench site"})
    # An asset a series: conditions on one asset are one episode, paged once.
    doc["assets"] += [{"id": f"e2e/plant{i}", "name": f"E2E {i}", "kind": "heat_source",
                       "owner": ORG} for i in range(plant_series)]
    doc["series"] += [{"key": k, "asset": f"e2e/plant{i}", "quantity": "temperature",
                       "unit": "degC", "range": [-50, 200]} for i, k in enumerate(keys)]
    doc["gateways"].append({"id": GATEWAY, "owner": ORG, "series": ["e2e/*"]})
    midway = (peers.NORMAL + peers.BREACH) / 2
    doc["rules"] += [{"id": f"{RULES}{i}", "kind": "band", "owner": ORG, "series": k,
                      "high": midway, "predict_horizon_s": 0} for i, k in enumerate(keys)]
    doc["subscriptions"] = [{"org": ORG, "contact": "bench", "channel": "webhook",
                             "address": hook_url}]
    # Every change is its own message: grouping and flood control would (rightly) merge them.
    doc["alerting"] = {"group_window_s": 0, "max_notifications_per_hour": 1_000_000}
    path.write_text(yaml.safe_dump(doc))
    return path, load_keys, keys


def gateway_config(folder: Path, service_url: str, token: str, opcua_port: int,
                   keys: list[str], publishing_interval_ms: float) -> dict[str, Any]:
    return {
        "sources": [{"kind": "opcua", "name": "plant",
                     "endpoint": f"opc.tcp://127.0.0.1:{opcua_port}/e2e/",
                     "publishing_interval_ms": publishing_interval_ms,
                     "sampling_interval_ms": 0, "queue_size": 100,
                     "nodes": [{"node_id": f"ns=2;s={k}", "series": k} for k in keys]}],
        "buffer": {"path": str(folder / "buffer.sqlite3")},
        "uplink": {"url": service_url, "gateway_id": GATEWAY, "token": token,
                   "dead_letter_path": str(folder / "dead.jsonl")},
        "http": {"port": 0},
    }


@contextmanager
def process(target: Any, *args: Any) -> Iterator[BaseProcess]:
    proc = SPAWN.Process(target=target, args=args, daemon=True)
    proc.start()
    try:
        yield proc
    finally:
        proc.terminate()
        proc.join(10)


def until(condition: Any, timeout_s: float, what: str, *watched: BaseProcess) -> None:
    """Poll a flag another process sets (shared memory offers nothing to await)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        for proc in watched:
            if not proc.is_alive():
                raise SystemExit(f"a peer exited ({proc.exitcode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


@app.command()
def main(
    changes: int = typer.Option(300, help="value changes at the plant, each one webhook"),
    interval_s: float = typer.Option(0.2, help="between changes"),
    plant_series: int = typer.Option(10, help="plant series the changes rotate over"),
    rate: float = typer.Option(0, help="background ingest, readings/s; 0: half the "
                               "capacity measured first"),
    capacity_readings: int = typer.Option(200_000, help="readings posted flat out per "
                                          "round to measure the capacity"),
    capacity_rounds: int = typer.Option(3, min=1, help="rounds; the median is taken"),
    load_series: int = typer.Option(1000, help="series the background load spreads over"),
    batch: int = typer.Option(2000, help="readings per background batch (and per batch "
                              "of the capacity run)"),
    publishing_interval_ms: float = typer.Option(100, help="the gateway's OPC UA "
                                                 "subscription, as in the example config"),
) -> None:
    """Print source change → webhook p50, p99, max and the share of each hop."""
    folder = Path(tempfile.mkdtemp(prefix="heatlink-bench-e2e-"))
    hook_port, opcua_port = free_port(), free_port()
    arrivals, batches = folder / "arrivals.txt", folder / "batches.jsonl"
    arrivals.touch()
    batches.touch()
    received: Synchronized[int] = SPAWN.Value("q", 0)
    cluster, load_keys, keys = e2e_cluster(folder, load_series, plant_series,
                                           f"http://127.0.0.1:{hook_port}/hook")
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, folder, ignore_errors=True)  # last, after the peers
        stack.enter_context(process(peers.run_receiver, hook_port, str(arrivals), received))
        wait_port(hook_port)
        url = stack.enter_context(bench_database())
        service = stack.enter_context(bench_service(url, cluster))
        load_token = service.token("glomfjord-smelter", "gateway", "bench-gw")
        if rate <= 0:
            rounds = [asyncio.run(api_path([service.url], load_token, make_batches(
                load_keys, capacity_readings, batch), clients=4))
                for _ in range(capacity_rounds)]
            capacity = statistics.median(rounds)
            rate = capacity / 2
            print(f"ingest capacity: {capacity:,.0f} readings/s (API path flat out, median "
                  f"of {', '.join(f'{r:,.0f}' for r in rounds)}; batches of {batch}, "
                  f"4 clients); background load at half: {rate:,.0f}/s")
        stop: Synchronized[int] = SPAWN.Value("i", 0)
        stored: Synchronized[int] = SPAWN.Value("q", 0)
        elapsed: Synchronized[float] = SPAWN.Value("d", 0.0)
        load = stack.enter_context(process(peers.run_load, service.url, load_token,
                                           load_keys, rate, batch, stop, stored, elapsed))
        plant_state: Synchronized[int] = SPAWN.Value("i", 0)
        plant = stack.enter_context(process(peers.run_plant, opcua_port, keys, changes,
                                            interval_s, plant_state))
        until(lambda: plant_state.value >= peers.PLANT_UP, 30, "the plant", plant)
        gateway_up: Synchronized[int] = SPAWN.Value("i", 0)
        config = gateway_config(folder, service.url, service.token(ORG, "gateway", GATEWAY),
                                opcua_port, keys, publishing_interval_ms)
        gateway = stack.enter_context(process(peers.run_gateway, config, str(batches),
                                              gateway_up))
        until(lambda: gateway_up.value >= 1, 30, "the gateway", gateway)
        time.sleep(3.0)  # the background load reaches its pace, the initial values pass
        since = datetime.now(UTC)
        plant_state.value = peers.PLANT_GO
        print(f"{changes} changes, one each {interval_s:g} s over {plant_series} series; "
              f"the gateway's OPC UA publishing interval {publishing_interval_ms:g} ms ...")
        until(lambda: plant_state.value >= peers.PLANT_DONE, changes * interval_s + 60,
              "the plant's changes", plant, gateway, load)
        with contextlib.suppress(SystemExit):  # what did not arrive is reported below
            until(lambda: received.value >= changes, 30, "the last webhooks", gateway, load)
        stop.value = 1
        load.join(30)
        found, lost = asyncio.run(journeys(url, RULES, since, batches, arrivals))
    print(f"background ingest: {stored.value / max(elapsed.value, 1e-9):,.0f} readings/s "
          f"achieved (target {rate:,.0f}), {stored.value:,} readings in {elapsed.value:.0f} s")
    print(f"webhooks received: {received.value} for {changes} changes; "
          f"{lost} findings not followed to the webhook")
    if not found:
        raise SystemExit("no change was followed to the webhook")
    for line in report(found):
        print(line)
