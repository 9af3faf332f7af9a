"""The state machine every sample-driven rule shares: hysteresis, on-delay, off-delay.

A rule turns each sample into *features*: the state the sample would enter from OK (strict
thresholds), the states it keeps alive (relaxed thresholds: the deadband), and the figures
a finding reports. The latch then walks the samples of each rule instance in time order,
vectorised across instances: step k handles the k-th new sample of every instance at once,
so a live batch (one or two samples per series) costs a couple of numpy passes and a
replayed day of one series costs one small pass per sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from heatlink.findings import RANK, State

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
I8 = NDArray[np.int8]
BoolA = NDArray[np.bool_]

HOLD_ANY = -1  # the sample says nothing (no valid estimate): keep whatever state there is
_RANK = np.array(RANK, dtype=np.int8)
# Which way each state points: +1 up (high, rising and their predictions), −1 down, 0 none.
# A turn to the other way is news: it is raised once it has held ``TURN_DELAY_S`` (or the
# on-delay, if longer), not left for the off-delay of the state it replaces (a tank still
# rising from a restart when the supply trips again). Held that long, a turn is no single
# noisy slope swinging about its limit.
TURN_DELAY_S = 20.0
_WAY = np.zeros(len(RANK), dtype=np.int8)
_WAY[[State.HIGH, State.PREDICTED_HIGH, State.RISING, State.PREDICTED_RISING]] = 1
_WAY[[State.LOW, State.PREDICTED_LOW, State.FALLING, State.PREDICTED_FALLING]] = -1


@dataclass
class Features:
    """Per (instance, sample) pair; all arrays have the pairs' length."""

    enter: I8
    hold_a: I8
    hold_b: I8
    value: F64
    slope_per_h: F64
    ttl_s: F64
    reference: F64 | None = None
    hold_c: I8 | None = None  # a third state the sample keeps alive (a ramp's prediction)
    # Pairs whose ``enter`` state needs no on-delay of its own: a prediction drawn from an
    # upstream rule's state, which that rule's own on-delay has already confirmed.
    confirmed: BoolA | None = None


@dataclass
class Fired:
    """Transitions found by one `LatchState.run`, as parallel arrays."""

    inst: list[I64] = field(default_factory=list)
    pair: list[I64] = field(default_factory=list)
    old: list[I8] = field(default_factory=list)
    new: list[I8] = field(default_factory=list)
    t_s: list[F64] = field(default_factory=list)
    since_s: list[F64] = field(default_factory=list)

    def arrays(self) -> tuple[I64, I64, I8, I8, F64, F64]:
        if not self.inst:
            e = np.zeros(0, np.int64)
            return e, e, e.astype(np.int8), e.astype(np.int8), e.astype(float), e.astype(float)
        return (np.concatenate(self.inst), np.concatenate(self.pair),
                np.concatenate(self.old), np.concatenate(self.new),
                np.concatenate(self.t_s), np.concatenate(self.since_s))


class LatchState:
    """State, pending target and its start time for ``n`` rule instances."""

    def __init__(self, on_delay_s: F64, off_delay_s: F64) -> None:
        n = on_delay_s.size
        self.on_delay_s = on_delay_s
        self.off_delay_s = off_delay_s
        self.state = np.zeros(n, dtype=np.int8)
        self.pending = np.zeros(n, dtype=np.int8)
        self.since_s = np.full(n, -np.inf)

    def step_order(self, rank: I64) -> list[I64]:
        """Pair positions grouped by their rank (k-th new sample of their instance)."""
        if rank.size == 0:
            return []
        order = np.argsort(rank, kind="stable")
        bounds = np.flatnonzero(np.diff(rank[order])) + 1
        return list(np.split(order, bounds))

    def run(self, inst: I64, rank: I64, t_s: F64, feats: Features,
            dynamic_hold: DynamicHold | None = None) -> Fired:
        fired = Fired()
        if self._settled(inst, feats):
            return fired
        for p in self.step_order(rank):
            i = inst[p]
            st = self.state[i]
            enter = feats.enter[p]
            held = (st != State.OK) & ((st == feats.hold_a[p]) | (st == feats.hold_b[p])
                                       | (feats.hold_a[p] == HOLD_ANY))
            if feats.hold_c is not None:
                held |= (st != State.OK) & (st == feats.hold_c[p])
            if dynamic_hold is not None:
                held |= (st != State.OK) & dynamic_hold.holds(i, p, st)
            keep = held & (_RANK[st] >= _RANK[enter])
            target = np.where(keep, st, enter).astype(np.int8)
            changing = target != st
            t = t_s[p]
            restart = changing & (self.pending[i] != target)
            self.since_s[i] = np.where(restart, t, self.since_s[i])
            self.pending[i] = np.where(changing, target, st)
            delay = np.where(_RANK[target] > _RANK[st], self.on_delay_s[i], self.off_delay_s[i])
            delay = np.where(_WAY[target] * _WAY[st] < 0,
                             np.maximum(self.on_delay_s[i], TURN_DELAY_S), delay)
            if feats.confirmed is not None:
                delay = np.where(feats.confirmed[p] & (target == enter)
                                 & ((_RANK[target] > _RANK[st])
                                    | (_WAY[target] * _WAY[st] < 0)), 0.0, delay)
            fire = changing & (t - self.since_s[i] >= delay)
            if fire.any():
                fi = i[fire]
                fired.inst.append(fi)
                fired.pair.append(p[fire])
                fired.old.append(st[fire])
                fired.new.append(target[fire])
                fired.t_s.append(t[fire])
                fired.since_s.append(self.since_s[fi].copy())
                self.state[fi] = target[fire]
                if dynamic_hold is not None:
                    dynamic_hold.fired(fi, p[fire], target[fire])
        return fired

    def _settled(self, inst: I64, feats: Features) -> bool:
        """Whether every new sample enters the state its instance is in, none with a
        change pending: then no step of the walk changes anything (a state changes only
        toward a target other than itself, and the target is the state wherever it is what
        a sample enters), and the walk is skipped. On a normal day most batches are so."""
        state = self.state[inst]
        return bool(np.array_equal(feats.enter, state)
                    and np.array_equal(self.pending[inst], state))


class DynamicHold:
    """A hold that depends on the instance's remembered figures (e.g. the level before a
    supply dropped), evaluated inside the latch walk."""

    def holds(self, inst: I64, pairs: I64, state: I8) -> BoolA:
        raise NotImplementedError

    def fired(self, inst: I64, pairs: I64, new_state: I8) -> None:
        raise NotImplementedError
