"""Physical parameters of a simulated plant, loaded from ``simulators/plants/<name>.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

PLANTS_DIR = Path(__file__).parent / "plants"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GlomfjordParams(_Strict):
    furnace_heat_kw: float
    furnace_profile_amplitude: float
    primary_flow_m3_per_h: float
    primary_loop_volume_m3: float
    hx1_ua_clean_w_per_k: float
    secondary_flow_m3_per_h: float
    raw_water_c: float
    pipe_volume_m3: float
    tank_volume_m3: float
    tank_inflow_m3_per_h: float
    tank_setpoint_c: float
    tank_heat_loss_w_per_k: float
    ambient_c: float
    heater_setpoint_c: float
    heater_max_kw: float
    hm1_register_start_kwh: float = 48_213_000.0


class MoParams(_Strict):
    fluegas_heat_kw: float
    fluegas_profile_amplitude: float
    primary_flow_m3_per_h: float
    primary_loop_volume_m3: float
    hx2_ua_clean_w_per_k: float
    network_flow_m3_per_h: float
    network_volume_m3: float
    network_base_load_kw: float
    supply_min_c: float
    supply_max_c: float
    reserve_boiler_max_kw: float
    initial_return_c: float
    hx3_ua_clean_w_per_k: float
    hx3_primary_max_flow_m3_per_h: float
    hx3_secondary_setpoint_c: float
    greenhouse_loop_flow_m3_per_h: float
    greenhouse_heat_capacity_j_per_k: float
    greenhouse_loss_w_per_k: float
    greenhouse_emitter_w_per_k: float
    greenhouse_day_setpoint_c: float
    greenhouse_night_setpoint_c: float
    outdoor_mean_c: float
    outdoor_amplitude_k: float
    solar_peak_kw: float


class SensorParams(_Strict):
    noise_sd: float = 0.0
    noise_fraction: float = 0.0
    quantum: float = 0.0
    dropout_probability: float = 0.0
    spike_probability: float = 0.0
    spike_size: float = 0.0
    spike_flagged: bool = False


class PlantParams(_Strict):
    glomfjord: GlomfjordParams
    mo: MoParams
    sensors: dict[str, SensorParams]


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_plant(name: str, overrides: dict[str, Any] | None = None) -> PlantParams:
    path = PLANTS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no plant named {name!r} in {PLANTS_DIR}")
    raw = yaml.safe_load(path.read_text())
    return PlantParams.model_validate(deep_merge(raw, overrides or {}))
