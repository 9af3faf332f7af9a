"""`Rule.evaluate(t_s, values) -> RuleResult`: one rule over one series, pure numpy.

The same code path as the streaming engine (a one-series engine fed the whole array), so
what the property tests establish here holds for the monitor in service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from heatlink.cluster.rule_spec import BandRule, RampRule, StaleRule, SupplyDisruptionRule
from heatlink.findings import Finding, State
from services.monitor.engine import Engine
from services.monitor.group import VersionedRule
from services.monitor.plan import Plan

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class RuleResult:
    state: NDArray[np.int8]  # the rule's state after each sample
    findings: tuple[Finding, ...]

    @property
    def states_entered(self) -> list[State]:
        return [State[f.state.upper()] for f in self.findings]

    @property
    def final(self) -> State:
        return State(int(self.state[-1])) if self.state.size else State.OK


class Rule(Protocol):
    """A rule over one series. ``t_s`` ascending source times, ``values`` the same length;
    no I/O, no clock: the result depends on the arrays alone."""

    def evaluate(self, t_s: F64, values: F64) -> RuleResult: ...


SingleSeriesSpec = BandRule | RampRule | StaleRule | SupplyDisruptionRule


class SeriesRule:
    """`Rule` for the kinds that read a single series (band, ramp, stale, disruption)."""

    def __init__(self, spec: SingleSeriesSpec, version: int = 1) -> None:
        if isinstance(spec, SupplyDisruptionRule) and spec.flow_series:
            raise ValueError("a disruption rule with a flow series reads two series; "
                             "run it in an Engine")
        self.rule = VersionedRule(spec, version)

    def evaluate(self, t_s: F64, values: F64) -> RuleResult:
        t_s = np.asarray(t_s, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        if t_s.size == 0:
            return RuleResult(np.zeros(0, np.int8), ())
        engine = Engine(Plan(series=(self.rule.spec.series,)), [self.rule], float(t_s[0]))
        # "Now" is the last sample: staleness is judged only by gaps (none in an array).
        findings = engine.process(np.zeros(t_s.size, np.int64), t_s, values, None,
                                  now_s=float(t_s[-1]))
        times = np.array([f.ts.timestamp() for f in findings])
        codes = np.array([State[f.state.upper()] for f in findings], dtype=np.int8)
        at = np.searchsorted(times, t_s, "right") - 1
        state = np.where(at >= 0, codes[np.maximum(at, 0)] if codes.size else 0, 0)
        return RuleResult(state.astype(np.int8), tuple(findings))
