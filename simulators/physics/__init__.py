"""Pure, deterministic physics of a heat-exchange cluster; no I/O, no clock.

Every model advances on a fixed sim-time step given by its caller.
"""

from simulators.physics.controls import (
    BackupHeater,
    MixingValve,
    SupplyTempController,
    mixed_temp_c,
)
from simulators.physics.exchanger import (
    ExchangerState,
    Fouling,
    counterflow,
    counterflow_effectiveness,
    lmtd_k,
)
from simulators.physics.loop import SourceLoop
from simulators.physics.network import DistrictHeating, Greenhouse, outdoor_temp_c
from simulators.physics.pipe import Pipe
from simulators.physics.sensors import Sample, Sensor, SensorSpec
from simulators.physics.source import HeatSource, SourceMode, daily_profile
from simulators.physics.tank import FishTank, TankInputs, analytic_cooling_c, time_to_limit_s

__all__ = [
    "BackupHeater",
    "DistrictHeating",
    "ExchangerState",
    "FishTank",
    "Fouling",
    "Greenhouse",
    "HeatSource",
    "MixingValve",
    "Pipe",
    "Sample",
    "Sensor",
    "SensorSpec",
    "SourceLoop",
    "SourceMode",
    "SupplyTempController",
    "TankInputs",
    "analytic_cooling_c",
    "counterflow",
    "counterflow_effectiveness",
    "daily_profile",
    "lmtd_k",
    "mixed_temp_c",
    "outdoor_temp_c",
    "time_to_limit_s",
]
