"""Stale and stuck series: the monitor does not know, which is not an outage.

A series with no reading for ``max_age_s`` (by its site's plant clock: source time, see
`plant_clock`) is UNKNOWN from
``last reading + max_age_s``, or at once from the time its source said it went offline (a
reading of quality unknown, e.g. a Sparkplug death certificate); one that repeats the same
value for ``max_flat_s`` (source time) is SUSPECT from the start of that run plus
``max_flat_s``. No delays: both are already delays by nature.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from heatlink.cluster.rule_spec import StaleRule
from heatlink.findings import State
from services.monitor.group import F64, I64, VersionedRule, param
from services.monitor.small_arrays import select


def _stale(r: VersionedRule) -> StaleRule:
    assert isinstance(r.spec, StaleRule)
    return r.spec


class StaleGroup:
    kind = "stale"

    def __init__(self, rules: Sequence[VersionedRule], series: I64) -> None:
        self.rules = list(rules)
        self.series = series
        self.max_age_s = param(rules, lambda r: _stale(r).max_age_s)
        self.max_flat_s = param(rules, lambda r: _stale(r).max_flat_s)
        self.state = np.zeros(len(rules), dtype=np.int8)

    def __len__(self) -> int:
        return len(self.rules)

    def evaluate(self, now_s: F64, last_t_s: F64, flat_since_s: F64, dead_since_s: F64
                 ) -> tuple[I64, np.ndarray, np.ndarray, F64]:
        """Instances whose state changes at ``now_s`` (per series: its plant time):
        (inst, old, new, true time)."""
        now_s = now_s[self.series]
        last = last_t_s[self.series]
        flat_since = flat_since_s[self.series]
        unknown_at = np.fmin(last + self.max_age_s, dead_since_s[self.series])
        with np.errstate(invalid="ignore"):
            suspect = (last - flat_since) >= self.max_flat_s
        target = select([now_s >= unknown_at, suspect], [State.UNKNOWN, State.SUSPECT],
                        State.OK).astype(np.int8)
        changed = np.flatnonzero(target != self.state)
        old = self.state[changed].copy()
        new = target[changed]
        t = select([new == State.UNKNOWN, new == State.SUSPECT],
                   [unknown_at[changed], flat_since[changed] + self.max_flat_s[changed]],
                   last[changed])
        self.state[changed] = new
        return changed, old, new, t
