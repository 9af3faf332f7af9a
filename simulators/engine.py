"""One run of a scenario, advanced one fixed sim-time step at a time.

The engine is the same for offline runs and live runs: it applies the scenario's
events when their time comes, advances the plant, samples the sensors whose period is
due, drops what a dropout or a lost plant keeps off the wire, and watches the
recipients' limits. It never reads the wall clock; a live run passes one in for the
ground truth's wall times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from heatlink.wire import Reading
from simulators.catalog import SERIES, SETPOINTS_BY_KEY, asset_of
from simulators.params import PlantParams, SensorParams, load_plant
from simulators.physics import Fouling, Sensor, SensorSpec
from simulators.plant import NordlandPlant
from simulators.scenario import (
    CommsLoss,
    Decline,
    Event,
    FoulingEvent,
    PlannedStop,
    Scenario,
    SetpointWrite,
    StuckSensor,
    Trip,
)
from simulators.truth import LimitWatcher, TruthEvent

# Long enough for the slowest state (network and greenhouse, τ ≈ 2 h) to settle.
WARM_UP_S = 3 * 3600.0


@dataclass(slots=True)
class StepResult:
    readings: list[Reading] = field(default_factory=list)
    truth: list[TruthEvent] = field(default_factory=list)


@dataclass(order=True)
class _Action:
    at_s: float
    order: int
    apply: Callable[[], TruthEvent] = field(compare=False)


def sensor_spec(params: PlantParams, scenario: Scenario, key: str) -> SensorSpec:
    info = next(s for s in SERIES if s.key == key)
    base = params.sensors.get(info.quantity, SensorParams())
    override = scenario.sensors.get(key)
    spec = SensorSpec(period_s=scenario.sample_period_s, low=info.low, high=info.high,
                      **base.model_dump())
    if override is not None:
        spec = replace(spec, **override.model_dump(exclude_none=True))
    return spec


class Engine:
    def __init__(self, scenario: Scenario, *, seed: int = 1, start: datetime | None = None,
                 wall_clock: Callable[[], datetime] | None = None) -> None:
        self.scenario = scenario
        self.seed = seed
        self.start = start or scenario.start
        self.wall_clock = wall_clock
        self.dt_s = scenario.step_s
        params = load_plant(scenario.plant, scenario.plant_overrides)
        local = self.start.astimezone(ZoneInfo(scenario.timezone))
        start_day_s = local.hour * 3600 + local.minute * 60 + local.second
        self.plant = NordlandPlant(params, start_day_s=float(start_day_s))
        self.plant.warm_up(WARM_UP_S, self.dt_s)
        self.sensors = {s.key: Sensor(s.key, sensor_spec(params, scenario, s.key), seed)
                        for s in SERIES}
        self._sample_every = {key: max(1, round(sensor.spec.period_s / self.dt_s))
                              for key, sensor in self.sensors.items()}
        self.comms_lost: set[str] = set()
        self.watchers = [(LimitWatcher(lim), lim) for lim in scenario.limits]
        self.step_index = 0
        self._actions = sorted(self._schedule(scenario.events))
        self._previous: dict[str, float] = {}
        self._pending: list[TruthEvent] = []

    # ---- time
    @property
    def t_s(self) -> float:
        return self.step_index * self.dt_s

    def at(self, t_s: float) -> datetime:
        return self.start + timedelta(seconds=t_s)

    def event(self, category: str, kind: str, asset: str, series: str | None = None,
              **detail: object) -> TruthEvent:
        """A ground-truth event stamped now; live runs use it for what the harness does."""
        return self._event(category, kind, asset, series, **detail)

    def _event(self, category: str, kind: str, asset: str, series: str | None = None,
               **detail: object) -> TruthEvent:
        wall = self.wall_clock() if self.wall_clock else None
        return TruthEvent(category, kind, self.t_s, self.at(self.t_s), wall, asset, series,
                          dict(detail))

    # ---- events
    def _schedule(self, events: list[Event]) -> list[_Action]:
        actions: list[_Action] = []

        def add(at_s: float, apply: Callable[[], TruthEvent]) -> None:
            actions.append(_Action(at_s, len(actions), apply))

        for event in events:
            match event:
                case Trip():
                    add(event.at_s, partial(self._trip, event))
                    if event.restart_after_s is not None:
                        add(event.at_s + event.restart_after_s, partial(
                            self._ramp, event.target, 1.0, event.restart_ramp_s, "restart"))
                case PlannedStop():
                    add(event.announce_at_s, partial(self._announce, event))
                    add(event.at_s, partial(self._ramp, event.target, 0.0, event.ramp_down_s,
                                            "planned_stop_start"))
                    add(event.at_s + event.ramp_down_s + event.duration_s, partial(
                        self._ramp, event.target, 1.0, event.ramp_up_s, "planned_stop_end"))
                case FoulingEvent():
                    add(event.at_s, partial(self._foul, event))
                case Decline():
                    add(event.at_s, partial(self._decline, event))
                case StuckSensor():
                    add(event.at_s, partial(self._stick, event, True))
                    add(event.at_s + event.duration_s, partial(self._stick, event, False))
                case CommsLoss():
                    add(event.at_s, partial(self._comms, event, True))
                    add(event.at_s + event.duration_s, partial(self._comms, event, False))
                case SetpointWrite():
                    add(event.at_s, partial(self._set, event.setpoint, event.value))
        return actions

    def _trip(self, event: Trip) -> TruthEvent:
        self.plant.sources[event.target].trip(event.remaining_fraction)
        return self._event("injected", "trip", event.target,
                           restart_after_s=event.restart_after_s,
                           remaining_fraction=event.remaining_fraction)

    def _ramp(self, target: str, to: float, ramp_s: float, kind: str) -> TruthEvent:
        self.plant.sources[target].ramp_to(to, ramp_s)
        return self._event("injected", kind, target, to_fraction=to, ramp_s=ramp_s)

    def _announce(self, event: PlannedStop) -> TruthEvent:
        return self._event("injected", "planned_stop_announced", event.target,
                           starts_at=self.at(event.at_s).isoformat(), starts_in_s=event.at_s
                           - event.announce_at_s, ramp_down_s=event.ramp_down_s,
                           duration_s=event.duration_s, ramp_up_s=event.ramp_up_s)

    def _foul(self, event: FoulingEvent) -> TruthEvent:
        self.plant.fouling[event.target] = Fouling(event.ua_loss_fraction, event.over_s,
                                                   event.at_s)
        return self._event("injected", "fouling_start", event.target,
                           ua_loss_fraction=event.ua_loss_fraction, over_s=event.over_s,
                           represents_days=event.represents_days)

    def _decline(self, event: Decline) -> TruthEvent:
        self.plant.sources[event.target].start_decline(event.at_s, event.fraction_per_day)
        return self._event("injected", "decline_start", event.target,
                           fraction_per_day=event.fraction_per_day, represents=event.represents)

    def _stick(self, event: StuckSensor, stuck: bool) -> TruthEvent:
        sensor = self.sensors[event.series]
        if stuck:
            sensor.stick(self._previous.get(event.series, 0.0))
        else:
            sensor.unstick()
        return self._event("injected", "sensor_stuck" if stuck else "sensor_recovered",
                           asset_of(event.series), event.series, value=sensor.stuck_value)

    def _comms(self, event: CommsLoss, lost: bool) -> TruthEvent:
        return self.set_comms(event.plant, lost=lost)

    def set_comms(self, plant: str, *, lost: bool) -> TruthEvent:
        """The plant's readings stop (or flow again) from now on: a scenario's comms_loss,
        or a harness injecting one when its test is ready for it."""
        if lost:
            self.comms_lost.add(plant)
        else:
            self.comms_lost.discard(plant)
        return self._event("injected", "comms_lost" if lost else "comms_restored", plant)

    def _set(self, key: str, value: float) -> TruthEvent:
        if key not in SETPOINTS_BY_KEY:
            raise KeyError(f"no writable setpoint {key!r}")
        self.plant.write_setpoint(key, value)
        return self._event("injected", "setpoint_written", asset_of(key), key, value=value)

    def write_setpoint(self, key: str, value: float) -> TruthEvent:
        """Apply a setpoint written from outside (an OPC UA client) from the next step on.

        The ground-truth event comes out with the next step's result.
        """
        event = self._set(key, value)
        self._pending.append(event)
        return event

    def setpoints(self) -> dict[str, float]:
        return self.plant.setpoints()

    def is_lost(self, key: str) -> bool:
        return any(key == p or key.startswith(p + "/") for p in self.comms_lost)

    # ---- stepping
    def step(self) -> StepResult:
        """Events due now, samples due now, then the physics over one step."""
        result = StepResult(truth=self._pending)
        self._pending = []
        while self._actions and self._actions[0].at_s <= self.t_s + 1e-9:
            result.truth.append(self._actions.pop(0).apply())
        if self.step_index == 0:
            self._previous = self.plant.true_values()
            self._watch(self._previous, {}, result)
        self._sample(result)
        self.plant.step(self.t_s, self.dt_s)
        self.step_index += 1
        values = self.plant.true_values()
        self._watch(values, self._previous, result)
        self._previous = values
        return result

    def _sample(self, result: StepResult) -> None:
        ts = self.at(self.t_s)
        k = self.step_index
        lost = self.comms_lost
        for key, value in self._previous.items():
            if k % self._sample_every[key]:
                continue
            sample = self.sensors[key].sample(value)
            if sample is None or (lost and self.is_lost(key)):
                continue
            result.readings.append(Reading(key, ts, sample.value, sample.quality))

    def _watch(self, values: dict[str, float], previous: dict[str, float],
               result: StepResult) -> None:
        for watcher, lim in self.watchers:
            value = values[lim.series]
            before = previous.get(lim.series, value)
            rate_k_per_h = (value - before) / self.dt_s * 3600.0
            for kind, detail in watcher.check(value, rate_k_per_h):
                result.truth.append(self._event("limit", kind, lim.asset, lim.series, **detail))
