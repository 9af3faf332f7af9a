"""Run a scenario as fast as the CPU allows, without servers: for tests and scoring.

The readings are exactly what a live run at any speed would put on the wire for the
same scenario, seed and start (a live run adds setpoint writes and real time only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from heatlink.wire import Reading
from simulators.engine import Engine
from simulators.scenario import Scenario, load_scenario
from simulators.truth import TruthEvent, write_jsonl


@dataclass
class SimulationResult:
    scenario: Scenario
    seed: int
    start: datetime
    duration_s: float
    readings: list[Reading]  # every sample that reached the wire, in time order
    truth: list[TruthEvent]

    def series(self, key: str) -> list[Reading]:
        return [r for r in self.readings if r.series == key]

    def truth_of(self, kind: str) -> list[TruthEvent]:
        return [e for e in self.truth if e.kind == kind]

    def write_truth(self, path: Path) -> None:
        write_jsonl(path, self.truth)


def run_offline(scenario: str | Path | Scenario, *, seed: int = 1,
                duration_s: float | None = None,
                start: datetime | None = None) -> SimulationResult:
    """Run ``scenario`` (a shipped name, a file path or a loaded Scenario) to its end."""
    loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    engine = Engine(loaded, seed=seed, start=start)
    total_s = loaded.duration_s if duration_s is None else duration_s
    steps = round(total_s / engine.dt_s)
    readings: list[Reading] = []
    truth: list[TruthEvent] = []
    for _ in range(steps + 1):  # the last step samples the end instant too
        result = engine.step()
        readings.extend(result.readings)
        truth.extend(result.truth)
    # The last step's physics runs past the end; what it found belongs to no one.
    truth = [e for e in truth if e.sim_s <= total_s]
    return SimulationResult(loaded, seed, engine.start, total_s, readings, truth)
