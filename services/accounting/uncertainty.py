"""EN 1434-1 maximum permissible errors of a heat meter, in percent (../shared/domain.md).

A heat meter is a flow sensor, a temperature pair and a calculator; its error is the sum
of theirs. The formulas hold inside the meter's rated range; an hour whose flow is below
qi or whose temperature difference is below ΔΘmin is flagged, and its error is still
evaluated at the actual values (larger, as it should be) with the flow floored at qi/10
and ΔΘ at ΔΘmin/10 so that a stopped flow gives a large, finite figure.
"""

from __future__ import annotations

from dataclasses import dataclass

# class -> (constant %, coefficient of qp/q %), EN 1434-1
_FLOW_CLASS: dict[int, tuple[float, float]] = {1: (1.0, 0.01), 2: (2.0, 0.02), 3: (3.0, 0.05)}
FLOW_MPE_CAP_PCT = 5.0

LOW_FLOW = "flow_below_qi"
LOW_DTHETA = "dtheta_below_min"


def flow_sensor_mpe_pct(meter_class: int, qp: float, q: float) -> float:
    """Class 1 ±(1 + 0.01·qp/q), class 2 ±(2 + 0.02·qp/q), class 3 ±(3 + 0.05·qp/q), ≤ 5."""
    constant, coefficient = _FLOW_CLASS[meter_class]
    if q <= 0:
        return FLOW_MPE_CAP_PCT
    return min(constant + coefficient * qp / q, FLOW_MPE_CAP_PCT)


def temperature_pair_mpe_pct(dtheta_min_k: float, dtheta_k: float) -> float:
    """±(0.5 + 3·ΔΘmin/ΔΘ)."""
    return 0.5 + 3.0 * dtheta_min_k / dtheta_k


def calculator_mpe_pct(dtheta_min_k: float, dtheta_k: float) -> float:
    """±(0.5 + ΔΘmin/ΔΘ)."""
    return 0.5 + dtheta_min_k / dtheta_k


@dataclass(frozen=True)
class MeterError:
    pct: float
    flags: tuple[str, ...]


def heat_meter_error(meter_class: int, qp: float, qi: float, dtheta_min_k: float,
                     q: float, dtheta_k: float) -> MeterError:
    """The heat meter's MPE at flow ``q`` and temperature difference ``dtheta_k``."""
    flags = []
    if q < qi:
        flags.append(LOW_FLOW)
    if abs(dtheta_k) < dtheta_min_k:
        flags.append(LOW_DTHETA)
    q_eval = max(q, qi / 10.0)
    dtheta_eval = max(abs(dtheta_k), dtheta_min_k / 10.0)
    pct = (flow_sensor_mpe_pct(meter_class, qp, q_eval)
           + temperature_pair_mpe_pct(dtheta_min_k, dtheta_eval)
           + calculator_mpe_pct(dtheta_min_k, dtheta_eval))
    return MeterError(pct, tuple(flags))


def volume_meter_error(meter_class: int, qp: float | None, qi: float | None,
                       q: float) -> MeterError:
    """A volume or mass meter: the flow sensor's MPE alone (the cap without a rating)."""
    if qp is None:
        return MeterError(FLOW_MPE_CAP_PCT, ())
    flags = (LOW_FLOW,) if qi is not None and q < qi else ()
    floor = qi / 10.0 if qi is not None else qp / 100.0
    return MeterError(flow_sensor_mpe_pct(meter_class, qp, max(q, floor)), flags)
