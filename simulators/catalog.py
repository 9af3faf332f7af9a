"""What the simulated Nordland cluster measures and what can be written to it.

The series keys and ranges match heatlink/cluster/examples/nordland.yaml (a test keeps
them in step); the simulator does not read that file so it runs without the service.
Convention on exchangers: primary supply is the hot water entering, primary return the
water leaving; secondary supply is the warmed water leaving towards the recipient,
secondary return the cooler water coming back into the exchanger.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    key: str
    quantity: str  # temperature | flow | power | position (a valve, a load) | energy
    unit: str  # as in the cluster file: degC, m3/h, kW, %
    low: float
    high: float
    description: str = ""

    @property
    def asset(self) -> str:
        return asset_of(self.key)

    @property
    def plant(self) -> str:
        """Site and company part of the key, e.g. ``glomfjord/smelter``."""
        return "/".join(self.key.split("/")[:2])


def _hx(prefix: str) -> list[SeriesInfo]:
    return [
        SeriesInfo(f"{prefix}/primary/supply_temp", "temperature", "degC", -5, 130,
                   "primary side, hot water entering"),
        SeriesInfo(f"{prefix}/primary/return_temp", "temperature", "degC", -5, 130,
                   "primary side, water leaving"),
        SeriesInfo(f"{prefix}/primary/flow", "flow", "m3/h", 0, 5000),
        SeriesInfo(f"{prefix}/secondary/supply_temp", "temperature", "degC", -5, 130,
                   "secondary side, warmed water leaving towards the recipient"),
        SeriesInfo(f"{prefix}/secondary/return_temp", "temperature", "degC", -5, 130,
                   "secondary side, water coming back into the exchanger"),
        SeriesInfo(f"{prefix}/secondary/flow", "flow", "m3/h", 0, 5000),
    ]


SERIES: tuple[SeriesInfo, ...] = (
    SeriesInfo("glomfjord/smelter/furnace/heat_output", "power", "kW", 0, 60000),
    SeriesInfo("glomfjord/smelter/furnace/load", "position", "%", 0, 110,
               "the furnace's power setpoint in % of rated; its cooling loop's heat follows it"),
    *_hx("glomfjord/smelter/hx1"),
    SeriesInfo("glomfjord/smelter/hx1/secondary/energy", "energy", "kWh", 0, 100000000,
               "energy register of the smelter's heat meter HM-1"),
    SeriesInfo("glomfjord/smoltfarm/tank1/hm/flow", "flow", "m3/h", 0, 1000,
               "flow of the farm's heat meter HM-2"),
    SeriesInfo("glomfjord/smoltfarm/tank1/hm/supply_temp", "temperature", "degC", -5, 130,
               "HM-2, warm water arriving from the smelter"),
    SeriesInfo("glomfjord/smoltfarm/tank1/hm/return_temp", "temperature", "degC", -5, 130,
               "HM-2, raw-water temperature the heat is counted against"),
    SeriesInfo("glomfjord/smoltfarm/tank1/temp", "temperature", "degC", -2, 35),
    SeriesInfo("glomfjord/smoltfarm/tank1/inflow", "flow", "m3/h", 0, 1000),
    SeriesInfo("glomfjord/smoltfarm/tank1/mixing_valve", "position", "%", 0, 100,
               "share of warm water in the tank's inflow"),
    SeriesInfo("glomfjord/smoltfarm/tank1/heater_power", "power", "kW", 0, 2000,
               "backup heater B-2"),
    SeriesInfo("mo/smelter/fluegas/heat_output", "power", "kW", 0, 60000),
    *_hx("mo/smelter/hx2"),
    SeriesInfo("mo/fjernvarme/network/supply_temp", "temperature", "degC", -5, 130),
    SeriesInfo("mo/fjernvarme/network/return_temp", "temperature", "degC", -5, 130),
    SeriesInfo("mo/fjernvarme/network/flow", "flow", "m3/h", 0, 5000),
    *_hx("mo/fjernvarme/hx3"),
    SeriesInfo("mo/greenhouse/house1/air_temp", "temperature", "degC", -30, 50),
)

SERIES_BY_KEY: dict[str, SeriesInfo] = {s.key: s for s in SERIES}


@dataclass(frozen=True, slots=True)
class SetpointInfo:
    key: str
    unit: str
    low: float
    high: float
    description: str


TANK1 = "glomfjord/smoltfarm/tank1"
SETPOINTS: tuple[SetpointInfo, ...] = (
    SetpointInfo(f"{TANK1}/mixing_valve_setpoint", "%", 0, 100,
                 "manual position of the mixing valve; writing it puts the valve in manual"),
    SetpointInfo(f"{TANK1}/temp_setpoint", "degC", 0, 20,
                 "tank temperature the mixing valve holds; writing it puts the valve in auto"),
    SetpointInfo(f"{TANK1}/heater_setpoint", "degC", 0, 20,
                 "backup heater B-2 heats below this tank temperature"),
)
SETPOINTS_BY_KEY: dict[str, SetpointInfo] = {s.key: s for s in SETPOINTS}


def asset_of(key: str) -> str:
    """The asset id of a series key: its first three path parts."""
    return "/".join(key.split("/")[:3])
