"""The Nordland cluster wired together: Glomfjord (smelter → HX-1 → pipeline → smolt tank)
and Mo (flue gas → HX-2 → district heating → HX-3 → greenhouse).

``step(t_s, dt_s)`` advances every model by one fixed sim-time step, upstream first,
each reading its inputs from the state its upstream left at the end of this step.
``true_values()`` gives the physical value of every measured series: what the sensors
then sample and what the ground truth judges limits by.
"""

from __future__ import annotations

from heatlink.water import heat_power_w
from simulators.catalog import TANK1
from simulators.params import PlantParams
from simulators.physics import (
    BackupHeater,
    DistrictHeating,
    ExchangerState,
    FishTank,
    Fouling,
    Greenhouse,
    HeatSource,
    MixingValve,
    Pipe,
    SourceLoop,
    SupplyTempController,
    TankInputs,
    counterflow,
    mixed_temp_c,
)
from simulators.physics.source import SECONDS_PER_DAY

FURNACE = "glomfjord/smelter/furnace"
FLUEGAS = "mo/smelter/fluegas"
HX1 = "glomfjord/smelter/hx1"
HX2 = "mo/smelter/hx2"
HX3 = "mo/fjernvarme/hx3"


class NordlandPlant:
    def __init__(self, params: PlantParams, start_day_s: float = 0.0) -> None:
        g, m = params.glomfjord, params.mo
        self.params = params
        self.start_day_s = start_day_s  # sim start's seconds since local midnight (UTC here)
        self.sources = {
            FURNACE: HeatSource(g.furnace_heat_kw * 1e3, g.furnace_profile_amplitude),
            FLUEGAS: HeatSource(m.fluegas_heat_kw * 1e3, m.fluegas_profile_amplitude),
        }
        self.fouling = {HX1: Fouling(), HX2: Fouling(), HX3: Fouling()}
        self.ua_clean_w_per_k = {HX1: g.hx1_ua_clean_w_per_k, HX2: m.hx2_ua_clean_w_per_k,
                                 HX3: m.hx3_ua_clean_w_per_k}
        # Glomfjord
        self.loop1 = SourceLoop(g.primary_loop_volume_m3, g.primary_flow_m3_per_h, 30.0,
                                g.hx1_ua_clean_w_per_k)
        self.loop1.settle(self.sources[FURNACE].power_w(start_day_s), g.raw_water_c,
                          g.secondary_flow_m3_per_h)
        self.hx1 = counterflow(self.loop1.supply_c, g.primary_flow_m3_per_h, g.raw_water_c,
                               g.secondary_flow_m3_per_h, g.hx1_ua_clean_w_per_k)
        self.pipe1 = Pipe(g.pipe_volume_m3, self.hx1.cold_out_c)
        self.warm_at_tank_c = self.hx1.cold_out_c
        # HM-1's register: the integral of the secondary side's heat power, eight digits.
        self.hm1_register_kwh = g.hm1_register_start_kwh
        self.valve = MixingValve(g.tank_setpoint_c)
        self.valve.initialise(self.warm_at_tank_c, g.raw_water_c)
        self.heater = BackupHeater(g.heater_setpoint_c, g.heater_max_kw * 1e3)
        self.tank = FishTank(g.tank_volume_m3, g.tank_setpoint_c, g.tank_heat_loss_w_per_k)
        self.tank_rate_k_per_h = 0.0
        # Mo
        self.loop2 = SourceLoop(m.primary_loop_volume_m3, m.primary_flow_m3_per_h, 100.0,
                                m.hx2_ua_clean_w_per_k)
        self.loop2.settle(self.sources[FLUEGAS].power_w(start_day_s), m.initial_return_c,
                          m.network_flow_m3_per_h)
        self.hx2 = counterflow(self.loop2.supply_c, m.primary_flow_m3_per_h, m.initial_return_c,
                               m.network_flow_m3_per_h, m.hx2_ua_clean_w_per_k)
        self.network = DistrictHeating(
            m.network_volume_m3, m.network_flow_m3_per_h, m.network_base_load_kw * 1e3,
            m.supply_min_c, m.supply_max_c, m.reserve_boiler_max_kw * 1e3, m.initial_return_c,
            supply_c=min(max(self.hx2.cold_out_c, m.supply_min_c), m.supply_max_c))
        self.greenhouse = Greenhouse(
            m.greenhouse_day_setpoint_c, m.greenhouse_heat_capacity_j_per_k,
            m.greenhouse_loss_w_per_k, m.greenhouse_emitter_w_per_k,
            m.greenhouse_loop_flow_m3_per_h, m.greenhouse_day_setpoint_c,
            m.greenhouse_night_setpoint_c, m.outdoor_mean_c, m.outdoor_amplitude_k,
            m.solar_peak_kw * 1e3)
        self.substation = SupplyTempController(
            m.hx3_secondary_setpoint_c, m.hx3_primary_max_flow_m3_per_h,
            m.hx3_primary_max_flow_m3_per_h * 0.05, m.hx3_primary_max_flow_m3_per_h / 2)
        self.hx3 = ExchangerState(self.network.supply_c, self.greenhouse.loop_return_c, 0.0, 0.0)
        self.t_s = 0.0

    def warm_up(self, duration_s: float, dt_s: float) -> None:
        """Run the hours before the start so that controllers, the network and the
        greenhouse begin in the state the day has brought them to, not in a guess."""
        steps = round(duration_s / dt_s)
        for k in range(steps):
            self.step(-duration_s + k * dt_s, dt_s)
        self.t_s = 0.0

    def ua_w_per_k(self, exchanger: str, t_s: float) -> float:
        return self.ua_clean_w_per_k[exchanger] * self.fouling[exchanger].ua_fraction(t_s)

    def day_s(self, t_s: float) -> float:
        return (self.start_day_s + t_s) % SECONDS_PER_DAY

    def step(self, t_s: float, dt_s: float) -> None:
        g, m = self.params.glomfjord, self.params.mo
        end_s = t_s + dt_s
        day_s = self.day_s(end_s)
        for source in self.sources.values():
            source.step(t_s, dt_s)
        # Glomfjord: smelter loop and HX-1, pipeline, mixing valve, tank.
        self.hx1 = self.loop1.step(self.sources[FURNACE].power_w(day_s), g.raw_water_c,
                                   g.secondary_flow_m3_per_h, self.ua_w_per_k(HX1, end_s), dt_s)
        self.warm_at_tank_c = self.pipe1.push(self.hx1.cold_out_c, g.secondary_flow_m3_per_h,
                                              dt_s)
        delivered_w = heat_power_w(g.secondary_flow_m3_per_h, self.hx1.cold_out_c, g.raw_water_c)
        self.hm1_register_kwh = (self.hm1_register_kwh + delivered_w * dt_s / 3.6e6) % 1e8
        share = self.valve.step(self.tank.temp_c, dt_s)
        heater_w = self.heater.step(self.tank.temp_c, dt_s)
        before_c = self.tank.temp_c
        self.tank.step(TankInputs(g.tank_inflow_m3_per_h,
                                  mixed_temp_c(self.warm_at_tank_c, g.raw_water_c, share),
                                  heater_w, g.ambient_c), dt_s)
        self.tank_rate_k_per_h = (self.tank.temp_c - before_c) / dt_s * 3600.0
        # Mo: flue-gas loop and HX-2 into the network, HX-3 out of it to the greenhouse.
        self.hx2 = self.loop2.step(self.sources[FLUEGAS].power_w(day_s), self.network.return_c,
                                   m.network_flow_m3_per_h, self.ua_w_per_k(HX2, end_s), dt_s)
        loop_flow_m3_per_h = self.greenhouse.set_loop_flow(day_s, dt_s)
        self.hx3 = counterflow(self.network.supply_c, self.substation.flow_m3_per_h,
                               self.greenhouse.loop_return_c, loop_flow_m3_per_h,
                               self.ua_w_per_k(HX3, end_s))
        self.substation.step(self.hx3.cold_out_c, dt_s)
        self.greenhouse.step(self.hx3.cold_out_c, day_s, dt_s)
        self.network.step(self.hx2.cold_out_c, day_s, dt_s, extra_load_w=self.hx3.power_w)
        self.t_s = end_s

    def true_values(self) -> dict[str, float]:
        g, m = self.params.glomfjord, self.params.mo
        day_s = self.day_s(self.t_s)
        gh = self.greenhouse
        return {
            "glomfjord/smelter/furnace/heat_output": self.sources[FURNACE].power_w(day_s) / 1e3,
            "glomfjord/smelter/furnace/load": self.sources[FURNACE].load_percent,
            f"{HX1}/primary/supply_temp": self.loop1.supply_c,
            f"{HX1}/primary/return_temp": self.hx1.hot_out_c,
            f"{HX1}/primary/flow": g.primary_flow_m3_per_h,
            f"{HX1}/secondary/supply_temp": self.hx1.cold_out_c,
            f"{HX1}/secondary/return_temp": g.raw_water_c,
            f"{HX1}/secondary/flow": g.secondary_flow_m3_per_h,
            f"{HX1}/secondary/energy": self.hm1_register_kwh,
            f"{TANK1}/hm/flow": g.secondary_flow_m3_per_h,
            f"{TANK1}/hm/supply_temp": self.warm_at_tank_c,
            f"{TANK1}/hm/return_temp": g.raw_water_c,
            f"{TANK1}/temp": self.tank.temp_c,
            f"{TANK1}/inflow": g.tank_inflow_m3_per_h,
            f"{TANK1}/mixing_valve": self.valve.position * 100.0,
            f"{TANK1}/heater_power": self.heater.power_w / 1e3,
            "mo/smelter/fluegas/heat_output": self.sources[FLUEGAS].power_w(day_s) / 1e3,
            f"{HX2}/primary/supply_temp": self.loop2.supply_c,
            f"{HX2}/primary/return_temp": self.hx2.hot_out_c,
            f"{HX2}/primary/flow": m.primary_flow_m3_per_h,
            f"{HX2}/secondary/supply_temp": self.hx2.cold_out_c,
            f"{HX2}/secondary/return_temp": self.network.return_c,
            f"{HX2}/secondary/flow": m.network_flow_m3_per_h,
            "mo/fjernvarme/network/supply_temp": self.network.supply_c,
            "mo/fjernvarme/network/return_temp": self.network.return_c,
            "mo/fjernvarme/network/flow": m.network_flow_m3_per_h,
            f"{HX3}/primary/supply_temp": self.network.supply_c,
            f"{HX3}/primary/return_temp": self.hx3.hot_out_c,
            f"{HX3}/primary/flow": self.substation.flow_m3_per_h,
            f"{HX3}/secondary/supply_temp": self.hx3.cold_out_c,
            f"{HX3}/secondary/return_temp": gh.loop_return_c,
            f"{HX3}/secondary/flow": gh.loop_flow_m3_per_h,
            "mo/greenhouse/house1/air_temp": gh.air_c,
        }

    def setpoints(self) -> dict[str, float]:
        return {
            f"{TANK1}/mixing_valve_setpoint": self.valve.position * 100.0,
            f"{TANK1}/temp_setpoint": self.valve.temp_setpoint_c,
            f"{TANK1}/heater_setpoint": self.heater.setpoint_c,
        }

    def write_setpoint(self, key: str, value: float) -> None:
        match key.removeprefix(TANK1 + "/"):
            case "mixing_valve_setpoint":
                self.valve.set_position(value / 100.0)
            case "temp_setpoint":
                self.valve.set_temp_setpoint(value)
            case "heater_setpoint":
                self.heater.setpoint_c = value
            case _:
                raise KeyError(f"no writable setpoint {key!r}")
