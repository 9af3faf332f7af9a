"""The example cluster's monitor over a simulated day: an offline run's readings streamed to
the engine in batches of plant time, as a live service gets them. The monitor's scenario
tests score what it finds against the simulation's ground truth; `heatlink bench monitor`
times it."""

from __future__ import annotations

import numpy as np

from heatlink.cluster.loader import EXAMPLE_CLUSTER, load_cluster
from heatlink.findings import Finding
from heatlink.quality import QUALITY_CODES
from services.monitor.engine import Engine
from services.monitor.group import VersionedRule
from services.monitor.plan import plan_from_cluster
from simulators.offline import SimulationResult


def monitor_day(sim: SimulationResult, batch_s: float = 30.0,
                replay_lag_s: float = 0.0) -> list[Finding]:
    """The engine's findings on the simulated readings in batches of ``batch_s`` of plant
    time, "now" being each batch's end (a live service without transport delay) plus
    ``replay_lag_s`` (a replay, or a gateway's backlog drained that much later)."""
    cluster = load_cluster(EXAMPLE_CLUSTER)
    start_s = sim.start.timestamp()
    engine = Engine(plan_from_cluster(cluster), [VersionedRule(r, 1) for r in cluster.rules],
                    start_s + replay_lag_s)
    index = engine.table.index
    idx = np.array([index[r.series] for r in sim.readings], dtype=np.int64)
    t = np.array([r.ts.timestamp() for r in sim.readings])
    v = np.array([r.value for r in sim.readings])
    q = np.array([QUALITY_CODES[str(r.quality)] for r in sim.readings], dtype=np.int8)
    batch = np.floor((t - start_s) / batch_s).astype(np.int64)
    bounds = np.flatnonzero(np.diff(batch)) + 1
    findings: list[Finding] = []
    for part in np.split(np.arange(t.size), bounds):
        now = min(start_s + (batch[part[0]] + 1) * batch_s, float(t[-1])) + replay_lag_s
        findings += engine.process(idx[part], t[part], v[part], q[part], now_s=float(now))
    return findings
