"""Feeding the simulator's offline runs to the engine as a live service would see them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from heatlink.cluster.loader import EXAMPLE_CLUSTER, load_cluster
from heatlink.findings import Finding
from heatlink.quality import QUALITY_CODES
from heatlink.wire import Reading
from services.monitor.engine import Engine
from services.monitor.group import VersionedRule
from services.monitor.plan import plan_from_cluster
from simulators.offline import SimulationResult, run_offline


@dataclass(frozen=True)
class ScenarioRun:
    sim: SimulationResult
    findings: list[Finding]

    @property
    def start_s(self) -> float:
        return self.sim.start.timestamp()

    def sim_s(self, finding: Finding) -> float:
        return finding.ts.timestamp() - self.start_s

    def truth_s(self, kind: str, series: str | None = None) -> list[float]:
        return [e.sim_s for e in self.sim.truth
                if e.kind == kind and (series is None or e.series == series)]


def run_scenario(name: str, *, seed: int = 1, batch_s: float = 30.0,
                 replay_lag_s: float = 0.0,
                 tamper: Callable[[Sequence[Reading]], list[Reading]] | None = None
                 ) -> ScenarioRun:
    """Run the scenario offline and stream its readings in batches of ``batch_s`` of plant
    time, "now" being each batch's end (a live service without transport delay) plus
    ``replay_lag_s`` (a replay, or a gateway's backlog drained that much later).
    ``tamper`` changes the readings on their way (an instrument's fault the plant does
    not have).

    Both steps are deterministic, and several tests read the same day (the furnace trip
    and the restart at full heat, four times each): the last few runs are kept and shared
    within a worker, so a test must not change the run it is given."""
    if tamper is None:
        return _shared_run(name, seed, batch_s, replay_lag_s)
    sim = _simulated(name, seed)
    return _monitored(replace(sim, readings=tamper(sim.readings)), batch_s, replay_lag_s)


@lru_cache(maxsize=4)
def _simulated(name: str, seed: int) -> SimulationResult:
    return run_offline(name, seed=seed)


@lru_cache(maxsize=4)
def _shared_run(name: str, seed: int, batch_s: float, replay_lag_s: float) -> ScenarioRun:
    return _monitored(_simulated(name, seed), batch_s, replay_lag_s)


def _monitored(sim: SimulationResult, batch_s: float, replay_lag_s: float) -> ScenarioRun:
    """The engine's findings on the simulated readings, fed as a live service gets them."""
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
    return ScenarioRun(sim, findings)
