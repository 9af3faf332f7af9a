"""Feeding the simulator's offline runs to the engine as a live service would see them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from bench.monitor_day import monitor_day
from heatlink.findings import Finding
from heatlink.wire import Reading
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
    """Run the scenario offline and monitor it as a live service would (`monitor_day`).
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
    return ScenarioRun(sim, monitor_day(sim, batch_s, replay_lag_s))
