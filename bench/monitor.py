"""`heatlink bench monitor`: readings per second through the monitor engine, one process.

A synthetic cluster of ``units`` copies of the Glomfjord pair (exchanger HX-1 feeding a
smolt tank: ten measured series, one derived power, nine rules: bands with prediction,
two ramps, two stale, a supply disruption with flow, exchanger health) sampled every
10 s, delivered as ingest batches; a tenth of the units trip during the run, so rules
change state as in a real upset. Prints the figure for the engine alone (arrays in) and
through the observer's conversion (keys and datetimes in, as ingest hands them over).

Then the example cluster over one simulated day (`--day`, the demo's by default): every
rule of the Nordland cluster on the plants' own readings, fed in batches of 30 s of plant
time as a live service gets them (`monitor_day`), the way the scenario tests run it. Each
series brings several samples a batch there, and the links between rules are real.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import typer

from bench.monitor_day import monitor_day
from heatlink.cluster.rule_spec import (
    BandRule,
    ExchangerHealthRule,
    RampRule,
    StaleRule,
    SupplyDisruptionRule,
)
from services.monitor.convert import ReadingArrays
from services.monitor.engine import Engine
from services.monitor.group import AnyRule, VersionedRule
from services.monitor.plan import DerivedPowerDef, Plan
from simulators.offline import run_offline

app = typer.Typer(add_completion=False, help=__doc__)

MEASURED = ("hx/primary/flow", "hx/primary/supply_temp", "hx/primary/return_temp",
            "hx/secondary/flow", "hx/secondary/supply_temp", "hx/secondary/return_temp",
            "tank/temp", "tank/inflow", "tank/valve", "tank/heater_power")
BASE = (300.0, 30.0, 17.4, 400.0, 17.4, 8.0, 12.0, 180.0, 40.0, 0.0)


@dataclass(frozen=True)
class Synthetic:
    plan: Plan
    rules: list[VersionedRule]
    n_series: int


def synthetic(units: int) -> Synthetic:
    keys, derived, rules = [], [], []
    for u in range(units):
        p = f"u{u}"
        keys += [f"{p}/{m}" for m in MEASURED]
        power = f"{p}/hx/primary/power"
        derived.append(DerivedPowerDef(power, f"{p}/hx/primary/flow",
                                       f"{p}/hx/primary/supply_temp",
                                       f"{p}/hx/primary/return_temp"))
        tank, own = f"{p}/tank/temp", "farm"
        specs: list[AnyRule] = [
            BandRule(id=f"{p}-band", owner=own, series=tank, low=10, high=16, deadband=0.2,
                     on_delay_s=30, off_delay_s=60),
            RampRule(id=f"{p}-ramp-warn", owner=own, series=tank, max_rise_per_h=1,
                     max_fall_per_h=1, windows_s=[600, 3600]),
            RampRule(id=f"{p}-ramp-alarm", owner=own, series=tank, max_rise_per_h=2,
                     max_fall_per_h=2, windows_s=[600, 3600]),
            StaleRule(id=f"{p}-stale", owner=own, series=tank, max_age_s=120),
            StaleRule(id=f"{p}-hx-stale", owner="smelter", series=f"{p}/hx/primary/supply_temp",
                      max_age_s=120),
            BandRule(id=f"{p}-supply", owner=own, series=f"{p}/hx/secondary/supply_temp",
                     low=14, high=22, deadband=0.3, on_delay_s=60, off_delay_s=60),
            SupplyDisruptionRule(id=f"{p}-disruption", owner="smelter", series=power,
                                 flow_series=f"{p}/hx/primary/flow", min_flow=20),
            ExchangerHealthRule(id=f"{p}-health", owner="smelter", series=power,
                                exchanger=f"{p}/hx", ua_clean_w_per_k=400_000),
        ]
        rules += [VersionedRule(s, 1) for s in specs]
    return Synthetic(Plan(series=tuple(keys), derived=tuple(derived)), rules, len(keys))


def _batch_values(n_series: int, rng: np.random.Generator, since_trip_s: float,
                  tripped: np.ndarray) -> np.ndarray:
    """One sampling instant; ``tripped`` units lost their supply ``since_trip_s`` ago (their
    flow stops, their tank cools at 6 K/h), so rules change state as in a real upset."""
    base = np.tile(np.array(BASE), n_series // len(BASE))
    values = base + rng.normal(0.0, 0.05, base.size)
    if since_trip_s >= 0:
        units = np.flatnonzero(tripped)
        values[units * len(BASE)] = 0.0  # hx/primary/flow
        values[units * len(BASE) + 6] -= 6.0 * since_trip_s / 3600  # tank/temp
    return values


@app.command()
def main(units: int = typer.Option(1000, help="Copies of the 10-series unit: 1000 gives "
                                   "10,000 series"),
         batches: int = typer.Option(90, help="Sampling instants (10 s apart) to evaluate"),
         warmup: int = typer.Option(30, help="Instants fed first, not timed"),
         trip_fraction: float = typer.Option(0.1, help="Share of units whose supply trips "
                                             "a third into the timed part"),
         day: str = typer.Option("demo", help="Scenario of the simulated day for the "
                                 "example cluster; '' skips it"),
         day_batch_s: float = typer.Option(30.0, help="Plant time per batch of that day")
         ) -> None:
    syn = synthetic(units)
    rng = np.random.default_rng(1)
    tripped = rng.random(units) < trip_fraction
    trip_k = warmup + batches // 3
    start_s = datetime(2026, 1, 15, tzinfo=UTC).timestamp()
    engine = Engine(syn.plan, syn.rules, start_s)
    idx = np.arange(syn.n_series, dtype=np.int64)
    quality = np.zeros(syn.n_series, dtype=np.int8)
    values = [_batch_values(syn.n_series, rng, 10.0 * (k - trip_k), tripped)
              for k in range(warmup + batches)]
    for k in range(warmup):
        t = np.full(syn.n_series, start_s + 10.0 * k)
        engine.process(idx, t, values[k], quality, now_s=float(t[0]))
    began, began_cpu = time.perf_counter(), time.process_time()
    for k in range(warmup, warmup + batches):
        t = np.full(syn.n_series, start_s + 10.0 * k)
        engine.process(idx, t, values[k], quality, now_s=float(t[0]))
    engine_s = time.perf_counter() - began
    engine_cpu_s = time.process_time() - began_cpu
    n = batches * syn.n_series
    typer.echo(f"series={syn.n_series} rules={len(syn.rules)} readings={n} "
               f"(+{engine.counters.derived} derived samples in total)")
    # CPU time too: on a shared machine the wall clock also counts other people's work.
    typer.echo(f"engine (arrays in):         {n / engine_s:,.0f} readings/s "
               f"({n / engine_cpu_s:,.0f} per CPU second)")

    keys = list(syn.plan.series)
    index = engine.table.index
    k0 = warmup + batches
    engine2 = Engine(syn.plan, syn.rules, start_s)
    for k in range(warmup):
        t = np.full(syn.n_series, start_s + 10.0 * k)
        engine2.process(idx, t, values[k], quality, now_s=float(t[0]))
    stamps = [[datetime.fromtimestamp(start_s + 10.0 * k, UTC)] * syn.n_series
              for k in range(warmup, k0)]
    began, began_cpu = time.perf_counter(), time.process_time()
    for n_b, k in enumerate(range(warmup, k0)):
        arrays = ReadingArrays.from_lists(index, keys, stamps[n_b], values[k].tolist(),
                                          ["good"] * syn.n_series)
        engine2.process(arrays.idx, arrays.t_s, arrays.values, arrays.quality,
                        now_s=float(arrays.t_s.max()))
    hook_s = time.perf_counter() - began
    hook_cpu_s = time.process_time() - began_cpu
    typer.echo(f"through the observer (keys, datetimes in): {n / hook_s:,.0f} readings/s "
               f"({n / hook_cpu_s:,.0f} per CPU second)")
    typer.echo(f"findings: {engine.counters.findings} ({int(tripped.sum())} of {units} units "
               "tripped: disruption, predicted breach, ramps)")
    if day:
        _simulated_day(day, day_batch_s)


def _simulated_day(scenario: str, batch_s: float) -> None:
    sim = run_offline(scenario, seed=1)
    began, began_cpu = time.perf_counter(), time.process_time()
    findings = monitor_day(sim, batch_s)
    wall_s, cpu_s = time.perf_counter() - began, time.process_time() - began_cpu
    n = len(sim.readings)
    typer.echo(f"example cluster, a simulated day ({scenario!r}, {batch_s:g} s batches): "
               f"{n} readings, {len(findings)} findings in {cpu_s:.1f} CPU s: "
               f"{n / wall_s:,.0f} readings/s ({n / cpu_s:,.0f} per CPU second)")
