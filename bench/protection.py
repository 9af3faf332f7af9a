"""`heatlink bench protection`: how well the recipient is protected, scored against the
simulators' ground truth over every shipped scenario and several seeds (issue 18).

Each run streams a scenario's readings, batch by batch in plant time, through the
service's own pipeline on a real database: the readings are stored, the monitor's engine
evaluates them, and its findings go to the alert service (the monitor's FindingSink:
impact, lifecycle, grouping, routing, outbox) on a clock set to each batch's end. What the
outbox queued for each recipient is what it was paged; `bench.protection_score` scores
findings and pages against the truth. Figures are printed per scenario and in total.

Not yet through the HTTP ingest route: readings are copied into storage and handed to the
engine directly on the fake clock, so ingest's checks and its observers are not in the
path (the monitor runtime's queue would need a way to be awaited per batch).
"""

from __future__ import annotations

import asyncio
import statistics
from datetime import UTC, datetime

import asyncpg
import numpy as np
import typer

from alerts.service import AlertService
from alerts.signing import LinkSigner
from bench.protection_score import Page, Score, Seen, score
from bench.system import bench_database
from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.loader import EXAMPLE_CLUSTER, load_cluster
from heatlink.cluster.rule_spec import BandRule, RampRule
from heatlink.quality import QUALITY_CODES
from heatlink.testing import FakeClock
from services.ingest.store import sync_series
from services.monitor.engine import Engine
from services.monitor.group import VersionedRule
from services.monitor.plan import plan_from_cluster
from services.readings.store import latest_values
from services.storage.migrate import apply_migrations
from simulators.offline import run_offline
from simulators.scenario import list_scenarios

app = typer.Typer(add_completion=False)

PAGING_EVENTS = ("raised", "returned", "severity_raised", "released", "symptom_escalated",
                 "escalated", "unshelved", "shelf_expired")
RESET = """TRUNCATE readings, alerts, alert_transitions, alert_findings_seen, alert_deliveries,
           alert_delivery_attempts, alert_sends, maintenance_windows RESTART IDENTITY CASCADE"""


@app.command()
def main(scenario: list[str] = typer.Option(None, help="Scenario names (default: all)"),
         seeds: int = typer.Option(3, min=1, help="Seeds per scenario"),
         batch_s: float = typer.Option(60.0, help="Plant seconds per batch"),
         verbose: bool = typer.Option(False, help="Also list every page and each lead")
         ) -> None:
    """Score every scenario and seed; print missed breaches, false pages per simulated day,
    pages per episode per recipient and the lead as a fraction of the time available."""
    names = scenario or list_scenarios()
    with bench_database() as url:
        asyncio.run(_all(url, names, seeds, batch_s, verbose))


async def _all(url: str, names: list[str], seeds: int, batch_s: float,
               verbose: bool) -> None:
    await apply_migrations(url)
    cluster = load_cluster(EXAMPLE_CLUSTER)
    index = ClusterIndex(cluster)
    recipients = sorted({e.recipient for e in cluster.exchanges})
    watched = frozenset(r.series for r in cluster.rules if isinstance(r, BandRule | RampRule))
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    assert pool is not None
    try:
        await sync_series(pool, index)
        ids = {r["key"]: r["id"] for r in await pool.fetch("SELECT id, key FROM series")}
        total: list[Score] = []
        print(f"{'scenario':18} {'seed':>4} {'breaches':>8} {'missed':>6} {'lead min':>8} "
              f"{'lead mean':>9} {'false/day':>9} {'episodes':>8}  pages per recipient")
        for name in names:
            for seed in range(1, seeds + 1):
                s = await _one(pool, index, ids, watched, recipients, name, seed, batch_s)
                total.append(s)
                _line(name, seed, s, recipients)
                for m in s.missed:
                    print(f"    missed: {m}")
                for f in s.false_pages:
                    print(f"    false page: {f}")
                if verbose:
                    for line in s.log:
                        print(f"    {line}")
        _summary(total, recipients)
    finally:
        await pool.close()


async def _one(pool: asyncpg.Pool, index: ClusterIndex, ids: dict[str, int],
               watched: frozenset[str], recipients: list[str], name: str, seed: int,
               batch_s: float) -> Score:
    await pool.execute(RESET)
    sim = run_offline(name, seed=seed)
    start = sim.start
    start_s = start.timestamp()
    cluster = index.cluster
    engine = Engine(plan_from_cluster(cluster), [VersionedRule(r, 1) for r in cluster.rules],
                    start_s)
    clock = FakeClock(start)
    service = AlertService(pool, index, clock, LinkSigner(b"bench", "http://bench", 3600),
                           latest=latest_values)
    table = engine.table.index
    readings = [r for r in sim.readings if r.series in table]
    idx = np.array([table[r.series] for r in readings], dtype=np.int64)
    t = np.array([r.ts.timestamp() for r in readings])
    v = np.array([r.value for r in readings])
    q = np.array([QUALITY_CODES[str(r.quality)] for r in readings], dtype=np.int8)
    batch = np.floor((t - start_s) / batch_s).astype(np.int64)
    bounds = np.flatnonzero(np.diff(batch)) + 1
    seen: list[Seen] = []
    for part in np.split(np.arange(t.size), bounds):
        now_s = min(start_s + (batch[part[0]] + 1) * batch_s, float(t[-1]))
        rows = [(ids[readings[i].series], readings[i].ts, readings[i].value,
                 int(q[i])) for i in part if readings[i].series in ids and q[i] < 2]
        await pool.copy_records_to_table("readings", records=rows,
                                         columns=["series_id", "ts", "value", "quality"])
        clock.set(datetime.fromtimestamp(now_s, UTC))
        findings = engine.process(idx[part], t[part], v[part], q[part], now_s=now_s)
        seen += [Seen(f.ts.timestamp() - start_s, f.series, f.state) for f in findings]
        if findings:
            await service.findings(findings)
    pages = [Page((r["at"] - start).total_seconds(), r["org"], r["event"], r["title"])
             for r in await pool.fetch(
                 """SELECT DISTINCT ON (t.id, d.org) d.org, t.at, t.event,
                           coalesce(d.payload->'symptom'->>'title',
                                    d.payload->'alert'->>'title') AS title
                    FROM alert_deliveries d JOIN alert_transitions t ON t.id = d.transition_id
                    WHERE d.org = ANY($1::text[]) AND t.event = ANY($2::text[])
                    ORDER BY t.id, d.org""", recipients, list(PAGING_EVENTS))]
    truth = [e.as_dict() for e in sim.truth]
    duration_s = float(t[-1] - start_s) if t.size else 0.0
    return score(truth, seen, pages, watched, duration_s)


def _line(name: str, seed: int, s: Score, recipients: list[str]) -> None:
    lead_min = f"{min(s.leads):.2f}" if s.leads else "-"
    lead_mean = f"{statistics.mean(s.leads):.2f}" if s.leads else "-"
    per_day = len(s.false_pages) / s.days if s.days else 0.0
    pages = " ".join(f"{org}={s.pages.get(org, 0)}" for org in recipients)
    print(f"{name:18} {seed:>4} {s.breaches:>8} {len(s.missed):>6} {lead_min:>8} "
          f"{lead_mean:>9} {per_day:>9.2f} {s.episodes:>8}  {pages}")


def _summary(scores: list[Score], recipients: list[str]) -> None:
    days = sum(s.days for s in scores)
    leads = [x for s in scores for x in s.leads]
    breaches = sum(s.breaches for s in scores)
    missed = sum(len(s.missed) for s in scores)
    false = sum(len(s.false_pages) for s in scores)
    episodes = sum(s.episodes for s in scores)
    print(f"\n{len(scores)} runs, {days:.1f} simulated days")
    print(f"breaches {breaches}, missed {missed}")
    print(f"false pages {false} ({false / days:.2f} per simulated day)" if days else "")
    if leads:
        print(f"lead fraction: min {min(leads):.2f}, mean {statistics.mean(leads):.2f}, "
              f"share >= 0.9: {sum(x >= 0.9 for x in leads) / len(leads):.2f} "
              f"({len(leads)} breaches with time to warn)")
    for org in recipients:
        n = sum(s.pages.get(org, 0) for s in scores)
        print(f"pages to {org}: {n} over {episodes} episodes "
              f"({n / episodes:.2f} per episode)" if episodes else f"pages to {org}: {n}")
    unwatched = sum(s.unwatched for s in scores)
    print(f"crossings on series no rule watches (not scored): {unwatched}")


