"""What a contract settles and how it is metered: the cluster file's `metering_points` and
`settlement` of an exchange (issue 14).

A metering point belongs to one party of the exchange. Heat is measured either by a heat
meter's energy register or computed from a flow and a temperature pair; the flow and the
temperature pair are named in both cases, since the EN 1434 error of an hour depends on
the hour's actual flow and temperature difference. Cooling water and CO2 are metered the
same way by a volume or mass register or a flow series.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resource(StrEnum):
    HEAT = "heat"
    COOLING_WATER = "cooling_water"
    CO2 = "co2"


# The unit a resource is settled in, and the quantities its register and flow measure.
RESOURCE_UNIT: dict[Resource, str] = {Resource.HEAT: "kWh", Resource.COOLING_WATER: "m3",
                                      Resource.CO2: "t"}
REGISTER_QUANTITY: dict[Resource, str] = {Resource.HEAT: "energy",
                                          Resource.COOLING_WATER: "volume",
                                          Resource.CO2: "mass"}
FLOW_QUANTITY: dict[Resource, str] = {Resource.HEAT: "flow", Resource.COOLING_WATER: "flow",
                                      Resource.CO2: "mass_flow"}


class MeteringPoint(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    owner: str = Field(description="The party that owns the meter: supplier or recipient")
    resource: Resource = Resource.HEAT
    billing: bool = Field(False, description="The meter whose figure is settled; with one "
                          "meter per resource it is the billing meter anyway")
    register_series: str | None = Field(None, description="Cumulative series (kWh or MWh, m3, t) "
                                 "as the meter's calculator reports it")
    rollover_at: float | None = Field(None, gt=0, description="Register value at which it "
                                      "wraps to zero (1e8 for eight digits)")
    flow: str | None = Field(None, description="Volume flow (m3/h) or, for CO2, mass flow")
    temp_in: str | None = Field(None, description="Warmer side of the temperature pair")
    temp_out: str | None = Field(None, description="Colder side of the temperature pair")
    meter_class: Literal[1, 2, 3] = Field(2, description="EN 1434 / MID accuracy class")
    qp: float | None = Field(None, gt=0, description="Permanent flow, in the flow's unit")
    qi: float | None = Field(None, gt=0, description="Smallest rated flow")
    dtheta_min_k: float | None = Field(None, gt=0, description="Smallest rated ΔΘ")
    integration_step_s: float = Field(60.0, ge=1, le=900, description="Flow and "
                                      "temperatures are averaged over steps this long before "
                                      "ρ·V̇·cp·ΔT is integrated; at least the sampling "
                                      "period, since a step without readings is not covered")

    @model_validator(mode="after")
    def _measures_something(self) -> MeteringPoint:
        if self.register_series is None and self.flow is None:
            raise ValueError("give register_series or flow")
        if self.resource == Resource.HEAT:
            missing = [name for name in ("flow", "temp_in", "temp_out", "qp", "qi",
                                         "dtheta_min_k") if getattr(self, name) is None]
            if missing:
                raise ValueError(f"a heat meter needs {', '.join(missing)}: the EN 1434 error "
                                 "of an hour depends on its flow and temperature difference")
        elif self.temp_in is not None or self.temp_out is not None:
            raise ValueError(f"a {self.resource} meter has no temperature pair")
        if self.qp is not None and self.qi is not None and self.qi >= self.qp:
            raise ValueError("qi must be below qp")
        return self


SubstitutionMethodName = Literal["other_meter", "linear", "same_hour_last_week"]


class SubstitutionStep(_Strict):
    method: SubstitutionMethodName
    max_hours: int | None = Field(None, ge=1, le=168, description="linear: longest gap "
                                  "filled by interpolation")

    @model_validator(mode="after")
    def _hours_for_linear(self) -> SubstitutionStep:
        if self.method == "linear" and self.max_hours is None:
            raise ValueError("linear substitution needs max_hours")
        if self.method != "linear" and self.max_hours is not None:
            raise ValueError("max_hours applies to linear substitution only")
        return self


class SubstitutionRule(_Strict):
    """How a missing hour of the billing meter is filled, methods tried in order."""

    methods: list[SubstitutionStep] = Field(min_length=1)
    max_substituted_share: float = Field(0.25, gt=0, le=1, description="Of a month's hours "
                                         "per resource; past it hours stay missing (the German "
                                         "heating cost ordinance uses 25 %)")


class Availability(_Strict):
    min_in_band_share: float = Field(0.95, gt=0, le=1, description="Share of an hour's "
                                     "supply readings inside the band for it to count as "
                                     "available")
    exclude_maintenance: bool = Field(True, description="Announced maintenance hours do not "
                                      "count against availability")


class Settlement(_Strict):
    close_after_days: int = Field(5, ge=1, le=60, description="A month still open this many "
                                  "days after its end closes by itself")
    facilitator_access: bool = Field(False, description="The cluster facilitator may read "
                                     "this exchange's figures and statements")
    min_coverage: float = Field(0.9, gt=0, le=1, description="Share of an hour a computed "
                                "meter must cover for the hour to count as measured")
    availability: Availability = Field(default_factory=Availability)
    substitution: SubstitutionRule | None = Field(None, description="Version 1 of the rule, "
                                                  "as both parties signed it")
