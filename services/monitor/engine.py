"""The streaming monitor: new readings in, findings (changes of state) out.

Pure: no I/O and no clock; the caller passes ``now_s`` (for staleness and for telling a
late detection). Per batch: drop what was already seen (a replayed reading neither raises
again nor moves state back), derive heat power and exchanger UA, then walk every rule's
latch over the new samples in source-time order, vectorised across series.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from heatlink.findings import Finding, State
from services.monitor.group import F64, I64, BoolA, Chunk, RuleGroup, VersionedRule
from services.monitor.history import History
from services.monitor.plan import Plan
from services.monitor.plant_clock import PlantClock
from services.monitor.plant_rules import DisruptionGroup
from services.monitor.series import SeriesTable
from services.monitor.settings import Counters, EngineConfig
from services.monitor.stale import StaleGroup

QUALITY_BAD = 2
QUALITY_UNKNOWN = 3  # the source went offline: the series is stale, its value no measurement
_EMPTY: tuple[I64, F64, F64] = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0))


def to_datetime(t_s: float) -> datetime:
    return datetime.fromtimestamp(t_s, UTC)


def _opt(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


class Engine:
    def __init__(self, plan: Plan, rules: Sequence[VersionedRule], start_s: float,
                 config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.table = SeriesTable(plan, rules, start_s, self.config)
        self.plant_clock = PlantClock(self.table.keys)
        self.counters = Counters()
        # Heat power computed by the last `process` (series index, time, kW), for storing.
        self.last_derived: tuple[I64, F64, F64] = _EMPTY
        self.groups: list[RuleGroup] = []
        self.stale = StaleGroup([], np.zeros(0, np.int64))
        self.set_rules(rules)

    # -- rules -------------------------------------------------------------------------

    def set_rules(self, rules: Sequence[VersionedRule]) -> None:
        """Install a new rule set (a rule changed); states carry over by rule id, so a changed
        limit is judged from the next sample on without raising again what stands."""
        old = {(g.kind, r.spec.id): (g, i) for g in self.groups for i, r in enumerate(g.rules)}
        old_stale = {r.spec.id: int(self.stale.state[i]) for i, r in enumerate(self.stale.rules)}
        self.groups, self.stale = self.table.build_groups(rules, self._upstream_lost)
        self.table.update_keep(rules)
        for g in self.groups:
            for i, r in enumerate(g.rules):
                found = old.get((g.kind, r.spec.id))
                if found is not None:
                    og, oi = found
                    g.latch.state[i] = og.latch.state[oi]
                    g.latch.pending[i] = og.latch.pending[oi]
                    g.latch.since_s[i] = og.latch.since_s[oi]
                    if isinstance(g, DisruptionGroup) and isinstance(og, DisruptionGroup):
                        g.reference[i] = og.reference[oi]  # the level before the drop
        for i, r in enumerate(self.stale.rules):
            self.stale.state[i] = old_stale.get(r.spec.id, 0)
        self.rules = {r.spec.id: r for r in rules}
        self._where = {r.spec.id: (g, i) for g in self.groups for i, r in enumerate(g.rules)}
        self._timeline: dict[int, tuple[np.ndarray, I64, F64, np.ndarray]] = {}

    def restore_state(self, rule_id: str, state: State, since_s: float,
                      reference: float | None = None) -> None:
        """Set a rule's state as the last stored finding says (after a restart)."""
        if rule_id in self._where:
            g, i = self._where[rule_id]
            g.latch.state[i] = g.latch.pending[i] = state
            g.latch.since_s[i] = since_s
            if reference is not None and isinstance(g, DisruptionGroup):
                g.reference[i] = reference
        for i, r in enumerate(self.stale.rules):
            if r.spec.id == rule_id:
                self.stale.state[i] = state

    def state_of(self, rule_id: str) -> State:
        if rule_id in self._where:
            g, i = self._where[rule_id]
            return State(int(g.latch.state[i]))
        for i, r in enumerate(self.stale.rules):
            if r.spec.id == rule_id:
                return State(int(self.stale.state[i]))
        raise KeyError(rule_id)

    # -- readings ----------------------------------------------------------------------

    def process(self, idx: I64, t_s: F64, v: F64, quality: np.ndarray | None, now_s: float,
                evaluate: bool = True) -> list[Finding]:
        """Evaluate new readings (series index, source time, value, quality code).

        With ``evaluate=False`` the readings only fill history and last values: the warm-up
        after a restart, for readings that were evaluated before it.
        """
        table = self.table
        self.last_derived = _EMPTY
        if quality is not None:
            dead = quality == QUALITY_UNKNOWN
            if dead.any():
                table.mark_dead(idx[dead], t_s[dead])
                self.plant_clock.saw(idx[dead], t_s[dead], now_s)
            good = quality < QUALITY_BAD
            self.counters.bad_quality += int((quality == QUALITY_BAD).sum())
            idx, t_s, v = idx[good], t_s[good], v[good]
        idx, t_s, v = table.new_only(idx, t_s, v, self.counters)
        self.plant_clock.saw(idx, t_s, now_s)
        if idx.size == 0:
            return self._stale(now_s) if evaluate else []
        idx, t_s, v = table.derive(idx, t_s, v, self.counters)
        power = (idx >= table.measured) & (idx < table.measured + len(table.plan.derived))
        self.last_derived = (idx[power], t_s[power], v[power])
        table.track(idx, t_s, v)
        table.revive()
        findings: list[Finding] = []
        for chunk in table.chunks(idx, t_s, v):
            if evaluate:
                findings.extend(self._evaluate(chunk, now_s))
        if evaluate:
            findings.extend(self._stale(now_s))
        self.counters.findings += len(findings)
        return findings

    def tick(self, now_s: float) -> list[Finding]:
        """Staleness by the clock, when no readings come."""
        found = self._stale(now_s)
        self.counters.findings += len(found)
        return found

    def _evaluate(self, chunk: Chunk, now_s: float) -> list[Finding]:
        findings: list[Finding] = []
        self._timeline = {}
        for g in self.groups:
            start_state = g.latch.state.copy()
            fired, _inst, j, feats = g.run(chunk)
            f_inst, f_pair, old, new, t_f, since = fired.arrays()
            order = np.argsort(t_f, kind="stable")
            self._timeline[id(g)] = (start_state, f_inst[order], t_f[order], new[order])
            if f_inst.size == 0 or feats is None:
                continue
            for n in range(f_inst.size):
                p = int(f_pair[n])
                rule = g.rules[int(f_inst[n])]
                findings.append(self._finding(
                    rule, int(chunk.idx[j[p]]), State(int(old[n])), State(int(new[n])),
                    float(t_f[n]), float(since[n]), now_s, float(feats.value[p]),
                    float(feats.slope_per_h[p]), float(feats.ttl_s[p]),
                    None if feats.reference is None else float(feats.reference[p])))
        findings.sort(key=lambda f: f.ts)
        return findings

    def _upstream_lost(self, refs: Sequence[tuple[str, int]], t_s: F64) -> BoolA:
        """Whether any upstream instance was in its "lost" state at each time, as of this
        chunk's transitions (upstream groups run before recipients)."""
        lost = np.zeros(t_s.size, dtype=bool)
        for rule_id, lost_state in refs:
            if rule_id not in self._where:
                continue
            g, i = self._where[rule_id]
            line = self._timeline.get(id(g))
            if line is None:
                state_now = np.full(t_s.size, g.latch.state[i])
            else:
                start, f_inst, f_t, f_new = line
                mine = f_inst == i
                times, states = f_t[mine], f_new[mine]
                at = np.searchsorted(times, t_s, "right") - 1
                state_now = np.where(at >= 0, states[np.maximum(at, 0)] if states.size else 0,
                                     start[i])
            lost |= state_now == lost_state
        return lost

    def _stale(self, now_s: float) -> list[Finding]:
        if not len(self.stale):
            return []
        plant_now = self.plant_clock.now_by_series(now_s)
        inst, old, new, t = self.stale.evaluate(plant_now, self.table.last_t,
                                                self.table.flat_since,
                                                self.table.dead_since)
        out = []
        for n in range(inst.size):
            rule = self.stale.rules[int(inst[n])]
            s = int(self.stale.series[int(inst[n])])
            out.append(self._finding(rule, s, State(int(old[n])), State(int(new[n])),
                                     float(t[n]), float(t[n]), now_s,
                                     float(self.table.last_v[s]), np.nan, np.inf, None))
        return out

    def _finding(self, rule: VersionedRule, series: int, old: State, new: State, t_s: float,
                 since_s: float, now_s: float, value: float, slope_per_h: float, ttl_s: float,
                 reference: float | None) -> Finding:
        spec = rule.spec
        detail = ""
        if reference is not None and np.isfinite(reference):
            detail = f"reference {reference:.6g}"
        return Finding(
            rule_id=spec.id, rule_version=rule.version, kind=spec.kind,
            series=spec.series, owner=spec.owner, severity=spec.severity,
            state=new.label, previous_state=old.label, ts=to_datetime(t_s),
            since_ts=to_datetime(since_s if np.isfinite(since_s) else t_s),
            detected_at=to_datetime(now_s), late=now_s - t_s > self.config.late_after_s,
            value=_opt(value), slope_per_h=_opt(slope_per_h),
            predicted_time_to_limit_s=_opt(ttl_s), reference_value=_opt(reference)
            if reference is not None else None, detail=detail)


__all__ = ["Engine", "EngineConfig", "History", "VersionedRule"]
