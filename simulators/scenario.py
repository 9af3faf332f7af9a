"""Scenario files: what happens to the simulated cluster, when, and what counts as a limit.

A scenario names its plant (``simulators/plants/<plant>.yaml``), may override plant
parameters, schedules events in sim seconds from the start, and lists the limits of
each recipient against which the ground truth records crossings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

SCENARIOS_DIR = Path(__file__).parent / "scenarios"

Transport = Literal["opcua", "mqtt", "both"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trip(_Strict):
    """Heat to near zero (or to ``remaining_fraction``) within seconds; optionally restarts
    after ``restart_after_s``, ramping back to full heat over ``restart_ramp_s``."""

    kind: Literal["trip"]
    at_s: float
    target: str  # a heat-source asset, e.g. glomfjord/smelter/furnace
    restart_after_s: float | None = None
    restart_ramp_s: float = 1800.0
    # Heat left after the trip: 0 for the whole source, 0.5 for one of two furnaces.
    remaining_fraction: float = Field(0.0, ge=0.0, lt=1.0)


class PlannedStop(_Strict):
    """Announced at ``announce_at_s``; ramps down from ``at_s``; back after ``duration_s``."""

    kind: Literal["planned_stop"]
    announce_at_s: float
    at_s: float
    target: str
    ramp_down_s: float
    duration_s: float
    ramp_up_s: float


class FoulingEvent(_Strict):
    kind: Literal["fouling"]
    at_s: float = 0.0
    target: str  # an exchanger asset, e.g. glomfjord/smelter/hx1
    ua_loss_fraction: float
    over_s: float
    represents_days: float | None = None  # an accelerated scenario says what it stands for


class Decline(_Strict):
    kind: Literal["decline"]
    at_s: float = 0.0
    target: str
    fraction_per_day: float
    represents: str | None = None


class StuckSensor(_Strict):
    kind: Literal["stuck_sensor"]
    at_s: float
    series: str
    duration_s: float


class CommsLoss(_Strict):
    """Nothing from one plant (a key prefix such as ``glomfjord/smoltfarm``) reaches the wire."""

    kind: Literal["comms_loss"]
    at_s: float
    plant: str
    duration_s: float


class SetpointWrite(_Strict):
    kind: Literal["setpoint"]
    at_s: float
    setpoint: str
    value: float


Event = Annotated[Trip | PlannedStop | FoulingEvent | Decline | StuckSensor | CommsLoss
                  | SetpointWrite, Field(discriminator="kind")]


class Limit(_Strict):
    """A recipient's limits on one true (not measured) series."""

    asset: str
    series: str
    min: float | None = None
    max: float | None = None
    max_ramp_k_per_h: float | None = None
    note: str = ""


class SensorOverride(_Strict):
    period_s: float | None = None  # this instrument's own sample period
    noise_sd: float | None = None
    noise_fraction: float | None = None
    quantum: float | None = None
    dropout_probability: float | None = None
    spike_probability: float | None = None
    spike_size: float | None = None
    spike_flagged: bool | None = None


def _default_transports() -> dict[str, Transport]:
    """The smelters and Mo over OPC UA, the smolt farm over MQTT."""
    return {"glomfjord/smelter": "opcua", "glomfjord/smoltfarm": "mqtt", "mo": "opcua"}


class Scenario(_Strict):
    name: str
    description: str
    plant: str = "nordland"
    plant_overrides: dict[str, Any] = Field(default_factory=dict)
    start: datetime = datetime(2026, 1, 15, 0, 0, tzinfo=UTC)
    timezone: str = "Europe/Oslo"  # daily profiles follow the plants' local clock
    duration_s: float
    step_s: float = 1.0
    sample_period_s: float = 10.0
    transports: dict[str, Transport] = Field(default_factory=_default_transports)
    sensors: dict[str, SensorOverride] = Field(default_factory=dict)
    limits: list[Limit] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    path: Path | None = None

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("start must carry a UTC offset")
        return value.astimezone(UTC)

    @field_validator("sample_period_s")
    @classmethod
    def _whole_steps(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("sample_period_s must be positive")
        return value

    def transport_for(self, key: str) -> Transport:
        """The transport of the longest matching plant prefix; OPC UA when none matches."""
        best: tuple[int, Transport] = (-1, "opcua")
        for prefix, transport in self.transports.items():
            if (key == prefix or key.startswith(prefix + "/")) and len(prefix) > best[0]:
                best = (len(prefix), transport)
        return best[1]


def list_scenarios() -> list[str]:
    """Names of the shipped scenarios, sorted."""
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name, or any scenario file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIOS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise FileNotFoundError(
            f"no scenario {str(name_or_path)!r}; shipped ones: {', '.join(list_scenarios())}")
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a scenario is a mapping")
    return Scenario.model_validate({**raw, "path": path})
