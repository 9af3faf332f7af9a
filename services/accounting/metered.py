"""One metering point's hourly figures: what the database computed, made into PointHours.

Heat comes from the register where the meter has one, else from ∫ρ·V̇·cp·ΔT; the hour's
mean flow and ΔΘ come from the flow and temperature pair in both cases and give the
hour's EN 1434 error. A computed hour counts as measured when its steps cover at least
the contract's ``min_coverage`` of it; its amount is then the mean over the covered time
for the whole hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from heatlink.cluster.metering import MeteringPoint, Resource
from services.accounting.register import HourSums, Step, register_hours
from services.accounting.uncertainty import MeterError, heat_meter_error, volume_meter_error
from services.readings import store as readings

HOUR_S = 3600.0
# A register step longer than this is a gap bridged by interpolation (flagged).
REGISTER_MAX_STEP = timedelta(minutes=15)
PARTIAL = "partial_hour"


@dataclass(frozen=True)
class PointHour:
    point: str
    hour: datetime
    value: float | None  # in the resource's unit; None when the hour is missing
    coverage: float
    mean_flow: float | None
    mean_dtheta_k: float | None
    error_pct: float | None
    flags: tuple[str, ...]

    @property
    def error_abs(self) -> float | None:
        if self.value is None or self.error_pct is None:
            return None
        return abs(self.value) * self.error_pct / 100.0


@dataclass(frozen=True)
class FlowHour:
    steps: int
    mean_flow: float
    mean_dtheta_k: float | None = None
    power_sum_kw: float | None = None


def _error(point: MeteringPoint, flow: FlowHour | None) -> MeterError | None:
    if flow is None:
        return None
    if point.resource == Resource.HEAT:
        # The model requires them of a heat meter.
        assert point.qp is not None
        assert point.qi is not None
        assert point.dtheta_min_k is not None
        return heat_meter_error(point.meter_class, point.qp, point.qi, point.dtheta_min_k,
                                flow.mean_flow, flow.mean_dtheta_k or 0.0)
    return volume_meter_error(point.meter_class, point.qp, point.qi, flow.mean_flow)


def computed_value(point: MeteringPoint, flow: FlowHour, min_coverage: float
                   ) -> tuple[float | None, float]:
    """(amount for the hour or None, coverage) of a meter computed from its flow."""
    coverage = min(flow.steps * point.integration_step_s / HOUR_S, 1.0)
    if coverage < min_coverage or flow.steps == 0:
        return None, coverage
    if point.resource == Resource.HEAT:
        assert flow.power_sum_kw is not None
        return flow.power_sum_kw / flow.steps, coverage  # mean kW × 1 h = kWh
    return flow.mean_flow, coverage  # mean m³/h (t/h) × 1 h


def point_hours(point: MeteringPoint, hours: Sequence[datetime],
                flows: dict[datetime, FlowHour],
                register: dict[datetime, tuple[float, float, frozenset[str]]] | None,
                min_coverage: float) -> dict[datetime, PointHour]:
    """Every hour of ``hours``; ``register`` maps hour → (amount, covered s, flags)."""
    out = {}
    for hour in hours:
        flow = flows.get(hour)
        flags: set[str] = set()
        if register is not None:
            found = register.get(hour)
            value, coverage = None, 0.0
            if found is not None:
                flags |= found[2]
                coverage = min(found[1] / HOUR_S, 1.0)
                # As for a computed meter: the mean over the covered time, for the hour.
                value = found[0] / coverage if coverage >= min_coverage else None
        elif flow is not None:
            value, coverage = computed_value(point, flow, min_coverage)
        else:
            value, coverage = None, 0.0
        if value is not None and coverage < 1.0:
            flags.add(PARTIAL)
        error = _error(point, flow)
        if error is not None:
            flags |= set(error.flags)
        out[hour] = PointHour(point.id, hour, value, round(coverage, 6),
                              None if flow is None else flow.mean_flow,
                              None if flow is None else flow.mean_dtheta_k,
                              None if error is None else error.pct, tuple(sorted(flags)))
    return out


async def measure(pool: asyncpg.Pool, point: MeteringPoint, hours: Sequence[datetime],
                  min_coverage: float, timescaledb: bool) -> dict[datetime, PointHour]:
    """The point's figures for ``hours`` (consecutive hour starts), computed in the database."""
    if not hours:
        return {}
    start, end = hours[0], hours[-1] + timedelta(hours=1)
    step = timedelta(seconds=point.integration_step_s)
    flows: dict[datetime, FlowHour] = {}
    if point.flow is not None and point.temp_in is not None and point.temp_out is not None:
        for r in await readings.hourly_heat(pool, point.flow, point.temp_in, point.temp_out,
                                            start, end, step, timescaledb):
            flows[r["hour"]] = FlowHour(r["steps"], r["mean_flow"], r["mean_dtheta"],
                                        r["power_sum_kw"])
    elif point.flow is not None:
        for r in await readings.hourly_flow(pool, point.flow, start, end, step, timescaledb):
            flows[r["hour"]] = FlowHour(r["steps"], r["mean_flow"])
    register = None
    if point.register_series is not None:
        rows = await readings.register_steps(pool, point.register_series, start, end,
                                             REGISTER_MAX_STEP, timescaledb)
        sums = [HourSums(r["hour"], r["inner_increase"], r["inner_s"], _steps(r))
                for r in rows]
        found = register_hours(sums, hours, point.rollover_at,
                               REGISTER_MAX_STEP.total_seconds())
        register = {h: (v.amount, v.covered_s, frozenset(v.flags)) for h, v in found.items()}
    return point_hours(point, hours, flows, register, min_coverage)


def _steps(r: asyncpg.Record) -> tuple[Step, ...]:
    if r["from_ts"] is None:
        return ()
    return tuple(Step(a, b, c, d) for a, b, c, d in
                 zip(r["from_ts"], r["from_value"], r["to_ts"], r["to_value"], strict=True))
